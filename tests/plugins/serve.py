"""``python run.py serve`` as a real child process against the simulator (``test_service_serve``,
``test_faults_sigkill``).

- ``ServeProcess(sim, data_dir, log_name=..., args=(), web="off")``: one child (``args``: more
  flags; ``web="127.0.0.1:0"``: with the web page, on any port). It inherits no ``XIANYU_``
  variable but ``XIANYU_WS_URL`` (the environment route; flags for the rest); its stdout and
  stderr are appended to ``data_dir / log_name``, read with ``log_text()``.
- ``serve(log_name="serve.log", web="off")``: a ``ServeProcess`` on ``short_dir``, returned
  once its control socket answers; whatever still runs after the test is SIGKILLed. Processes
  started with the same ``log_name`` share the file, so it holds every run's output.
- ``statuses(process)``, ``all_online(process, count)``: one ``status`` call, read.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from control.client import ControlClient
from control.errors import ControlError
from simulator.server import SimulatorHandle
from tests.plugins.timing import scaled, wait_for

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 30.0


class ServeProcess:
    """One ``run.py serve`` child; its output goes to a log file, read on demand."""

    def __init__(
        self,
        sim: SimulatorHandle,
        data_dir: Path,
        *,
        log_name: str,
        args: Sequence[str] = (),
        web: str = "off",
    ) -> None:
        self.data_dir = data_dir
        self.log_path = data_dir / log_name
        self._log = self.log_path.open("ab")
        env = {k: v for k, v in os.environ.items() if not k.startswith("XIANYU_")}
        env["XIANYU_WS_URL"] = sim.ws_url
        env["XIANYU_PASSPORT_URL"] = sim.passport_url  # never the real login host from a test
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "run.py",
                "serve",
                *("--data-dir", str(data_dir), "--api-url", sim.api_url, "--log-format", "json"),
                # the web page only where a test asks for it (port 0: any free one)
                *("--web", web),
                *args,
            ],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=self._log,
        )

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def client(self, timeout: float = 30.0) -> ControlClient:
        return ControlClient(self.data_dir / "control.sock", timeout=scaled(timeout))

    def wait_ready(self) -> None:
        def answers() -> bool:
            assert self.proc.poll() is None, self.log_text()
            try:
                with self.client() as c:
                    return bool(c.call("ping"))
            except ControlError:
                return False

        wait_for(answers, timeout=START_TIMEOUT_S, interval=0.05, what="the control socket")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=scaled(30))
        finally:
            self._log.close()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=scaled(10))
        self._log.close()


@pytest.fixture
def serve(sim: SimulatorHandle, short_dir: Path) -> Iterator[Callable[..., ServeProcess]]:
    started: list[ServeProcess] = []

    def start(log_name: str = "serve.log", web: str = "off") -> ServeProcess:
        process = ServeProcess(sim, short_dir, log_name=log_name, web=web)
        started.append(process)
        process.wait_ready()
        return process

    yield start
    for process in started:
        process.kill()


def statuses(process: ServeProcess) -> dict[str, dict[str, Any]]:
    with process.client() as c:
        return {a["id"]: a for a in c.call("status")["accounts"]}


def all_online(process: ServeProcess, count: int) -> bool:
    rows = statuses(process)
    return len(rows) == count and all(r["state"] == "online" for r in rows.values())
