"""The supervisor's own shutdown as a pure flow, in the style of ``supervisor.machine``.

Where the machine's flows concern one account, this one concerns them all at once: it ends
every operation, stops every running generation in parallel, and kills whatever has not
stopped when the deadline passes. The caller passes ``now`` in and carries the effects out,
in order (``supervisor.effects``); the supervisor stops itself after ``Finish``.

    begin ─ no generation runs ───────────────────────────────────────────► DONE (killed 0)
      └─ STOPPING ─ ChildGone of the last one ────────────────────────────► DONE (killed 0)
                  └─ stop deadline ─ KillChildren(the rest) ──────────────► DONE (killed n)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from supervisor.machine import ArmDeadline, DeadlineKind, DeadlinePassed, Finish, Phase

KILL_REASON = "did not stop within the shutdown deadline"
INTERRUPTED = "the supervisor shut down before the operation finished"

# --- events (fed in) ------------------------------------------------------------------


@dataclass(frozen=True)
class ChildGone:
    """The running generation of ``account_id`` stopped, crashed or was found dead."""

    account_id: str


ShutdownEvent = ChildGone | DeadlinePassed

# --- effects (carried out, in order) ---------------------------------------------------


@dataclass(frozen=True)
class EndOperations:
    """Fail every operation in flight or queued with ``reason``; drop pending restarts."""

    reason: str


@dataclass(frozen=True)
class StopChildren:
    """Ask each account's generation to stop (never waited on); the dead ones are reaped."""

    accounts: tuple[str, ...]


@dataclass(frozen=True)
class KillChildren:
    """Fence each account's generation, cut its sockets, record a ``killed`` event."""

    accounts: tuple[str, ...]
    reason: str


ShutdownEffect = EndOperations | StopChildren | KillChildren | ArmDeadline | Finish


class ShutdownFlow:
    """Stop every generation within ``timeout_s``, kill the rest, then ``Finish`` (``stopped``)."""

    def __init__(self, *, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self.phase = Phase.IDLE
        self.waiting: set[str] = set()  # accounts whose generation has not gone yet
        self._started_at = 0.0

    @property
    def done(self) -> bool:
        return self.phase is Phase.DONE

    def begin(self, running: Iterable[str], *, now: float) -> list[ShutdownEffect]:
        """``running``: the accounts that have a generation now."""
        self._started_at = now
        self.waiting = set(running)
        effects: list[ShutdownEffect] = [EndOperations(INTERRUPTED)]
        if not self.waiting:
            return [*effects, self._finish(now, killed=0)]
        self.phase = Phase.STOPPING
        stop = StopChildren(tuple(sorted(self.waiting)))
        return [*effects, stop, ArmDeadline(DeadlineKind.STOP, self.timeout_s)]

    def handle(self, event: ShutdownEvent, *, now: float) -> list[ShutdownEffect]:
        if self.phase is not Phase.STOPPING:
            return []
        if isinstance(event, ChildGone):
            self.waiting.discard(event.account_id)
            return [] if self.waiting else [self._finish(now, killed=0)]
        if event.kind is DeadlineKind.STOP:
            stuck = tuple(sorted(self.waiting))
            self.waiting.clear()
            return [KillChildren(stuck, KILL_REASON), self._finish(now, killed=len(stuck))]
        return []

    def _finish(self, now: float, *, killed: int) -> Finish:
        self.phase = Phase.DONE
        stop_ms = round((now - self._started_at) * 1000.0, 1)
        return Finish(None, {"outcome": "stopped", "killed": killed, "stop_ms": stop_ms})
