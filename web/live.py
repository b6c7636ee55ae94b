"""Live updates: one poller of ``status`` and ``events`` fanned out to every open page.

While at least one page listens, ``Live`` asks the dispatcher for the fleet's status and
the newest events every ``interval_s`` (the same commands as ``ctl status`` / ``ctl
events``), keeps the last row of each account and hands each listener what changed. Five
open pages cost one poll, not five. A listener that cannot keep up (its queue is full)
is told to reload instead of being buffered without bound.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog

from web.ops import Operations
from web.views import compact_json

log = structlog.get_logger(__name__)

QUEUE_SIZE = 64
EVENTS_PER_POLL = 200


@dataclass(frozen=True)
class Change:
    """One poll's news: changed or new rows, removed ids, new events (oldest first)."""

    rows: tuple[Mapping[str, Any], ...] = ()
    removed: tuple[str, ...] = ()
    events: tuple[Mapping[str, Any], ...] = ()
    counts: Mapping[str, int] = field(default_factory=dict)
    # HTML rendered for this change, by (language, what, index): every open page in the
    # same language shares one rendering (the listeners all run on the page's loop)
    rendered: dict[tuple[str, str, int], str] = field(default_factory=dict, compare=False)
    # the whole SSE message, by (language, account filter, kind filter): the pages that show
    # the same thing share one serialisation (None: nothing for such a page)
    encoded: dict[tuple[str, str | None, str | None], bytes | None] = field(
        default_factory=dict, compare=False
    )


OVERFLOW = Change()  # the marker put in a full queue's place: "reload"


@dataclass(eq=False)  # each listener is itself: hashed by identity
class Listener:
    queue: asyncio.Queue[Change] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))
    overflowed: bool = False


class Live:
    """The poller; ``listen()`` / ``leave()`` from handlers on the page's loop."""

    def __init__(self, ops: Operations, *, interval_s: float = 1.0) -> None:
        self._ops = ops
        self._interval = interval_s
        self._listeners: set[Listener] = set()
        self._rows: dict[str, Mapping[str, Any]] = {}
        self._signatures: dict[str, tuple[tuple[str, Any], ...]] = {}
        # events seen at the newest timestamp so far (the next poll asks from there on)
        self._since: str | None = None
        self._seen_at_since: set[str] = set()
        self._task: asyncio.Task[None] | None = None

    def listen(self) -> Listener:
        listener = Listener()
        self._listeners.add(listener)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())
        return listener

    def leave(self, listener: Listener) -> None:
        self._listeners.discard(listener)

    def rows(self) -> list[Mapping[str, Any]]:
        """The last polled row of every account (a new listener's snapshot)."""
        return list(self._rows.values())

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        if self._since is None:
            self._since = datetime.now(UTC).isoformat()
        while self._listeners:
            try:
                change = await self._poll()
            except asyncio.CancelledError:
                raise
            # survival boundary: a failed poll must not end live updates for every page
            except Exception:  # noqa: BLE001
                log.exception("web_live_poll_failed")
                change = None
            if change is not None and (change.rows or change.removed or change.events):
                self._fan_out(change)
            await asyncio.sleep(self._interval)

    async def _poll(self) -> Change | None:
        status = await self._ops.call("status")
        events = await self._ops.call("events", {"limit": EVENTS_PER_POLL, "since": self._since})
        rows: list[Mapping[str, Any]] = []
        removed: list[str] = []
        if status.get("ok"):
            current = {row["id"]: row for row in status["result"].get("accounts", [])}
            for account_id, row in current.items():
                # a row's fields are JSON scalars in a fixed order: its items say it all
                signature = tuple(row.items())
                if self._signatures.get(account_id) != signature:
                    self._signatures[account_id] = signature
                    rows.append(row)
            removed = [account_id for account_id in self._rows if account_id not in current]
            for account_id in removed:
                self._signatures.pop(account_id, None)
            self._rows = current
        new_events = self._new_events(events["result"]["events"]) if events.get("ok") else []
        counts = Counter(str(row.get("state")) for row in self._rows.values())
        return Change(tuple(rows), tuple(removed), tuple(new_events), dict(counts))

    def _new_events(self, newest_first: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        fresh = []
        for event in reversed(newest_first):
            signature = compact_json(event)
            if self._since is not None and event["at"] < self._since:
                continue  # older than asked for
            if event["at"] == self._since and signature in self._seen_at_since:
                continue
            if self._since is None or event["at"] > self._since:
                self._since, self._seen_at_since = event["at"], set()
            self._seen_at_since.add(signature)
            fresh.append(event)
        return fresh

    def _fan_out(self, change: Change) -> None:
        for listener in list(self._listeners):
            if listener.overflowed:
                continue
            try:
                listener.queue.put_nowait(change)
            except asyncio.QueueFull:
                listener.overflowed = True
                # make room for the one marker that tells the page to reload
                with contextlib.suppress(asyncio.QueueEmpty):
                    listener.queue.get_nowait()
                listener.queue.put_nowait(OVERFLOW)
