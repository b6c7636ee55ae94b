"""Whose turn it is to handle an account's reports: its actor thread, or the IO loop at once.

Each report a session makes on the loop used to be a ``tell``: a futex wake-up of the account
thread, then a GIL ping-pong between the two threads at every syscall and SQLite call that
followed (13-18 context switches per reply, ~0.5 ms of CPU on the account threads alone with
1,000 accounts, issue 15 §3). The common reports (a push, the answer to a reply) need nothing
but the account's state, so the loop handles them itself when the account is idle: it takes
the account's turn (a lock the actor thread also holds around every message it handles) without
waiting, and runs the same handler the actor would have run.

Order and exclusion stay what the actor gave: the state is only ever touched under the turn,
and a report is handled on the loop only when nothing the loop told the actor earlier is still
in its inbox (``told`` vs ``handled``: each counter is written by one thread only). Otherwise,
or while the actor is busy (a handler running, frozen, stopping), the report is told as before.
Only kinds whose handlers never wait for the loop (``inline_kinds``) are run there; a handler
that raises on the loop stops inline handling and hands the error to the actor thread, which
fails exactly as if it had raised there.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from common.io_loop import IoLoop


@dataclass(frozen=True)
class Reported:
    """Reports of one loop iteration the loop could not handle itself, for the actor thread."""

    events: tuple[object, ...]


@dataclass(frozen=True)
class HandlingFailed:
    """A handler raised on the loop: the actor re-raises it (pykka's failure path)."""

    error: Exception


class Turns:
    """One account's turn lock, and the loop's way in (``report``, the sessions' sink)."""

    def __init__(
        self,
        io: IoLoop,
        *,
        tell: Callable[[object], None],
        handle: Callable[[object], None],
        inline_kinds: frozenset[type],
    ) -> None:
        self._io = io
        self._tell = tell
        self._handle = handle
        self._inline_kinds = inline_kinds
        self._lock = threading.Lock()
        self._told = 0  # ``Reported`` told to the inbox: written on the loop thread only
        self._handled = 0  # ``Reported`` handled by the actor: written by its thread only
        self._open = False  # the actor started and did not stop or fail: inline allowed
        self._pending: list[object] = []  # collected on the loop, handled by ``_flush``

    @contextmanager
    def held(self) -> Iterator[None]:
        """The actor thread's turn, around every message it handles."""
        with self._lock:
            yield

    def open(self, is_open: bool) -> None:
        """Allow (the actor started) or forbid (stopping, failed) handling on the loop; call
        with the turn held."""
        self._open = is_open

    def handled(self, _reported: Reported) -> None:
        """The actor handled a ``Reported`` (its thread, turn held)."""
        self._handled += 1

    def report(self, event: object) -> None:
        """The session sink: what a session (or a timer) reported.

        On the loop it is handled at once if it may be (see the module), so a reply it
        leads to goes out with the push's ACK in one socket write; otherwise it is collected,
        and what one loop iteration collected is handled, or told as one ``Reported``,
        together, in order. From another thread (the actor itself: a fenced request's
        answer) it is told as it is.
        """
        if not self._io.in_loop_thread():
            self._tell(event)
            return
        if not self._pending and self._try_inline([event]):
            return
        if not self._pending:
            self._io.loop.call_soon(self._flush)
        self._pending.append(event)

    def _flush(self) -> None:
        batch, self._pending = self._pending, []
        if not self._try_inline(batch):
            self._told += 1
            self._tell(Reported(tuple(batch)))

    def _try_inline(self, batch: list[object]) -> bool:
        if not (self._open and all(type(e) in self._inline_kinds for e in batch)):
            return False
        # never wait for the turn: the actor may hold it for long (a frozen or stopping actor)
        if not self._lock.acquire(blocking=False):
            return False
        try:
            if not (self._open and self._told == self._handled):
                return False
            self._inline(batch)
            return True
        finally:
            self._lock.release()

    def _inline(self, batch: list[object]) -> None:
        try:
            for event in batch:
                self._handle(event)
        except Exception as exc:  # noqa: BLE001 (handed to the actor thread, which fails with it)
            self._open = False
            self._told += 1
            self._tell(HandlingFailed(exc))
