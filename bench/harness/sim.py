"""The simulator, in this process, and the buyer load driven on its own event loop.

Why in-process: pushing thousands of messages per second through one admin HTTP request
each would make the benchmark's own HTTP client the bottleneck on 2 cores. Here the load
generator is a coroutine on the simulator's loop calling ``Control.push`` directly (the same
code the admin API runs, minus HTTP), and every send the seller makes is timestamped where
the simulator records it. Push and reply times therefore come from one clock
(``time.perf_counter``) and include everything between the simulator and the service.
The service under test is always a separate process, so its CPU and RSS are its own.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from simulator.control import AdminRefused
from simulator.server import Simulator, SimulatorHandle

# Buyer ids: digit strings far from the simulator's seller ids, one per message (= one chat).
_FIRST_BUYER_ID = 5_100_000_000_000
# The load wakes this often and pushes whatever is due since the last tick.
_TICK_S = 0.005
_STOP_TIMEOUT_S = 30.0
_DRAIN_POLL_S = 0.05

KEYWORD = "price"
BUYER_TEXT = "hi, what is the price of this?"
REPLY_TEXT = "The price is on the listing, thanks!"


@dataclass(frozen=True)
class Push:
    """One buyer message the load delivered: which seller, which chat, when."""

    seller_id: str
    chat_id: str
    at: float  # perf_counter just before the simulator took it


@dataclass
class Ledger:
    """Every push and every seller send, keyed by chat (one chat per pushed message).

    Written only on the simulator's loop thread; read by the bench thread after the load
    stopped or as a snapshot (list/dict reads are safe under the GIL).
    """

    pushes: dict[str, Push] = field(default_factory=dict)
    replies: dict[str, list[float]] = field(default_factory=dict)
    failed_pushes: int = 0

    def reply_ms(self, push: Push) -> float | None:
        times = self.replies.get(push.chat_id)
        return None if not times else (times[0] - push.at) * 1000.0

    def pushed_between(self, start: float, end: float) -> list[Push]:
        return [p for p in list(self.pushes.values()) if start <= p.at < end]

    def unanswered(self) -> list[Push]:
        return [p for p in list(self.pushes.values()) if p.chat_id not in self.replies]

    def duplicates(self) -> int:
        """Chats answered more than once."""
        return sum(1 for times in list(self.replies.values()) if len(times) > 1)

    def answered(self) -> int:
        return sum(1 for p in list(self.pushes.values()) if p.chat_id in self.replies)

    def latencies(self, pushes: Sequence[Push] | None = None) -> list[float]:
        """Push → first reply, in ms, of the answered ones among ``pushes`` (default: all)."""
        chosen = list(self.pushes.values()) if pushes is None else pushes
        return [ms for p in chosen if (ms := self.reply_ms(p)) is not None]

    def drain(self, timeout_s: float, pushes: Sequence[Push] | None = None) -> None:
        """Wait until every push (of ``pushes``, default all) is answered, or the timeout."""
        deadline = time.perf_counter() + timeout_s
        chosen = list(self.pushes.values()) if pushes is None else pushes
        while time.perf_counter() < deadline:
            if all(p.chat_id in self.replies for p in chosen):
                return
            time.sleep(_DRAIN_POLL_S)


class SimRig:
    """A running simulator plus the ledger of what went through it."""

    def __init__(self, **knobs: Any) -> None:
        """``knobs``: simulator.knobs.Knobs overrides (e.g. an accelerated session clock)."""
        self.ledger = Ledger()
        self.simulator = Simulator(**knobs)
        self._watch_sends(self.simulator)
        self.handle: SimulatorHandle = self.simulator.start_in_thread()
        self._buyers = itertools.count(_FIRST_BUYER_ID)

    def _watch_sends(self, simulator: Simulator) -> None:
        # Timestamp each seller send where the simulator records it (bench-local wrapper on
        # this instance only; the simulator's code is unchanged).
        world = simulator.world
        record_sent = world.record_sent
        replies = self.ledger.replies

        def record_and_time(user_id: str, message: Any, to: str) -> None:
            replies.setdefault(message.chat_id, []).append(time.perf_counter())
            record_sent(user_id, message, to)

        world.record_sent = record_and_time  # type: ignore[method-assign]

    @property
    def ws_url(self) -> str:
        return self.handle.ws_url

    @property
    def api_url(self) -> str:
        return self.handle.api_url

    @property
    def passport_url(self) -> str:
        return self.handle.passport_url

    def new_seller(self) -> tuple[str, str]:
        """A new seller: ``(user_id, cookie)``. The cookie is a secret: never print it."""
        answer = self.handle.call(self.simulator.control.create_user)
        return answer["user_id"], answer["cookie"]

    def fresh_cookie(self, user_id: str) -> str:
        """A new valid login session of an existing seller (the old ones stay valid)."""
        return self.handle.call(lambda: self.simulator.control.create_user(user_id))["cookie"]

    def registered(self) -> dict[str, int]:
        """Seller id → 1 when a connection is registered for it now."""
        return self.handle.call(
            lambda: {u: self.simulator.im.registered(u) for u in self.simulator.world.users}
        )

    def withheld(self, seller_ids: Sequence[str]) -> int:
        """Messages the simulator could not push (nobody registered) to these sellers."""

        def count() -> int:
            users = self.simulator.world.users
            return sum(users[s].stats.withheld for s in seller_ids if s in users)

        return self.handle.call(count)

    def start_load(self, seller_ids: Sequence[str], rate_per_s: float) -> Load:
        load = Load(self, list(seller_ids), rate_per_s)
        load.start()
        return load

    async def push_one(self, seller_id: str) -> None:
        """One matching buyer message from a new buyer; runs on the simulator's loop."""
        buyer = str(next(self._buyers))
        at = time.perf_counter()
        try:
            answer = await self.simulator.control.push(seller_id, buyer, BUYER_TEXT)
        except AdminRefused:  # a refused push is counted, not fatal: the run reports it
            self.ledger.failed_pushes += 1
            return
        chat_id = answer["chat_id"]
        self.ledger.pushes[chat_id] = Push(seller_id, chat_id, at)

    def stop(self) -> None:
        self.handle.stop()


