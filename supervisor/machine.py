"""Per-account lifecycle flows (update, rollback, restart, disable, remove, kill), pure.

A flow is fed events (what a child or a deadline reported) and answers with effects (what the
supervisor must do next), as plain data. It holds no threads, sockets, clocks or stores: the
caller passes ``now`` in and carries the effects out, in order (``supervisor.effects``). That
keeps every path of the update/rollback design testable as a table of transitions. Which flow
a request gets, if any, is ``supervisor.preflow``'s decision; the supervisor's own shutdown is
the flow of ``supervisor.shutdown``.

    update / rollback (ApplyFlow)
      begin ─ child can swap ─► SWAPPING ─ SwapDone(ok) ──────► DONE applied
        │                         ├─ SwapDone(failed) ──────► DONE rolled back (old session kept)
        │                         ├─ probation expired ─────► REVERTING
        │                         └─ child died ────────────► DONE rolled back (previous started)
        ├─ alive, unusable ─► STOPPING ─ stopped / killed ─► STARTING
        └─ no live child ─────────────────────────────────► STARTING
      STARTING ─ online ──────────────────────────────────► DONE applied
        ├─ login rejected / probation expired ────────────► REVERTING
        └─ child died ────────────────────────────────────► DONE rolled back (previous started)
      REVERTING ─ stopped / killed ───────────────────────► DONE rolled back (previous started)

    restart / disable / remove / release (StopFlow): STOPPING ── stopped, or killed ──► DONE
    kill (KillFlow): done at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Phase(StrEnum):
    IDLE = "idle"  # created, ``begin`` not called yet
    SWAPPING = "swapping"  # the live child registers a second session with the candidate
    STOPPING = "stopping"  # waiting for the current generation to stop
    STARTING = "starting"  # a fresh generation with the candidate must reach ``online``
    REVERTING = "reverting"  # the candidate failed; stopping its generation to go back
    ASKING = "asking"  # a renewal waits for the passport's answer (supervisor.renew_flow)
    DONE = "done"


class ChildCondition(StrEnum):
    """What the supervisor knows about the current generation when a flow begins."""

    SWAPPABLE = "swappable"  # alive and connecting, online or backing off: it can swap live
    UNUSABLE = "unusable"  # alive but parked (needs a cookie, or stopped connecting)
    ABSENT = "absent"  # no generation, or it died


class DeadlineKind(StrEnum):
    PROBATION = "probation"
    STOP = "stop"


@dataclass(frozen=True)
class Candidate:
    """A cookie a flow may put on the child. ``version`` None: held in memory only (unsaved)."""

    cookie: str = field(repr=False)
    version: int | None
    fingerprint: str


# --- events (fed in) ------------------------------------------------------------------


@dataclass(frozen=True)
class SwapDone:
    ok: bool
    reason: str | None = None
    swap_ms: float | None = None


@dataclass(frozen=True)
class Online:
    """The current generation reached ``online`` (registered)."""


@dataclass(frozen=True)
class LoginRejected:
    """The current generation reported ``needs_cookie``: the login session is dead."""

    reason: str


@dataclass(frozen=True)
class ChildDied:
    """The current generation crashed or vanished without being asked to stop."""

    reason: str


@dataclass(frozen=True)
class Stopped:
    """The current generation stopped (graceful ``ChildStopped``)."""


@dataclass(frozen=True)
class DeadlinePassed:
    kind: DeadlineKind


Event = SwapDone | Online | LoginRejected | ChildDied | Stopped | DeadlinePassed

# --- effects (carried out, in order) ---------------------------------------------------


@dataclass(frozen=True)
class TellSwap:
    cookie: str = field(repr=False)


@dataclass(frozen=True)
class StopChild:
    """Ask the current generation to stop gracefully (never waited on)."""


@dataclass(frozen=True)
class KillChild:
    """Trip the current generation's fence, cut its sockets, record a ``killed`` event."""

    reason: str


@dataclass(frozen=True)
class StartChild:
    """Start a fresh generation with ``candidate``."""

    candidate: Candidate


@dataclass(frozen=True)
class ArmDeadline:
    """Schedule ``DeadlinePassed(kind)`` in ``seconds``, replacing the flow's previous deadline."""

    kind: DeadlineKind
    seconds: float


@dataclass(frozen=True)
class Commit:
    """Make ``candidate`` the account's cookie: activate its version, or hold it unsaved."""

    candidate: Candidate


@dataclass(frozen=True)
class Reject:
    """Mark ``candidate`` failed with ``reason`` (a saved version becomes ``failed``)."""

    candidate: Candidate
    reason: str


@dataclass(frozen=True)
class DeleteAccount:
    """Delete the account and its data (the child is gone by now)."""


@dataclass(frozen=True)
class ForgetAccount:
    """Drop the account from this supervisor, keeping its data (cluster hand-off)."""


