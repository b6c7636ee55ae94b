"""SIGKILL of the whole service (``python run.py serve``) at random moments of an update
storm with token refreshes: at restart every account has exactly one active version, its
rules and settings, and every buyer message pushed before, during and after the outage is
answered exactly once. The service's whole output is checked for cookie values."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from control.client import ControlClient
from control.errors import ControlError
from tests.conftest import wait_for
from tests.plugins.faults import Chat
from tests.plugins.simulator import Seller, new_seller

pytestmark = pytest.mark.usefixtures("secrets_guard")

REPO = Path(__file__).resolve().parent.parent
ACCOUNTS = 3
START_TIMEOUT_S = 30.0
RULES = [{"keyword": "价格", "reply": "不议价"}]
DEFAULT_REPLY = {"text": "auto: {text}", "once_per_chat": False}


class Serve:
    """One ``run.py serve`` process; its stdout and stderr go to one log file."""

    def __init__(self, sim: Any, data_dir: Path, log_path: Path) -> None:
        self.data_dir = data_dir
        self.log_path = log_path
        self._log = log_path.open("ab")
        env = {k: v for k, v in os.environ.items() if not k.startswith("XIANYU_")}
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "run.py",
                "serve",
                *("--data-dir", str(data_dir), "--ws-url", sim.ws_url),
                *("--api-url", sim.api_url, "--log-format", "json"),
            ],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=self._log,
        )

    def client(self, timeout: float = 30.0) -> ControlClient:
        return ControlClient(self.data_dir / "control.sock", timeout=timeout)

    def wait_ready(self) -> None:
        def answers() -> bool:
            assert self.proc.poll() is None, self.log_path.read_text(errors="replace")
            try:
                with self.client() as c:
                    return bool(c.call("ping"))
            except ControlError:
                return False

        wait_for(answers, timeout=START_TIMEOUT_S, interval=0.05, what="the control socket")

    def all_online(self, count: int) -> bool:
        with self.client() as c:
            rows = c.call("status")["accounts"]
        return len(rows) == count and all(r["state"] == "online" for r in rows)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        self._log.close()

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=30)
        finally:
            self._log.close()


@pytest.fixture
def serve(sim, short_dir: Path, tmp_path: Path) -> Iterator[Any]:
    started: list[Serve] = []

    def start() -> Serve:
        process = Serve(sim, short_dir / "data", tmp_path / "serve.log")
        started.append(process)
        process.wait_ready()
        return process

    yield start
    for process in started:
        process.kill()


class Storm:
    """Background updates (some through an expired signing token) and buyer messages."""

    def __init__(self, sim: Any, process: Serve, sellers: list[Seller], rng: random.Random):
        self.sim = sim
        self.process = process
        self.sellers = sellers
        self.chats = [Chat(sim, seller) for seller in sellers]
        self.rng = rng
        self.stop = threading.Event()
        self.outcomes: list[str] = []
        self._n = 0
        self._threads = [
            threading.Thread(target=self._push, name="storm-push"),
            threading.Thread(target=self._update, name="storm-update"),
        ]

    def start(self) -> Storm:
        for thread in self._threads:
            thread.start()
        return self

    def push_round(self, label: str) -> None:
        for i, chat in enumerate(self.chats):
            self._n += 1
            chat.push(f"{label} {i}-{self._n}")

    def _push(self) -> None:
        while not self.stop.is_set():
            self.push_round("storm")
            self.stop.wait(0.05)  # pacing, not waiting for an effect

    def _update(self) -> None:
        while not self.stop.is_set():
            i = self.rng.randrange(len(self.sellers))
            seller = self.sellers[i]
            if self.rng.random() < 0.4:
                self.sim.admin.fault(seller.user_id, "token_expired")
            cookie = self.sim.admin.create_user(user_id=seller.user_id)["cookie"]
            try:
                with self.process.client() as c:
                    self.outcomes.append(
                        c.call("update", account=f"shop{i}", cookie=cookie)["outcome"]
                    )
            except ControlError:
                return  # the service is gone: the storm's update side ends with it

    def join(self) -> None:
        self.stop.set()
        for thread in self._threads:
            thread.join(timeout=30)


def add_accounts(process: Serve, sellers: list[Seller]) -> None:
    with process.client() as c:
        for i, seller in enumerate(sellers):
            c.call("add", account=f"shop{i}", cookie=seller.cookie, enabled=False)
            c.call("set_rules", account=f"shop{i}", rules=RULES, default_reply=DEFAULT_REPLY)
            c.call("set", account=f"shop{i}", remark=f"store {i}", pause_minutes=3 + i)
            c.call("enable", account=f"shop{i}")
    wait_for(lambda: process.all_online(len(sellers)), timeout=20, what="accounts online")


def check_accounts_intact(process: Serve, count: int) -> None:
    with process.client() as c:
        for i in range(count):
            versions = c.call("history", account=f"shop{i}", limit=100)["versions"]
            statuses = [v["status"] for v in versions]
            assert statuses.count("active") == 1, versions
            assert "pending" not in statuses, versions
            rules = c.call("rules", account=f"shop{i}")
            assert [{"keyword": r["keyword"], "reply": r["reply"]} for r in rules["rules"]] == RULES
            assert rules["default_reply"] == DEFAULT_REPLY
            account = c.call("set", account=f"shop{i}")["account"]
            assert (account["remark"], account["pause_minutes"]) == (f"store {i}", 3 + i)
            active = next(v for v in versions if v["status"] == "active")
            assert account["cookie_version"] == active["version"]


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sigkill_during_an_update_storm_loses_nothing_and_answers_everything_once(
    sim, serve, tmp_path, secrets_guard, seed
):
    rng = random.Random(seed)
    sellers = [new_seller(sim, nick=f"shop{i}") for i in range(ACCOUNTS)]
    first = serve()
    add_accounts(first, sellers)
    storm = Storm(sim, first, sellers, rng)
    storm.push_round("before")
    storm.start()
    threading.Event().wait(rng.uniform(0.2, 1.5))  # a random moment of the storm
    first.kill()
    storm.push_round("during")
    storm.join()
    assert storm.outcomes, "the kill came before any update: nothing was tested"

    second = serve()
    wait_for(lambda: second.all_online(ACCOUNTS), timeout=30, what="accounts online again")
    check_accounts_intact(second, ACCOUNTS)
    storm.push_round("after")
    for chat in storm.chats:
        chat.push("last")
        chat.wait_answered(timeout=30)
    for chat in storm.chats:
        chat.assert_each_answered_once()
    # a rollback after the restart, so its log lines are checked too
    with second.client() as c:
        c.call("rollback", account="shop0")
    assert second.stop() == 0
    log = (tmp_path / "serve.log").read_text(errors="replace")
    assert "update_applied" in log and "rollback_applied" in log
    secrets_guard.add_text("serve log", log)
