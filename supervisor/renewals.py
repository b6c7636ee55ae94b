"""Session renewal for every account: timers, the passport call, what each answer changes.

``supervisor.renewal_plan`` decides (when, and what an answer means), ``supervisor.renew_flow``
is the per-account operation; this is the shell between them and the world. It runs on the
supervisor's thread, except the passport call itself: ``ask`` submits
``PassportClient.renew`` to the IO loop and the answer comes back to the supervisor as a
``RenewalAnswered`` message (told, so the supervisor never waits on the network).
"""

from __future__ import annotations

import concurrent.futures
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog

from actors.budget import LoginBudget
from actors.messages import ChildState
from common.errors import CookieError
from common.io_loop import IoLoop
from common.settings import Timings
from goofish.cookies import Cookie
from goofish.passport_client import PassportClient, RenewalOutcome
from supervisor import machine as m
from supervisor import renewal_plan as plan
from supervisor.book import AccountBook
from supervisor.entry import AccountEntry
from supervisor.renew_flow import PassportAnswered, RenewFlow
from supervisor.requests import Renew, RenewalAnswered, RenewalDue

log = structlog.get_logger(__name__)

# a proactive renewal waits for a serving session: its swap then has the best chance
_NOT_YET = frozenset({ChildState.CONNECTING, ChildState.BACKOFF})
# the ladder sends at most three requests (silentHasLogin, hasLogin, setLoginSettings)
_LADDER_CALLS = 3


