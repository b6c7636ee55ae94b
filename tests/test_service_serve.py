"""``python run.py serve`` as a real process against the simulator: signals, restarts, logs."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from control.client import ControlClient
from control.errors import ControlError
from tests.conftest import wait_for
from tests.plugins.simulator import Seller, new_seller

REPO = Path(__file__).resolve().parent.parent
START_TIMEOUT_S = 30.0


@pytest.fixture
def data_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="xsv-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


class ServeProcess:
    """One ``run.py serve`` child; its stderr (the log) goes to a file, read on demand."""

    def __init__(self, sim: Any, data_dir: Path, *, log_name: str) -> None:
        self.data_dir = data_dir
        self.log_path = data_dir / log_name
        self._log = self.log_path.open("wb")
        env = {k: v for k, v in os.environ.items() if not k.startswith("XIANYU_")}
        env["XIANYU_WS_URL"] = sim.ws_url  # the environment route, flags for the rest
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "run.py",
                "serve",
                *("--data-dir", str(data_dir), "--api-url", sim.api_url, "--log-format", "json"),
            ],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._log,
        )

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def client(self) -> ControlClient:
        return ControlClient(self.data_dir / "control.sock", timeout=30)

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
            return self.proc.wait(timeout=30)
        finally:
            self._log.close()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._log.close()


@pytest.fixture
def serve(sim, data_dir: Path) -> Iterator[Any]:
    started: list[ServeProcess] = []

    def start(log_name: str = "serve.log") -> ServeProcess:
        process = ServeProcess(sim, data_dir, log_name=log_name)
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


def secrets_of(*sellers: Seller | str) -> list[str]:
    cookies = [s.cookie if isinstance(s, Seller) else s for s in sellers]
    values = []
    for cookie in cookies:
        for pair in cookie.split(";"):
            name, _, value = pair.strip().partition("=")
            if name != "unb" and len(value) >= 6:
                values.append(value)
    return values


def test_serve_hints_how_to_add_an_account_and_exits_zero_on_sigterm(serve):
    process = serve()
    wait_for(lambda: "no_accounts" in process.log_text(), what="the no-accounts line")
    text = process.log_text()
    assert "python run.py ctl add" in text
    assert "python run.py demo" in text
    assert process.stop(signal.SIGTERM) == 0
    events = [
        json.loads(line)["event"] for line in process.log_text().splitlines() if line[:1] == "{"
    ]
    assert "service_stopped" in events
    assert not (process.data_dir / "control.sock").exists()


def test_sigint_also_shuts_down_gracefully(serve):
    assert serve().stop(signal.SIGINT) == 0


def test_sigusr1_dumps_every_thread_and_keeps_serving(serve):
    process = serve()
    process.proc.send_signal(signal.SIGUSR1)
    wait_for(lambda: "MainThread" in process.log_text(), what="a thread dump")
    assert "control-socket" in process.log_text()
    with process.client() as c:
        assert c.call("ping")
    assert process.stop() == 0


def test_a_second_start_restores_every_account_with_the_same_active_versions(
    serve, sim, data_dir, capsys
):
    from control.cli import main as ctl

    sellers = [new_seller(sim, nick=f"shop{i}") for i in range(3)]
    fresh = sim.admin.create_user(user_id=sellers[0].user_id)["cookie"]
    first = serve("first.log")
    env = {"XIANYU_DATA_DIR": str(data_dir)}
    for i, seller in enumerate(sellers):
        cookie_file = data_dir / f"cookie{i}.txt"
        cookie_file.write_text(seller.cookie)
        assert ctl(["add", f"shop{i}", "--cookie-file", str(cookie_file)], env=env) == 0
    wait_for(lambda: all_online(first, 3), what="three accounts online")
    (data_dir / "fresh.txt").write_text(fresh)
    assert ctl(["update", "shop0", "--cookie-file", str(data_dir / "fresh.txt")], env=env) == 0
    assert ctl(["status"], env=env) == 0
    assert ctl(["history", "shop0"], env=env) == 0
    before = {k: v["cookie_version"] for k, v in statuses(first).items()}
    assert before == {"shop0": 2, "shop1": 1, "shop2": 1}
    assert first.stop() == 0

    second = serve("second.log")
    wait_for(lambda: all_online(second, 3), what="three accounts online again")
    assert {k: v["cookie_version"] for k, v in statuses(second).items()} == before
    assert "no_accounts" not in second.log_text()
    assert second.stop() == 0

    output = capsys.readouterr()
    everything = first.log_text() + second.log_text() + output.out + output.err
    for secret in secrets_of(*sellers, fresh):
        assert secret not in everything


def test_a_second_service_on_the_same_data_dir_is_refused(serve, sim, data_dir):
    first = serve()
    second = ServeProcess(sim, data_dir, log_name="second.log")
    try:
        assert second.proc.wait(timeout=START_TIMEOUT_S) == 1
        assert "already listening" in second.log_text()
        assert "service_started" not in second.log_text()  # it gave up before connecting anyone
    finally:
        second.kill()
    with first.client() as c:
        assert c.call("ping")
    assert first.stop() == 0
