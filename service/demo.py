"""``python run.py demo``: the simulator and the service in one process, a 30-second tour.

Three seller accounts with reply rules answer buyers; one gets a fresh cookie (applied,
with its swap time), one gets a dead cookie (rolled back, still answering), one is stuck
in a handler and gets cut off and replaced. Then the status table and the events.
Everything runs on loopback and a temporary data dir; nothing touches a real account.
"""

from __future__ import annotations

import argparse
import functools
import logging
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from actors.testing import FreezableAccountActor
from common.settings import Settings, Timings
from control.render import render
from service.app import Service
from service.logging import configure_logging
from simulator.admin import AdminClient
from simulator.server import Simulator

T = TypeVar("T")

ACCOUNTS = ("shop-1", "shop-2", "shop-3")
RULES = [
    {"keyword": "价格", "reply": "这件 ¥88，包邮。{buyer_name} 需要的话直接拍～"},
    {"keyword": "在吗", "reply": "在的 {buyer_name}，请问想了解哪件？"},
    {"keyword": "price", "reply": "Hi {buyer_name}, it is 88 yuan with free shipping."},
]
DEFAULT_REPLY = {"text": "您好，稍后回复您～", "once_per_chat": True}

# quick enough for a tour, still the real mechanisms: probation, stop deadline, heartbeat
DEMO_TIMINGS = Timings(heartbeat_s=2.0, probation_s=5.0, stop_timeout_s=1.5)


def _wait(what: str, predicate: Callable[[], T], *, timeout: float = 10.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"demo: timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.02)


class Tour:
    """The demo's steps, against one simulator and one in-process service."""

    def __init__(self, service: Service, admin: AdminClient) -> None:
        self.service = service
        self.client = service.client
        self.admin = admin
        self.sellers: dict[str, str] = {}  # account id -> seller user id
        self._buyer = 0

    def say(self, text: str = "") -> None:
        print(text, flush=True)

    def is_online(self, account: str) -> bool:
        return self.state_of(account) == "online"

    def state_of(self, account: str) -> str:
        return str(self.client.status(account)["accounts"][0]["state"])

    def ask(self, account: str, text: str) -> dict[str, Any]:
        """A new buyer writes to ``account``; wait for the reply the simulator saw."""
        seller = self.sellers[account]
        self._buyer += 1
        buyer = f"88000{self._buyer:05d}"
        before = len(self.admin.sent(seller))
        started = time.monotonic()
        pushed = self.admin.push(to=seller, from_=buyer, text=text)
        replies = _wait(
            f"{account} to answer",
            lambda: [
                m for m in self.admin.sent(seller)[before:] if m["chat_id"] == pushed["chat_id"]
            ],
        )
        ms = (time.monotonic() - started) * 1000
        self.say(f"  buyer {buyer} -> {account}: {text}")
        self.say(f"  {account} -> buyer {buyer}: {replies[0]['text']}   ({ms:.0f} ms)")
        return replies[0]

    def setup(self) -> None:
        self.say("== 3 accounts with reply rules, against the local simulator")
        for account in ACCOUNTS:
            user = self.admin.create_user(nick=f"{account} seller")
            self.sellers[account] = user["user_id"]
            self.client.add(account, user["cookie"], remark="demo")
            self.client.set_rules(account, RULES, DEFAULT_REPLY)
        for account in ACCOUNTS:
            _wait(f"{account} online", functools.partial(self.is_online, account))
        self.say("  all online")

    def conversations(self) -> None:
        self.say("\n== buyers write; rules and the default reply answer")
        self.ask("shop-1", "在吗？")
        self.ask("shop-2", "这个价格能便宜点吗")
        self.ask("shop-3", "is the price negotiable?")
        self.ask("shop-1", "有发票吗")

    def good_update(self) -> None:
        self.say("\n== update shop-1 with a fresh cookie (make-before-break, then probation)")
        fresh = self.admin.create_user(user_id=self.sellers["shop-1"])["cookie"]
        result = self.client.update("shop-1", fresh)
        self.say(
            f"  outcome={result['outcome']} version {result['previous_version']} -> "
            f"{result['version']}, swap {result['swap_ms']:.1f} ms"
        )
        self.ask("shop-1", "在吗，还在卖吗")

    def dead_update(self) -> None:
        self.say("\n== update shop-2 with a cookie whose login session is already dead")
        dead = self.admin.create_user(user_id=self.sellers["shop-2"])["cookie"]
        self.admin.revoke(cookie=dead)
        result = self.client.update("shop-2", dead)
        self.say(f"  outcome={result['outcome']}: {result['reason']}")
        self.say("  the previous cookie kept serving:")
        self.ask("shop-2", "价格多少")

    def stuck_account(self) -> None:
        timings = self.service.settings.timings
        deadline = timings.stop_timeout_s
        self.say(f"\n== shop-3 hangs inside a handler; restart cuts it off after {deadline:.1f} s")
        self.client.freeze("shop-3", 60.0)
        result = self.client.restart("shop-3")
        self.say(f"  outcome={result['outcome']} after {result['stop_ms']:.0f} ms")
        _wait("shop-3 online again", lambda: self.state_of("shop-3") == "online")
        self.ask("shop-3", "price please")

    def summary(self) -> None:
        self.say("\n== status")
        self.say(render("status", self.client.status()))
        self.say("\n== events (newest first)")
        self.say(render("events", self.client.events(limit=15)))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="run.py demo", description=__doc__.splitlines()[0])
    parser.add_argument("--verbose", action="store_true", help="show the service's log lines too")
    args = parser.parse_args(list(argv or []))
    configure_logging("console", level=logging.INFO if args.verbose else logging.WARNING)
    started = time.monotonic()
    handle = Simulator().start_in_thread()
    try:
        with tempfile.TemporaryDirectory(prefix="xianyu-demo-") as data_dir:
            settings = replace(
                Settings(),
                data_dir=Path(data_dir),
                ws_url=handle.ws_url,
                api_url=handle.api_url,
                passport_url=handle.passport_url,
                timings=DEMO_TIMINGS,
            )
            # shop-3 is frozen on purpose: its children obey the Freeze hook
            with Service(settings, actor_class=FreezableAccountActor) as service:
                tour = Tour(service, handle.admin)
                tour.setup()
                tour.conversations()
                tour.good_update()
                tour.dead_update()
                tour.stuck_account()
                tour.summary()
    finally:
        handle.stop()
    print(f"\ndemo finished in {time.monotonic() - started:.1f} s", flush=True)
    return 0
