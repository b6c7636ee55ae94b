"""Scaffolding shared by the scripts: clean-up on any exit, and a fleet of accounts online."""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TypeVar

import structlog

from harness.service import ControlClient, ServiceProcess, wait_all_online
from harness.sim import KEYWORD, REPLY_TEXT, SimRig

_ONLINE_TIMEOUT_S = 180.0

Args = TypeVar("Args")


def account_name(index: int) -> str:
    return f"bench-{index:04d}"


def _sigterm_as_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def quiet_logs() -> None:
    """The in-process simulator logs through structlog: warnings only, and to stderr, so
    stdout stays the summary plus the final JSON line (and per-frame logging costs no CPU)."""
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
    )
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)


def main_guard(body: Callable[[contextlib.ExitStack, Path], int]) -> int:
    """Run ``body(stack, tmp_dir)``; whatever happens, close the stack (subprocesses, the
    simulator) and delete the temp dir. SIGTERM is handled like Ctrl-C."""
    signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    quiet_logs()
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="xianyu-bench-")))
        try:
            return body(stack, tmp)
        except KeyboardInterrupt:
            print("interrupted; cleaning up", file=sys.stderr)
            return 130
    return 1  # pragma: no cover  (ExitStack does not swallow exceptions)


def script_main(
    parse: Callable[[list[str]], Args],
    run: Callable[[Args, contextlib.ExitStack, Path], int],
    argv: Sequence[str] | None = None,
) -> int:
    """A script's ``main``: ``parse`` the command line (or ``argv``), then ``run`` it under
    ``main_guard``."""
    args = parse(sys.argv[1:] if argv is None else list(argv))
    return main_guard(lambda stack, tmp: run(args, stack, tmp))


def start_rig(stack: contextlib.ExitStack, **knobs: object) -> SimRig:
    rig = SimRig(**knobs)
    stack.callback(rig.stop)
    return rig


def start_service(
    stack: contextlib.ExitStack, rig: SimRig, data_dir: Path, **kwargs: object
) -> ServiceProcess:
    urls = {"ws_url": rig.ws_url, "api_url": rig.api_url, "passport_url": rig.passport_url}
    service = ServiceProcess(data_dir, **urls, **kwargs)  # type: ignore[arg-type]
    stack.callback(service.stop)
    service.start()
    return service


@dataclass
class Fleet:
    """N accounts: account name → seller id, all with the keyword rule."""

    sellers: dict[str, str]

    @property
    def seller_ids(self) -> list[str]:
        return list(self.sellers.values())


def add_fleet(rig: SimRig, client: ControlClient, count: int) -> tuple[Fleet, float]:
    """Create ``count`` sellers in the simulator, add each to the service with the keyword
    rule; returns the fleet and how long the adds took (seconds)."""
    sellers: dict[str, str] = {}
    started = time.perf_counter()
    for index in range(count):
        name = account_name(index)
        seller_id, cookie = rig.new_seller()
        client.call("add", account=name, cookie=cookie)
        client.call(
            "set_rules",
            account=name,
            rules=[{"keyword": KEYWORD, "reply": REPLY_TEXT, "item_id": None}],
        )
        sellers[name] = seller_id
    return Fleet(sellers), time.perf_counter() - started


def require_online(client: ControlClient, count: int, service: ServiceProcess) -> float:
    """Wait for ``count`` accounts online; the perf_counter then, or fail naming the log."""
    at = wait_all_online(client, count, timeout_s=_ONLINE_TIMEOUT_S)
    if at is None:
        raise TimeoutError(
            f"not all {count} accounts online after {_ONLINE_TIMEOUT_S}s; {service.log_tail()}"
        )
    return at


def start_fleet(
    stack: contextlib.ExitStack, rig: SimRig, data_dir: Path, count: int, **kwargs: object
) -> tuple[ServiceProcess, Fleet, float]:
    """A service on ``data_dir`` (``kwargs`` as for ``start_service``) with ``count`` accounts
    added and online; returns it, the fleet and how long the adds took (seconds)."""
    service = start_service(stack, rig, data_dir, **kwargs)
    with phase(f"adding {count} accounts"), contextlib.closing(service.client()) as client:
        fleet, add_s = add_fleet(rig, client, count)
        require_online(client, count, service)
    return service, fleet, add_s


def start_online(
    stack: contextlib.ExitStack,
    rig: SimRig,
    data_dir: Path,
    count: int,
    *,
    name: str,
    **kwargs: object,
) -> tuple[ServiceProcess, float]:
    """Start a service on a data dir that already holds ``count`` accounts (phase ``name``;
    ``kwargs`` as for ``start_service``); returns it once all are online, and ``online_s``:
    from its spawn to that moment."""
    with phase(name):
        service = start_service(stack, rig, data_dir, **kwargs)
        with contextlib.closing(service.client()) as client:
            online_at = require_online(client, count, service)
    return service, online_at - service.started_at


@contextlib.contextmanager
def phase(name: str) -> Iterator[None]:
    """Say what the bench is doing (stderr, so stdout stays the summary and the JSON line)."""
    started = time.perf_counter()
    print(f"[bench] {name} ...", file=sys.stderr, flush=True)
    yield
    print(f"[bench] {name}: {time.perf_counter() - started:.1f}s", file=sys.stderr, flush=True)