class Load:
    """Buyer messages at ``rate_per_s`` in total, round-robin over the sellers.

    Paced by a schedule (not by sleeping a fixed gap per message): each tick pushes what is
    due since the start, so a slow tick is caught up rather than lowering the rate silently.
    ``achieved_rate`` tells whether the pushes kept up.
    """

    def __init__(self, rig: SimRig, seller_ids: list[str], rate_per_s: float) -> None:
        self._rig = rig
        self._sellers = seller_ids
        self._rate = rate_per_s
        self._stop = threading.Event()
        self._future: Any = None
        self.pushed = 0
        self.started = 0.0
        self.stopped = 0.0

    def start(self) -> None:
        self._future = asyncio.run_coroutine_threadsafe(self._run(), self._rig.handle._loop)

    def set_rate(self, rate_per_s: float) -> None:
        """Change the rate from now on (the schedule restarts at the current count)."""
        self._rate = rate_per_s
        self._rebase = True

    def stop(self) -> None:
        self._stop.set()
        if self._future is not None:
            self._future.result(_STOP_TIMEOUT_S)

    @property
    def achieved_rate(self) -> float:
        elapsed = (self.stopped or time.perf_counter()) - self.started
        return self.pushed / elapsed if elapsed > 0 else 0.0

    async def _run(self) -> None:
        sellers = itertools.cycle(self._sellers)
        self.started = base_time = time.perf_counter()
        base_count = 0
        self._rebase = False
        try:
            while not self._stop.is_set():
                now = time.perf_counter()
                if self._rebase:
                    base_time, base_count, self._rebase = now, self.pushed, False
                due = base_count + int((now - base_time) * self._rate) - self.pushed
                for _ in range(max(due, 0)):
                    await self._rig.push_one(next(sellers))
                    self.pushed += 1
                await asyncio.sleep(_TICK_S)
        finally:
            self.stopped = time.perf_counter()
