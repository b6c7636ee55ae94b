"""Fixtures for the fault, abuse and secrets suites (``tests/test_faults*``, ``test_abuse*``,
``test_secrets*``).

- ``secrets_guard``: every secret the test's simulators issued (login cookie values,
  refreshed ``_m_h5_tk``, IM access tokens) is collected, and after the test none of them
  may appear in what the test produced: every structlog line (structlog's own defaults,
  without the service's redaction, written to a sink), every stdlib log record at DEBUG,
  and any text the test hands over (a subprocess's log, CLI output). Modules opt in with
  ``pytestmark = pytest.mark.usefixtures("secrets_guard")``.
- ``start_service(**settings)``: a real in-process ``Service`` (SQLite, IO loop, supervisor,
  control socket) against ``sim`` with tiny timings, its data dirs in ``short_dir``;
  ``service``: one started, with ``seller`` online as the echo account ``shop``.
- ``row``, ``wait_state``, ``event_kinds``, ``add_echo_account``: an account through a
  ``SupervisorClient`` (the supervisor suites use them too, with ``FAULT_TIMINGS``, ``BUYER``).
- ``Chat``: the buyer side of one seller: push texts, wait until each is answered, and
  check the simulator's ``sent`` holds exactly one reply per buyer message.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import structlog

from actors.testing import TINY_TIMINGS, FreezableAccountActor
from common.settings import Backoff, Settings, Timings
from service.app import Service
from simulator.admin import AdminClient
from simulator.server import Simulator, SimulatorHandle
from supervisor import SupervisorClient
from tests.plugins.simulator import Seller
from tests.plugins.timing import scaled_timings, wait_for

BUYER = "880001"
ECHO = "auto: "
# stretched by XIANYU_TEST_TIME_SCALE (tests/plugins/timing.py) like every duration of the suite
FAULT_TIMINGS = scaled_timings(
    replace(
        TINY_TIMINGS,
        probation_s=2.0,
        stop_timeout_s=0.5,
        restart_backoff=Backoff(base_s=0.02, cap_s=0.1),
        restart_intensity=3,
        restart_window_s=30.0,
    )
)
# libraries the service keeps at WARNING (service/logging.py): websockets narrates every
# frame and handshake header at DEBUG, which no service configuration ever shows
QUIET_AS_IN_SERVICE = {
    "websockets": logging.WARNING,
    "aiohttp.access": logging.WARNING,
    "asyncio": logging.WARNING,
    "apprise": logging.WARNING,
    "urllib3": logging.WARNING,
}
# a secret shorter than this could match by accident (the simulator's are 16+ characters)
MIN_SECRET_LEN = 8


# --- secrets ----------------------------------------------------------------------------


def cookie_secrets(cookie: str) -> set[str]:
    """The values of a cookie that identify a login (everything but the public ``unb``)."""
    values = set()
    for pair in cookie.split(";"):
        name, _, value = pair.strip().partition("=")
        if name != "unb" and len(value) >= MIN_SECRET_LEN:
            values.add(value)
            # the signing token alone (before ``_<ms>``) is as secret as the whole value
            if name == "_m_h5_tk":
                values.add(value.split("_")[0])
    return values


def world_secrets(handle: SimulatorHandle) -> set[str]:
    """Every login, signing token and IM token the simulator handed out."""
    world = handle.simulator.world
    values = set(world.sessions)
    for tk in list(world.mtop_tks):
        values.update({tk, tk.split("_")[0]})
    values.update(world.tokens)
    values.update(handle.simulator.sessions.long_logins)  # long-login tokens (passport)
    return {v for v in values if len(v) >= MIN_SECRET_LEN}


class _Sink:
    """Where structlog writes during a guarded test: never closed, so a thread that logs
    after the test (a generation still stopping) cannot race a closing capture file."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._parts: list[str] = []

    def write(self, text: str) -> int:
        with self._lock:
            self._parts.append(text)
        return len(text)

    def flush(self) -> None:
        pass

    def text(self) -> str:
        with self._lock:
            return "".join(self._parts)