@dataclass(frozen=True)
class AskPassport:
    """Run the renewal ladder on ``cookie`` off the supervisor's thread; the answer comes
    back as a message (``supervisor.renew_flow``)."""

    cookie: str = field(repr=False)
    session_expired: bool = False


@dataclass(frozen=True)
class ApplyRenewal:
    """Put the renewed ``cookie`` through the update path (source ``renewal``)."""

    cookie: str = field(repr=False)


@dataclass(frozen=True)
class Finish:
    """The operation's outcome: complete the caller's future and, if ``event``, record it."""

    event: str | None
    result: Mapping[str, Any]


Effect = (
    TellSwap
    | StopChild
    | KillChild
    | StartChild
    | ArmDeadline
    | Commit
    | Reject
    | DeleteAccount
    | ForgetAccount
    | AskPassport
    | ApplyRenewal
    | Finish
)


class Flow:
    """Common shape: ``begin`` once, then ``handle`` events until ``phase`` is ``DONE``."""

    phase: Phase = Phase.IDLE

    @property
    def done(self) -> bool:
        return self.phase is Phase.DONE

    def begin(self, child: ChildCondition, *, now: float) -> list[Effect]:
        raise NotImplementedError

    def handle(self, event: Event, *, now: float) -> list[Effect]:
        raise NotImplementedError


class ApplyFlow(Flow):
    """Put ``candidate`` on the account (update or rollback): probation, automatic rollback."""

    def __init__(
        self,
        *,
        operation: str,
        candidate: Candidate,
        previous: Candidate,
        probation_s: float,
        stop_timeout_s: float,
        swap_grace_s: float = 0.0,
    ) -> None:
        # "update", "rollback" or "renewal": prefixes the outcome event
        self.operation = operation
        self.candidate = candidate
        self.previous = previous
        self.probation_s = probation_s
        self.stop_timeout_s = stop_timeout_s
        # the child runs its own swap probation and reports the verdict; ours only catches a
        # child that never answers, so it waits a little longer than the child's
        self.swap_grace_s = swap_grace_s
        self.phase = Phase.IDLE
        self.reason: str | None = None
        self._started_at = 0.0

    def begin(self, child: ChildCondition, *, now: float) -> list[Effect]:
        if child is ChildCondition.SWAPPABLE:
            self.phase = Phase.SWAPPING
            backstop = ArmDeadline(DeadlineKind.PROBATION, self.probation_s + self.swap_grace_s)
            return [TellSwap(self.candidate.cookie), backstop]
        if child is ChildCondition.UNUSABLE:
            self.phase = Phase.STOPPING
            return [StopChild(), self._stop_deadline()]
        return self._start_candidate(now)

    def handle(self, event: Event, *, now: float) -> list[Effect]:
        handler = {
            Phase.SWAPPING: self._swapping,
            Phase.STOPPING: self._stopping,
            Phase.STARTING: self._starting,
            Phase.REVERTING: self._reverting,
        }.get(self.phase)
        return handler(event, now) if handler else []

    # --- phases -------------------------------------------------------------------------

    def _swapping(self, event: Event, now: float) -> list[Effect]:
        if isinstance(event, SwapDone):
            if event.ok:
                return self._applied(event.swap_ms)
            # make-before-break: the child released the new session and kept the old one
            reason = event.reason or "the new session did not register"
            return [Reject(self.candidate, reason), self._rolled_back(reason)]
        if _is_probation_end(event):
            return self._revert(f"new session not registered within {self.probation_s:g}s")
        if isinstance(event, ChildDied | Stopped):
            return self._restart_previous(_death_reason(event, "during the swap"))
        return []

    def _stopping(self, event: Event, now: float) -> list[Effect]:
        if isinstance(event, Stopped | ChildDied):
            return self._start_candidate(now)
        if _is_stop_end(event):
            return [KillChild("stop timed out before the update"), *self._start_candidate(now)]
        return []

    def _starting(self, event: Event, now: float) -> list[Effect]:
        if isinstance(event, Online):
            return self._applied(round((now - self._started_at) * 1000.0, 1))
        if isinstance(event, LoginRejected):
            return self._revert(event.reason)
        if _is_probation_end(event):
            return self._revert(f"not online within {self.probation_s:g}s")
        if isinstance(event, ChildDied | Stopped):
            return self._restart_previous(_death_reason(event, "on start"))
        return []

    def _reverting(self, event: Event, now: float) -> list[Effect]:
        reason = self.reason or "rolled back"
        if isinstance(event, Stopped | ChildDied):
            return [StartChild(self.previous), self._rolled_back(reason)]
        if _is_stop_end(event):
            return [
                KillChild("stop timed out during rollback"),
                StartChild(self.previous),
                self._rolled_back(reason),
            ]
        return []

    # --- steps ----------------------------------------------------------------------------

    def _start_candidate(self, now: float) -> list[Effect]:
        self.phase = Phase.STARTING
        self._started_at = now
        return [StartChild(self.candidate), self._probation()]

    def _revert(self, reason: str) -> list[Effect]:
        self.phase = Phase.REVERTING
        self.reason = reason
        return [Reject(self.candidate, reason), StopChild(), self._stop_deadline()]

    def _restart_previous(self, reason: str) -> list[Effect]:
        return [
            Reject(self.candidate, reason),
            StartChild(self.previous),
            self._rolled_back(reason),
        ]

    def _applied(self, swap_ms: float | None) -> list[Effect]:
        self.phase = Phase.DONE
        result = self._result("applied", reason=None, swap_ms=swap_ms)
        return [Commit(self.candidate), Finish(f"{self.operation}_applied", result)]

    def _rolled_back(self, reason: str) -> Finish:
        self.phase = Phase.DONE
        self.reason = reason
        # a renewal nobody asked for did not work: the event says so plainly
        suffix = "failed" if self.operation == "renewal" else "rolled_back"
        return Finish(f"{self.operation}_{suffix}", self._result("rolled_back", reason, None))

    def _result(self, outcome: str, reason: str | None, swap_ms: float | None) -> dict[str, Any]:
        return {
            "outcome": outcome,
            "version": self.candidate.version,
            "previous_version": self.previous.version,
            "reason": reason,
            "swap_ms": swap_ms,
        }

    def _probation(self) -> ArmDeadline:
        return ArmDeadline(DeadlineKind.PROBATION, self.probation_s)

    def _stop_deadline(self) -> ArmDeadline:
        return ArmDeadline(DeadlineKind.STOP, self.stop_timeout_s)


