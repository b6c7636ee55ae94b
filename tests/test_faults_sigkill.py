"""SIGKILL of the whole service (``python run.py serve``) at random moments of an update
storm with token refreshes: at restart every account has exactly one active version, its
rules and settings, and every buyer message pushed before, during and after the outage is
answered exactly once. The service's whole output is checked for cookie values."""

from __future__ import annotations

import random
import threading
from typing import Any

import pytest

from control.errors import ControlError
from tests.plugins.faults import Chat
from tests.plugins.serve import ServeProcess, all_online
from tests.plugins.simulator import Seller, new_seller, sim_either_arbitration
from tests.plugins.timing import wait_for

pytestmark = pytest.mark.usefixtures("secrets_guard")
# under sessions_per_seller 1 and 2
sim = sim_either_arbitration

ACCOUNTS = 3
RULES = [{"keyword": "价格", "reply": "不议价"}]
DEFAULT_REPLY = {"text": "auto: {text}", "once_per_chat": False}


class Storm:
    """Background updates (some through an expired signing token) and buyer messages."""

    def __init__(self, sim: Any, process: ServeProcess, sellers: list[Seller], rng: random.Random):
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


def add_accounts(process: ServeProcess, sellers: list[Seller]) -> None:
    with process.client() as c:
        for i, seller in enumerate(sellers):
            c.call("add", account=f"shop{i}", cookie=seller.cookie, enabled=False)
            c.call("set_rules", account=f"shop{i}", rules=RULES, default_reply=DEFAULT_REPLY)
            c.call("set", account=f"shop{i}", remark=f"store {i}", pause_minutes=3 + i)
            c.call("enable", account=f"shop{i}")
    wait_for(lambda: all_online(process, len(sellers)), timeout=20, what="accounts online")


def check_accounts_intact(process: ServeProcess, count: int) -> None:
    with process.client() as c:
        for i in range(count):
            versions = c.call("history", account=f"shop{i}", limit=100)["versions"]
            statuses = [v["status"] for v in versions]
            assert statuses.count("active") == 1, versions
            assert "pending" not in statuses, versions
            rules = c.call("rules", account=f"shop{i}")
            assert [{"keyword": r["keyword"], "reply": r["reply"]} for r in rules["rules"]] == RULES
            assert rules["default_reply"] == DEFAULT_REPLY
            # 'set' needs a field: rewrite the remark and read back the pause that persisted
            account = c.call("set", account=f"shop{i}", remark=f"store {i}")["account"]
            assert (account["remark"], account["pause_minutes"]) == (f"store {i}", 3 + i)
            active = next(v for v in versions if v["status"] == "active")
            assert account["cookie_version"] == active["version"]


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sigkill_during_an_update_storm_loses_nothing_and_answers_everything_once(
    sim, serve, secrets_guard, seed
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
    wait_for(lambda: all_online(second, ACCOUNTS), timeout=30, what="accounts online again")
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
    log = second.log_text()  # both runs: they share the log file
    assert "update_applied" in log and "rollback_applied" in log
    secrets_guard.add_text("serve log", log)
