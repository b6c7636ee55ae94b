"""The renewal flow of one account, pure: ask the passport, then hand over to the update path.

Queued like every operation on the account (never beside an update or a restart), it asks
for a new login session (``AskPassport``: ``supervisor.renewals`` runs the ladder on the IO
loop and the answer arrives as a message, so the supervisor never waits on the network) and
then either puts the renewed cookie through the update path (``ApplyRenewal``: a new cookie
version, source ``renewal``, make-before-break and probation like ``ctl update``; its events
are ``renewal_applied`` / ``renewal_failed``) or finishes with what the answer meant
(``supervisor.renewal_plan.judge``)::

    begin ─► ASKING ─ renewed ───────────────► DONE  ApplyRenewal (the update's answer follows)
               ├─ anything else ─────────────► DONE  Finish renewal_failed / renewal_skipped
               └─ no answer by the deadline ─► DONE  Finish renewal_failed
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from supervisor import machine as m
from supervisor.renewal_plan import Verdict


@dataclass(frozen=True)
class PassportAnswered:
    """The ladder's answer, judged (``supervisor.renewals`` builds it from a RenewalOutcome)."""

    kind: str  # RenewalOutcome.kind
    verdict: Verdict
    message: str
    cookie: str = field(repr=False, default="")  # the renewed cookie (a secret)
    details: tuple[tuple[str, Any], ...] = ()  # for the event: endpoint, punish_url, ...


class RenewFlow(m.Flow):
    """One renewal of ``current``; ``trigger``: ``scheduled``, ``reactive`` or ``operator``."""

    def __init__(
        self,
        *,
        current: m.Candidate,
        trigger: str,
        deadline_s: float,
        session_expired: bool = False,
    ) -> None:
        self.current = current
        self.trigger = trigger
        self.deadline_s = deadline_s
        # the token API said the session is dead (the account is down meanwhile): the
        # ladder ignores the fatigue window and a renewal that changes nothing gives up
        self.session_expired = session_expired or trigger == "reactive"
        self.phase = m.Phase.IDLE

    def begin(self, child: m.ChildCondition, *, now: float) -> list[m.Effect]:
        self.phase = m.Phase.ASKING
        return [
            m.AskPassport(self.current.cookie, session_expired=self.session_expired),
            m.ArmDeadline(m.DeadlineKind.PROBATION, self.deadline_s),
        ]

    def handle(self, event: m.Event, *, now: float) -> list[m.Effect]:
        # the child's reports do not matter while asking (a dead session is looked at again
        # once the flow is over); only the backstop does
        if self.phase is m.Phase.ASKING and isinstance(event, m.DeadlinePassed):
            self.phase = m.Phase.DONE
            reason = f"the passport did not answer within {self.deadline_s:g}s"
            return [m.Finish("renewal_failed", self._result("rolled_back", "error", reason))]
        return []

    def answered(self, answer: PassportAnswered, *, now: float) -> list[m.Effect]:
        if self.phase is not m.Phase.ASKING:
            return []
        self.phase = m.Phase.DONE
        verdict = answer.verdict
        if verdict.apply:
            return [m.ApplyRenewal(answer.cookie)]
        result = self._result(verdict.outcome, answer.kind, answer.message)
        if verdict.event == "renewal_skipped":
            result["why"] = answer.kind  # fatigue or unchanged (as the min gap's "min_gap")
        result.update(answer.details)
        return [m.Finish(verdict.event, result)]

    def _result(self, outcome: str, kind: str, reason: str) -> dict[str, Any]:
        return {
            "outcome": outcome,
            "version": self.current.version,
            "previous_version": None,
            "reason": reason,
            "swap_ms": None,
            "renewal": kind,
            "trigger": self.trigger,
        }