class _Records(logging.Handler):
    """Every stdlib record at DEBUG: its message and its exception's text."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        # the exception's repr, not a formatted traceback: walking the frames of a
        # generation that another thread is tearing down is not safe on CPython 3.11
        error = repr(record.exc_info[1]) if record.exc_info else ""
        self.lines.append(f"{record.name} {record.levelname} {record.getMessage()} {error}")


class SecretsGuard:
    """Collects secrets and output during one test; ``leaks()`` lists what leaked where."""

    def __init__(self) -> None:
        self._texts: list[tuple[str, str]] = []
        self.sink = _Sink()
        self._records = _Records()
        self._handles: list[SimulatorHandle] = []
        self.secrets: set[str] = set()

    def add_cookie(self, cookie: str) -> None:
        self.secrets.update(cookie_secrets(cookie))

    def add_text(self, where: str, text: str) -> None:
        """Output the test saw by other means (a subprocess log, a CLI's captured output)."""
        self._texts.append((where, text))

    def log_text(self) -> str:
        """Every structlog line and stdlib record of the test so far."""
        return self.sink.text() + "\n".join(self._records.lines)

    def leaks(self) -> list[str]:
        for handle in self._handles:
            self.secrets.update(world_secrets(handle))
        texts = [*self._texts, ("log", self.log_text())]
        found = []
        for where, text in texts:
            for secret in self.secrets:
                if secret in text:
                    line = next(ln for ln in text.splitlines() if secret in ln)
                    found.append(f"{where}: {line.replace(secret, '<SECRET>')[:300]}")
        return found


@pytest.fixture
def secrets_guard(monkeypatch: pytest.MonkeyPatch) -> Iterator[SecretsGuard]:
    guard = SecretsGuard()
    create_user = AdminClient.create_user
    start_in_thread = Simulator.start_in_thread

    def recording_create_user(self: AdminClient, *args: Any, **kwargs: Any) -> dict[str, str]:
        answer = create_user(self, *args, **kwargs)
        guard.add_cookie(answer["cookie"])
        return answer

    def recording_start(self: Simulator, *args: Any, **kwargs: Any) -> SimulatorHandle:
        handle = start_in_thread(self, *args, **kwargs)
        guard._handles.append(handle)
        return handle

    monkeypatch.setattr(AdminClient, "create_user", recording_create_user)
    monkeypatch.setattr(Simulator, "start_in_thread", recording_start)
    # structlog's defaults (no redaction), printing into the sink
    structlog_config = structlog.get_config()
    structlog.reset_defaults()
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(guard.sink))
    root = logging.getLogger()
    levels = {name: logging.getLogger(name).level for name in ("", *QUIET_AS_IN_SERVICE)}
    root.addHandler(guard._records)
    root.setLevel(logging.DEBUG)
    for name, level in QUIET_AS_IN_SERVICE.items():
        logging.getLogger(name).setLevel(level)
    try:
        yield guard
    finally:
        root.removeHandler(guard._records)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
        structlog.configure(**structlog_config)
    leaks = guard.leaks()
    assert not leaks, "secret values in the output:\n" + "\n".join(leaks)


# --- the service ------------------------------------------------------------------------


@pytest.fixture
def start_service(sim: SimulatorHandle, short_dir: Path) -> Iterator[Callable[..., Service]]:
    started: list[Service] = []

    def start(timings: Timings = FAULT_TIMINGS, **settings: Any) -> Service:
        values: dict[str, Any] = {
            "data_dir": short_dir / f"svc{len(started)}",
            "ws_url": sim.ws_url,
            "api_url": sim.api_url,
            "passport_url": sim.passport_url,  # never the real login host from a test
            "timings": timings,
            **settings,
        }
        # FreezableAccountActor: the supervision tests freeze a child to demo timeout-kill
        service = Service(Settings(**values), actor_class=FreezableAccountActor).start()
        started.append(service)
        return service

    yield start
    for service in reversed(started):
        service.stop()


@pytest.fixture
def service(start_service: Callable[..., Service], seller: Seller) -> Service:
    service = start_service()
    add_echo_account(service.client, "shop", seller)
    return service


def row(client: SupervisorClient, account_id: str) -> dict[str, Any]:
    return client.status(account_id)["accounts"][0]


def wait_state(
    client: SupervisorClient, account_id: str, state: str, *, timeout: float = 10.0
) -> dict[str, Any]:
    return wait_for(
        lambda: (r := row(client, account_id))["state"] == state and r,
        timeout=timeout,
        what=f"{account_id} {state}",
    )


def add_echo_account(
    client: SupervisorClient, account_id: str, seller: Seller, *, online: bool = True
) -> None:
    """An account that answers every buyer message with ``auto: <text>``."""
    client.add(account_id, seller.cookie, enabled=False)
    client.set_rules(account_id, [], {"text": ECHO + "{text}", "once_per_chat": False})
    client.enable(account_id)
    if online:
        wait_state(client, account_id, "online")


def event_kinds(client: SupervisorClient, account_id: str) -> list[str]:
    return [e["kind"] for e in client.events(account_id)["events"]]


class Chat:
    """Buyer messages to one seller, and the replies the simulator saw the seller send."""

    def __init__(self, sim: SimulatorHandle, seller: Seller, buyer: str = BUYER) -> None:
        self.sim = sim
        self.seller = seller
        self.buyer = buyer
        self.pushed: list[str] = []

    def push(self, text: str) -> None:
        self.sim.admin.push(to=self.seller.user_id, from_=self.buyer, text=text)
        self.pushed.append(text)

    def replies(self) -> list[str]:
        return [m["text"] for m in self.sim.admin.sent(self.seller.user_id)]

    def all_answered(self) -> bool:
        sent = set(self.replies())
        return all(ECHO + text in sent for text in self.pushed)

    def wait_answered(self, *, timeout: float = 10.0) -> None:
        wait_for(self.all_answered, timeout=timeout, what=f"answers to {self.pushed}")

    def assert_each_answered_once(self) -> None:
        counts = Counter(self.replies())
        expected = Counter(ECHO + text for text in self.pushed)
        assert counts == expected, f"replies {dict(counts)} != one per message {dict(expected)}"