class StopThen(StrEnum):
    """What a stop is for, i.e. what happens once the generation is gone."""

    RESTART = "restart"
    DISABLE = "disable"
    REMOVE = "remove"
    RELEASE = "release"  # cluster: hand the account to another node


class StopFlow(Flow):
    """Stop the generation gracefully within ``stop_timeout_s``, else kill it; then ``then``."""

    def __init__(self, *, then: StopThen, current: Candidate, stop_timeout_s: float) -> None:
        self.then = then
        self.current = current
        self.stop_timeout_s = stop_timeout_s
        self.phase = Phase.IDLE
        self._stop_requested_at = 0.0

    def begin(self, child: ChildCondition, *, now: float) -> list[Effect]:
        self._stop_requested_at = now
        if child is ChildCondition.ABSENT:
            return self._after_stop(now, killed=False)
        self.phase = Phase.STOPPING
        return [StopChild(), ArmDeadline(DeadlineKind.STOP, self.stop_timeout_s)]

    def handle(self, event: Event, *, now: float) -> list[Effect]:
        if self.phase is not Phase.STOPPING:
            return []
        if isinstance(event, Stopped | ChildDied):
            return self._after_stop(now, killed=False)
        if _is_stop_end(event):
            kill = KillChild(f"did not stop within {self.stop_timeout_s:g}s ({self.then})")
            return [kill, *self._after_stop(now, killed=True)]
        return []

    def _after_stop(self, now: float, *, killed: bool) -> list[Effect]:
        self.phase = Phase.DONE
        stop_ms = round((now - self._stop_requested_at) * 1000.0, 1)
        if self.then is StopThen.RESTART:
            outcome = "killed_and_restarted" if killed else "restarted"
            result = {"outcome": outcome, "stop_ms": stop_ms}
            return [StartChild(self.current), Finish("restarted", result)]
        if self.then is StopThen.DISABLE:
            return [Finish("disabled", {"outcome": "disabled", "stop_ms": stop_ms})]
        if self.then is StopThen.RELEASE:
            result = {"outcome": "released", "stop_ms": stop_ms}
            return [ForgetAccount(), Finish("lease_released", result)]
        return [DeleteAccount(), Finish("removed", {"outcome": "removed", "stop_ms": stop_ms})]


class KillFlow(Flow):
    """Operator kill: fence the generation at once, then a fresh one unless disabled."""

    def __init__(self, *, current: Candidate, restart: bool) -> None:
        self.current = current
        self.restart = restart
        self.phase = Phase.IDLE

    def begin(self, child: ChildCondition, *, now: float) -> list[Effect]:
        self.phase = Phase.DONE
        effects: list[Effect] = []
        if child is not ChildCondition.ABSENT:
            effects.append(KillChild("operator kill"))
        if self.restart:
            effects.append(StartChild(self.current))
        effects.append(Finish(None, {"outcome": "killed"}))
        return effects

    def handle(self, event: Event, *, now: float) -> list[Effect]:
        return []


def _is_probation_end(event: Event) -> bool:
    return isinstance(event, DeadlinePassed) and event.kind is DeadlineKind.PROBATION


def _is_stop_end(event: Event) -> bool:
    return isinstance(event, DeadlinePassed) and event.kind is DeadlineKind.STOP


def _death_reason(event: ChildDied | Stopped, when: str) -> str:
    if isinstance(event, ChildDied):
        return f"child crashed {when}: {event.reason}"
    return f"child stopped {when}"
