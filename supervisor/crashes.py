"""One-for-one restarts of crashed children: back-off, or ``failed`` past the intensity limit.

The decision itself is ``supervisor.restarts.RestartPolicy`` (pure, per account); this is the
supervisor's side of it: record the crash, arm the restart timer (a message to itself, never a
wait), and start the fresh generation when the timer's message comes back still current.
"""

from __future__ import annotations

from collections.abc import Callable

import structlog

from common.io_loop import IoLoop
from supervisor.book import AccountBook
from supervisor.effects import Effects
from supervisor.entry import AccountEntry
from supervisor.requests import RestartDue
from supervisor.restarts import GiveUp

log = structlog.get_logger(__name__)


class CrashRestarts:
    """What the supervisor does when a generation dies on its own."""

    def __init__(
        self,
        book: AccountBook,
        effects: Effects,
        io: IoLoop,
        tell_self: Callable[[object], None],
        *,
        clock: Callable[[], float],
        rand: Callable[[], float],
    ) -> None:
        self._book = book
        self._effects = effects
        self._io = io
        self._tell_self = tell_self
        self._clock = clock
        self._rand = rand

    def crashed(self, entry: AccountEntry, generation: int, error: str) -> None:
        """Record it; restart with back-off, or give up (``failed``) past the intensity limit."""
        entry.last_error = error
        entry.crashes += 1
        self._book.record("crashed", entry.account_id, generation=generation, error=error)
        log.warning("child_crashed", account=entry.account_id, generation=generation, error=error)
        if not entry.enabled:
            return
        decision = entry.policy.on_crash(now=self._clock(), rand=self._rand())
        if isinstance(decision, GiveUp):
            entry.failed = decision.reason
            self._book.record("failed", entry.account_id, reason=decision.reason, error=error)
            log.warning("account_failed", account=entry.account_id, reason=decision.reason)
            return
        entry.cancel_pending_restart()
        due = RestartDue(entry.account_id, entry.restart_token)
        entry.cancel_restart = self._io.call_later(decision.delay_s, self._tell_self, due)
        delay_s = round(decision.delay_s, 3)
        log.info(
            "restart_scheduled", account=entry.account_id, delay_s=delay_s, attempt=decision.attempt
        )

    def restart_due(self, entry: AccountEntry, message: RestartDue) -> None:
        """The restart timer fired: start the fresh generation unless something overtook it."""
        if entry.restart_token != message.token:
            return
        entry.cancel_restart = None
        if entry.enabled and entry.failed is None and entry.child is None and entry.flow is None:
            self._effects.start_child(entry, entry.current, cause="crash")
            log.info("child_restarted", account=entry.account_id, generation=entry.generations)