class Renewals:
    """Renewal timers and passport calls for the supervisor's accounts.

    Without a ``passport`` client nothing is renewed (``enabled`` is false): a dead session
    is left to the child, which records ``needs_cookie`` itself, as before renewal existed.
    """

    def __init__(
        self,
        passport: PassportClient | None,
        *,
        io: IoLoop,
        timings: Timings,
        book: AccountBook,
        tell_self: Callable[[object], None],
        budget: LoginBudget | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self._passport = passport
        self._io = io
        self._timings = timings
        self._book = book
        self._tell_self = tell_self
        self._budget = budget
        self._clock = clock
        self._wall = wall
        self._rand = rand
        self._spacer = plan.Spacer(timings.renew_spacing_s)
        # backstop for the whole ladder, past the client's own timeouts (about the token call's)
        self.deadline_s = _LADDER_CALLS * timings.token_timeout_s + timings.stop_timeout_s

    @property
    def enabled(self) -> bool:
        return self._passport is not None

    # --- timers -----------------------------------------------------------------------------

    def track(self, entry: AccountEntry) -> None:
        """Schedule the account's first proactive renewal (jittered: a fleet spreads out)."""
        if not self.enabled:
            return
        self._arm(entry, plan.interval_s(self._timings, self._rand()))

    def _arm(
        self, entry: AccountEntry, delay_s: float, *, reactive: bool = False, slotted: bool = False
    ) -> None:
        state = entry.renewal
        if state.cancel_timer is not None:
            state.cancel_timer()
        state.timer_token += 1
        due = RenewalDue(entry.account_id, state.timer_token, reactive=reactive, slotted=slotted)
        state.cancel_timer = self._io.call_later(max(0.0, delay_s), self._tell_self, due)

    def _arm_next(self, entry: AccountEntry) -> None:
        state = entry.renewal
        delay = plan.next_delay_s(
            self._timings,
            rand=self._rand(),
            wall=self._wall(),
            session_expires_at=state.session_expires_at,
        )
        self._arm(entry, delay)

    def due(self, entry: AccountEntry, message: RenewalDue) -> Renew | None:
        """A timer fired: the renewal to queue now, if any (else the timer is re-armed)."""
        state = entry.renewal
        if message.token != state.timer_token:
            return None  # overtaken by a later arm
        state.cancel_timer = None
        if message.reactive:
            state.waiting = False
            if _child_state(entry) is not ChildState.NEEDS_COOKIE:
                self._arm_next(entry)  # it came back on its own (an update, a restart)
                return None
            return self._slotted(entry, message, reactive=True)
        if not self._may_renew(entry):
            if _child_state(entry) in _NOT_YET:  # soon back online, probably: look again soon
                self._arm(entry, min(self._timings.renew_min_gap_s, self._timings.renew_interval_s))
            else:
                self._arm_next(entry)
            return None
        return self._slotted(entry, message, reactive=False)

    def _slotted(self, entry: AccountEntry, message: RenewalDue, *, reactive: bool) -> Renew | None:
        if self._over_budget(entry, reactive=reactive):
            return None
        if not message.slotted:
            wait = self._spacer.take(self._clock())
            if wait > 0:
                entry.renewal.waiting = reactive
                self._arm(entry, wait, reactive=reactive, slotted=True)
                return None
        if _renewal_queued(entry):
            return None
        return Renew(entry.account_id, trigger="reactive" if reactive else "scheduled")

    def _over_budget(self, entry: AccountEntry, *, reactive: bool) -> bool:
        """A renewal the service starts on its own waits while the login budget is spent
        (``ctl renew`` never does: it is queued as the operator's, not through here)."""
        if self._budget is None:
            return False
        view = self._budget.view(entry.account_id)
        if view.left > 0:
            return False
        wait_s = view.refill_s * (1.0 + 0.3 * self._rand())
        if self._budget.note_exhausted(entry.account_id):
            reason = (
                f"login budget: {view.per_h} logins in the last hour; "
                f"renewing in {wait_s:.0f}s instead of asking again"
            )
            fields = {"per_h": view.per_h, "retry_in_s": round(wait_s, 1), "reason": reason}
            self._book.record("login_budget_exhausted", entry.account_id, **fields)
            log.warning("login_budget_exhausted", account=entry.account_id, **fields)
        entry.renewal.waiting = reactive
        self._arm(entry, wait_s, reactive=reactive)
        return True

    def _may_renew(self, entry: AccountEntry) -> bool:
        return (
            entry.enabled
            and entry.failed is None
            and entry.renewal.needs_login is None
            and _child_state(entry) is ChildState.ONLINE
        )

    # --- the token API said "session expired" ------------------------------------------------

    def session_expired(self, entry: AccountEntry, reason: str) -> Renew | None:
        """The child parked in ``needs_cookie``: renew (now or after the gap), or give up."""
        if not self.enabled:  # the child wrote the ``needs_cookie`` event itself
            log.info("account_needs_cookie", account=entry.account_id, error=reason)
            return None
        if not entry.enabled or entry.renewal.gave_up or _renewal_queued(entry):
            return None
        decision = plan.on_session_expired(
            entry.renewal, self._timings, now=self._clock(), account=entry.account_id
        )
        if isinstance(decision, plan.GiveUp):
            self.give_up(entry, decision.reason)
            return None
        if isinstance(decision, plan.Wait):
            entry.renewal.waiting = True
            self._book.record(
                "renewal_skipped",
                entry.account_id,
                why="min_gap",
                reason=f"the session expired; renewing in {decision.delay_s:.1f}s "
                f"(at most one renewal per {self._timings.renew_min_gap_s:g}s)",
            )
            self._arm(entry, decision.delay_s, reactive=True)
            return None
        log.info("renewal_reactive", account=entry.account_id, error=reason)
        return self._slotted(entry, RenewalDue(entry.account_id, 0, reactive=True), reactive=True)

    def give_up(self, entry: AccountEntry, reason: str) -> None:
        """Only a person can help: ``needs_cookie`` with what to do; no retry loop."""
        state = entry.renewal
        state.waiting = False
        state.gave_up = True
        state.needs_login = reason
        if state.cancel_timer is not None:
            state.cancel_timer()
            state.cancel_timer = None
        self._book.record("needs_cookie", entry.account_id, reason=reason)
        log.info("account_needs_cookie", account=entry.account_id, error=reason)

    def after_flow(self, entry: AccountEntry) -> Renew | None:
        """An operation ended: a session that died meanwhile is looked at now."""
        state = entry.renewal
        if not self.enabled or entry.queue or entry.flow or state.waiting or state.gave_up:
            return None
        if _child_state(entry) is not ChildState.NEEDS_COOKIE:
            return None
        return self.session_expired(entry, "the session expired during an operation")

    def operator_acted(self, entry: AccountEntry) -> None:
        entry.renewal.reset()
        if self.enabled and entry.renewal.cancel_timer is None:
            self._arm_next(entry)

    def online(self, entry: AccountEntry) -> None:
        entry.renewal.waiting = entry.renewal.gave_up = False

    # --- the passport call ---------------------------------------------------------------------

    def ask(self, entry: AccountEntry, effect: m.AskPassport) -> None:
        """Run the ladder on the IO loop; its answer is told back as ``RenewalAnswered``."""
        assert self._passport is not None  # a renewal flow only begins when enabled
        entry.renewal.last_attempt = self._clock()
        account_id, flow_id = entry.account_id, entry.flow_id
        try:
            cookie = Cookie.parse(effect.cookie)
        except CookieError as exc:
            self._tell_self(RenewalAnswered(account_id, flow_id, LadderFailed(str(exc))))
            return
        future = self._io.submit(
            self._passport.renew(cookie, session_expired=effect.session_expired, proxy=entry.proxy)
        )

        def done(f: concurrent.futures.Future[RenewalOutcome]) -> None:
            outcome: RenewalOutcome | LadderFailed
            try:
                outcome = f.result()
            except BaseException as exc:  # noqa: BLE001 (survival boundary: every call is answered)
                log.error("renewal_call_failed", account=account_id, error=repr(exc))
                outcome = LadderFailed(f"the renewal call failed ({type(exc).__name__})")
            self._tell_self(RenewalAnswered(account_id, flow_id, outcome))

        future.add_done_callback(done)

    def answered(
        self, entry: AccountEntry, message: RenewalAnswered, *, now: float
    ) -> list[m.Effect]:
        """The ladder answered: judge it, reschedule, and feed the flow (its effects)."""
        flow = entry.flow
        # stale when the flow ended meanwhile (its deadline passed)
        if entry.flow_id != message.flow_id or not isinstance(flow, RenewFlow):
            return []
        return flow.answered(self._judge(entry, flow, message.outcome), now=now)

    def _judge(
        self, entry: AccountEntry, flow: RenewFlow, outcome: RenewalOutcome | LadderFailed
    ) -> PassportAnswered:
        state = entry.renewal
        reactive = flow.session_expired
        verdict = plan.judge(
            outcome.kind,
            reactive=reactive,
            failures=state.failures,
            timings=self._timings,
            rand=self._rand(),
            wall=self._wall(),
            retry_at=outcome.retry_at,
        )
        if self._budget is not None:  # every renewal call counts, an operator's too
            self._budget.spend(entry.account_id, outcome.calls)
        hint = plan.login_hint(entry.account_id)
        message = outcome.message.replace(plan.LOGIN_HINT, hint)
        log.info(
            "renewal_answered",
            account=entry.account_id,
            kind=outcome.kind,
            trigger=flow.trigger,
            calls=outcome.calls,
            endpoint=outcome.endpoint,
        )
        if outcome.kind == "renewed":
            state.reactive_apply = reactive
            state.failures = 0
            state.last_renewal_at = self._wall()
            state.session_expires_at = outcome.session_expires_at
        elif verdict.retry_in_s is not None and outcome.kind != "fatigue":
            state.failures += 1
        self._reschedule(entry, verdict, reactive=reactive, message=message)
        details: dict[str, Any] = {"endpoint": outcome.endpoint, "calls": outcome.calls}
        if outcome.punish_url:
            details["punish_url"] = outcome.punish_url
        if verdict.retry_in_s is not None:
            details["retry_in_s"] = round(verdict.retry_in_s, 3)
        return PassportAnswered(
            outcome.kind,
            verdict,
            message,
            cookie=outcome.cookie.serialize() if verdict.apply and outcome.cookie else "",
            details=tuple(details.items()),
        )

    def _reschedule(
        self, entry: AccountEntry, verdict: plan.Verdict, *, reactive: bool, message: str
    ) -> None:
        dead = reactive or _child_state(entry) is ChildState.NEEDS_COOKIE
        if verdict.give_up:
            # no more renewals for this cookie; a dead session goes to ``needs_cookie`` with
            # this reason once the flow has recorded its outcome (``after_flow``), a live one
            # when it dies
            entry.renewal.needs_login = message
            entry.renewal.waiting = False
            return
        if verdict.retry_in_s is not None:
            entry.renewal.waiting = dead
            self._arm(entry, verdict.retry_in_s, reactive=dead)
            return
        self._arm_next(entry)

    def finished(self, entry: AccountEntry, event: str, result: dict[str, Any]) -> None:
        """The renewed cookie's swap ended (``renewal_applied`` or ``renewal_failed``)."""
        state = entry.renewal
        if event == "renewal_applied":
            state.apply_failed = state.needs_login = None
        elif state.reactive_apply:
            # a proactive one's failure leaves the old session serving, and its death one
            # more (reactive) try; a reactive one's failure would only repeat itself
            state.apply_failed = str(result.get("reason") or "rolled back")


@dataclass(frozen=True)
class LadderFailed:
    """A ladder that could not run at all; read like an ``error`` RenewalOutcome."""

    message: str
    kind: str = "error"
    cookie: Cookie | None = None
    endpoint: str = ""
    punish_url: str = ""
    retry_at: float | None = None
    session_expires_at: float | None = None
    calls: int = 0


def _child_state(entry: AccountEntry) -> ChildState | None:
    return entry.child.read().state if entry.child is not None else None


def _renewal_queued(entry: AccountEntry) -> bool:
    return isinstance(entry.flow, RenewFlow) or any(isinstance(r, Renew) for r in entry.queue)
