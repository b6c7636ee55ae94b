"""The service under test as a subprocess, and a small client of its control socket.

The service runs as ``python run.py serve`` (``bench/harness/serve_naive.py`` when
``XIANYU_SWAP_STRATEGY=naive``) in its own process so that ``rss_mb``,
``threads`` and CPU are measured (psutil) on the service alone. Its output goes to
``<data dir>/service.log``; that log never holds cookie values (the service promises so).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import psutil

REPO = Path(__file__).resolve().parents[2]
_SOCKET_WAIT_S = 60.0
_STOP_WAIT_S = 15.0
_CALL_TIMEOUT_S = 120.0
_POLL_S = 0.05


class ControlFailed(Exception):
    """Raised when the service answers a control request with ``ok: false``."""

    def __init__(self, cmd: str, code: str, message: str) -> None:
        super().__init__(f"{cmd}: {code}: {message}")
        self.code = code


class ControlClient:
    """One connection to ``control.sock``; JSON lines, one request at a time (thread-safe)."""

    def __init__(self, path: Path, *, timeout_s: float = _CALL_TIMEOUT_S) -> None:
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.settimeout(timeout_s)
        self._sock.connect(str(path))
        self._reader = self._sock.makefile("rb")
        self._ids = 0
        self._lock = threading.Lock()

    def call(self, cmd: str, **args: Any) -> dict[str, Any]:
        with self._lock:
            self._ids += 1
            line = json.dumps({"id": self._ids, "cmd": cmd, **args}) + "\n"
            self._sock.sendall(line.encode("utf-8"))
            raw = self._reader.readline()
        if not raw:
            raise ConnectionError(f"control socket closed while waiting for {cmd!r}")
        answer = json.loads(raw)
        if not answer.get("ok"):
            error = answer.get("error") or {}
            raise ControlFailed(cmd, str(error.get("code")), str(error.get("message")))
        return answer.get("result") or {}

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._reader.close()
            self._sock.close()


def _entry_point(strategy: str) -> list[str]:
    """How to start the service for a swap strategy (``XIANYU_SWAP_STRATEGY``): ours is the
    production ``run.py serve``; "naive" is the bench's re-creation of the original restart."""
    if strategy == "supervised":
        return [str(REPO / "run.py"), "serve"]
    if strategy == "naive":
        return [str(REPO / "bench" / "harness" / "serve_naive.py")]
    raise ValueError(
        f"XIANYU_SWAP_STRATEGY={strategy!r} is not a strategy; use 'supervised' or 'naive'"
    )


class ServiceProcess:
    """``python run.py serve`` on a data dir, pointed at the simulator."""

    def __init__(
        self,
        data_dir: Path,
        *,
        ws_url: str,
        api_url: str,
        passport_url: str | None = None,
        extra_args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.data_dir = data_dir
        self._env = {**os.environ, **(env or {})}
        self._args = [
            sys.executable,
            *_entry_point(self._env.get("XIANYU_SWAP_STRATEGY") or "supervised"),
            "--data-dir",
            str(data_dir),
            "--ws-url",
            ws_url,
            "--api-url",
            api_url,
            "--log-format",
            "json",
            # no web page unless a bench asks for one (``extra_args`` come later and win)
            *("--web", "off"),
            # never the real login host from a benchmark
            *(("--passport-url", passport_url) if passport_url else ()),
            *extra_args,
        ]
        self.popen: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0

    @property
    def socket_path(self) -> Path:
        return self.data_dir / "control.sock"

    @property
    def db_path(self) -> Path:
        return self.data_dir / "xianyu.db"

    @property
    def process(self) -> psutil.Process:
        assert self.popen is not None
        return psutil.Process(self.popen.pid)

    def start(self) -> float:
        """Spawn it and wait until the control socket answers; returns the spawn time."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()  # left behind by a SIGKILLed run
        log = (self.data_dir / "service.log").open("ab")
        self.started_at = time.perf_counter()
        self.popen = subprocess.Popen(
            self._args, stdout=log, stderr=subprocess.STDOUT, env=self._env, cwd=REPO
        )
        log.close()
        self._wait_for_socket()
        return self.started_at

    def _wait_for_socket(self) -> None:
        deadline = time.monotonic() + _SOCKET_WAIT_S
        while time.monotonic() < deadline:
            if self.popen is not None and self.popen.poll() is not None:
                code = self.popen.returncode
                raise RuntimeError(f"service exited with {code}; {self.log_tail()}")
            with contextlib.suppress(OSError):
                client = ControlClient(self.socket_path, timeout_s=5.0)
                try:
                    client.call("ping")
                    return
                finally:
                    client.close()
            time.sleep(_POLL_S)
        raise TimeoutError(
            f"control socket not answering after {_SOCKET_WAIT_S}s; {self.log_tail()}"
        )

    def client(self) -> ControlClient:
        return ControlClient(self.socket_path)

    def sigkill(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.send_signal(signal.SIGKILL)
            self.popen.wait(_STOP_WAIT_S)

    def stop(self) -> int | None:
        """SIGTERM (graceful), SIGKILL after a while; returns the exit code."""
        if self.popen is None:
            return None
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(_STOP_WAIT_S)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(_STOP_WAIT_S)
        return self.popen.returncode

    def log_tail(self, lines: int = 15) -> str:
        path = self.data_dir / "service.log"
        if not path.exists():
            return "no service log"
        tail = path.read_text(errors="replace").splitlines()[-lines:]
        return "service log tail:\n" + "\n".join(tail)


def states(client: ControlClient) -> dict[str, str]:
    """Account id → state, from one ``status`` call."""
    return {a["id"]: a["state"] for a in client.call("status")["accounts"]}


def wait_all_online(client: ControlClient, count: int, *, timeout_s: float) -> float | None:
    """Poll ``status`` until ``count`` accounts are online; the perf_counter then, or None."""
    deadline = time.perf_counter() + timeout_s
    while time.perf_counter() < deadline:
        online = sum(1 for s in states(client).values() if s == "online")
        if online >= count:
            return time.perf_counter()
        time.sleep(_POLL_S)
    return None


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system + times.children_user + times.children_system


@contextlib.contextmanager
def control(service: ServiceProcess) -> Iterator[ControlClient]:
    client = service.client()
    try:
        yield client
    finally:
        client.close()
