"""An account's connection and swap states, pure: events in, effects out.

``AccountMachine`` decides, ``AccountActor`` (actors/account.py) carries out. No threads,
sockets, clocks or stores: every call gets a ``Now`` (both clocks, a jitter draw, the fence,
the login budget) and answers with effects (actors/effects.py), carried out in order.
Sessions are named by id; the shell maps ids to ``Session`` objects and reports back in.
A connect that needs a token call waits (``backoff``) while the login budget is spent,
unless an operator started the generation (``start(operator=True)``).

States (``ChildState``)::

    connecting --registered--> online --session ended--> backoff --timer--> connecting
         |                                  |  (normal close / token changed: at once)
         +------ token API: session expired +--> needs_cookie (an event; no retry loop)

Updating (``swapping``: a ``SwapRequested`` is pending) rides on top of any of them,
make-before-break: a session with the new cookie registers while the current one serves, then
becomes current; the old one is closed, a backfill looks back from the swap's start
(``backfill_after_swap``). A failed swap (token refused, session expired, not registered in
``probation_s``) is closed and the old one serves on (or the cookie that worked reconnects).

Serving: the current session while ``online`` (the old one while a swap is pending). A
fenced generation opens no sessions and starts no backfill (the shell checks the fence before
every send, ACK and write). Hooks for other strategies (the benchmark's naive restart):
``make_room_for_swap``, ``backfill_after_swap``, ``retry_backfill``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from actors import effects as fx
from actors import events, inputs
from actors.budget import budget_wait
from actors.effects import CachedToken, ConnectionView, Effect
from actors.failures import FailureClass, RetryPolicy
from actors.inputs import Now
from actors.messages import ChildState
from actors.swap import PendingSwap
from common.errors import CookieError
from common.settings import Timings
from goofish.cookies import Cookie

# after an unconfirmed reply: long enough for a swap's new session to take over serving
RETRY_BACKFILL_DELAY_S = 0.2
RETRY_BACKFILL_MAX_S = 30.0


class AccountMachine:
    """The connection and swap decisions of one account generation."""

    def __init__(self, timings: Timings) -> None:
        self._timings = timings
        self._retry = RetryPolicy(timings)
        self._state = ChildState.CONNECTING
        self._last_error: str | None = None
        self._online_since: float | None = None
        self._reconnects = 0
        # reconnects by why the previous session ended (a FailureClass, or "swap_failed"),
        # kept as the tuple the view hands out, rebuilt only when a reconnect is counted
        self._reconnect_reasons: tuple[tuple[str, int], ...] = ()
        self._cookie: Cookie | None = None
        self._token: CachedToken | None = None
        self._current: int | None = None
        self._swap: PendingSwap | None = None
        self._next_session_id = 0
        self._reconnect_attempt = 0
        self._reconnect_armed = False
        self._last_failure: FailureClass | None = None
        self._backfill_due = False
        self._backfill_retries = 0
        # the session whose backfill ran last, and whether it came back (without an error)
        self._backfill_session: int | None = None
        self._caught_up = False
        self._exempt = False  # an operator started us: the budget lets the first login through

    # --- what the shell reads ---------------------------------------------------------

    @property
    def state(self) -> ChildState:
        return self._state

    @property
    def serving(self) -> int | None:
        """The registered session replies go out on (the old one while a swap is pending)."""
        return self._current if self._state is ChildState.ONLINE else None

    @property
    def swapping(self) -> bool:
        return self._swap is not None

    def view(self) -> ConnectionView:
        online = self._state is ChildState.ONLINE
        return ConnectionView(
            state=self._state,
            online_since=self._online_since if online else None,
            last_error=self._last_error,
            reconnects=self._reconnects,
            reconnect_reasons=self._reconnect_reasons,
            cookie_fingerprint=self._cookie.fingerprint if self._cookie else None,
            swapping=self._swap is not None,
        )

    # --- entry points -----------------------------------------------------------------

    def start(
        self, cookie: Cookie, token: CachedToken | None, now: Now, *, operator: bool = False
    ) -> list[Effect]:
        """Connect with ``cookie`` (and the stored token); ``operator``: restart/kill/enable."""
        self._cookie, self._token, self._exempt = cookie, token, operator
        return self._connect(now)

    def handle(self, event: object, now: Now) -> list[Effect]:
        handler = self._handlers.get(type(event))
        if handler is None:
            raise TypeError(f"AccountMachine cannot handle {type(event).__name__}")
        return handler(self, event, now)

    # --- swap -------------------------------------------------------------------------

    def _on_swap(self, event: inputs.SwapRequested, now: Now) -> list[Effect]:
        try:
            cookie = Cookie.parse(event.cookie)
        except CookieError as exc:
            return [fx.ReportSwap(event.op_id, ok=False, reason=str(exc))]
        effects: list[Effect] = []
        if self._swap is not None:
            effects += self._fail_swap(f"superseded by swap {event.op_id}", now)
        effects.append(
            fx.Note("swap_started", {"op": event.op_id, "fingerprint": cookie.fingerprint})
        )
        effects += self.make_room_for_swap(now)
        effects += self._cancel_timers()
        session_id = self._new_session_id()
        effects.append(fx.OpenSession(session_id, cookie, token=None, for_swap=True))
        effects.append(fx.ArmProbation(event.op_id, self._timings.probation_s))
        self._swap = PendingSwap(event.op_id, cookie, session_id, now.mono, event.seen_ms)
        effects.append(self._publish())
        return effects

    def make_room_for_swap(self, now: Now) -> list[Effect]:
        """Hook: what happens to the current session before the swap's session opens.

        Make-before-break keeps a serving session; one still connecting serves nothing yet,
        so the new cookie simply takes over the attempt."""
        if self._current is not None and self._state is not ChildState.ONLINE:
            return self._retire(self._current, abort=True)
        return []

    def _commit_swap(self, now: Now) -> list[Effect]:
        swap = self._swap
        assert swap is not None
        self._swap = None
        effects: list[Effect] = [fx.CancelProbation(swap.op_id)]
        swap_ms = (now.mono - swap.started) * 1000
        old = self._current
        self._current = swap.session_id
        self._cookie = swap.cookie
        if swap.token is not None:
            effects += self._keep_token(swap.token)
        if old is not None:
            effects += self._retire(old, abort=False)
        effects += self._cancel_timers()
        self._retry.reset()
        effects += self._online(now)
        effects.append(fx.Note("swap_ok", {"op": swap.op_id, "swap_ms": round(swap_ms, 1)}))
        effects.append(fx.ReportSwap(swap.op_id, ok=True, swap_ms=swap_ms))
        # the old session served throughout only if its own backfill had come back
        served = old is not None and self._caught_up
        effects += self.backfill_after_swap(now, swap_seen_ms=swap.seen_ms if served else None)
        return effects

    def backfill_after_swap(self, now: Now, *, swap_seen_ms: int | None) -> list[Effect]:
        """Hook: THE decision of what to backfill once a swap committed.

        The old session served throughout: only the switch itself can have lost something,
        so look back from the swap's start (``swap_seen_ms``, see
        ``Delivery.swap_backfill_since``) rather than from the cursor; ``None`` (the old
        session's own backfill had not come back, or there was none): from the cursor."""
        return self._start_backfill(now, swap_seen_ms=swap_seen_ms)

    def _fail_swap(
        self, reason: str, now: Now, *, failure: FailureClass | None = None
    ) -> list[Effect]:
        swap = self._swap
        assert swap is not None
        self._swap = None
        effects: list[Effect] = [fx.CancelProbation(swap.op_id)]
        effects += self._retire(swap.session_id, abort=True)
        fields = {"op": swap.op_id, "reason": reason, "failure": str(failure) if failure else None}
        effects.append(fx.Note("swap_failed", fields))
        effects.append(fx.ReportSwap(swap.op_id, ok=False, reason=reason))
        if self._current is not None or self._state is ChildState.NEEDS_COOKIE:
            effects.append(self._publish())
        elif self._state is ChildState.BACKOFF:
            # the swap interrupted a back-off: wait again rather than hammer (risk control)
            again = self._last_failure or FailureClass.NETWORK
            delay = self._retry.delay(again, rand=now.rand, registered_for_s=None)
            effects += self._back_off(delay or 0.0, again, reason)
        else:
            # the old session is gone (closed by the new /reg, or let go before the swap):
            # go back to the cookie that worked
            self._count_reconnect("swap_failed")
            effects += self._connect(now, error=reason)
        return effects

    def _on_probation_expired(self, event: events.ProbationExpired, now: Now) -> list[Effect]:
        if self._swap is not None and self._swap.op_id == event.op_id:
            return self._fail_swap(f"not registered within {self._timings.probation_s}s", now)
        return []

    # --- session reports --------------------------------------------------------------

    def _on_registered(self, event: events.SessionRegistered, now: Now) -> list[Effect]:
        if self._swap is not None and event.session_id == self._swap.session_id:
            return self._commit_swap(now)
        if event.session_id != self._current:
            return []
        self._retry.reset()
        effects = self._online(now)
        effects.append(fx.Note("registered", {}))
        effects += self._start_backfill(now)
        return effects

    def _on_ended(self, event: events.SessionEnded, now: Now) -> list[Effect]:
        if self._swap is not None and event.session_id == self._swap.session_id:
            return self._fail_swap(event.reason, now, failure=event.failure)
        if event.session_id != self._current:
            return []
        self._current = None
        self._online_since = None
        if self._swap is None:
            return self._after_session(event, now)
        # a swap is under way (the new /reg may have closed this one): its outcome decides
        return [fx.Note("session_ended_during_swap", {"reason": event.reason})]

    def _after_session(self, event: events.SessionEnded, now: Now) -> list[Effect]:
        if now.fenced or event.failure is FailureClass.CLOSED_BY_US:
            # fenced or stopping: this generation opens no more connections
            return self._set_state(self._state, error=event.reason)
        if event.failure is FailureClass.AUTH:
            self._token = None  # a refused token must not be reused
        self._last_failure = event.failure
        delay = self._retry.delay(
            event.failure, rand=now.rand, registered_for_s=event.registered_for_s
        )
        if delay is None:
            return self._needs_cookie(event.reason)
        if delay <= 0:
            self._count_reconnect(event.failure)
            return self._connect(now, error=event.reason)
        return self._back_off(delay, event.failure, event.reason)

    def _on_token(self, event: events.TokenIssued, now: Now) -> list[Effect]:
        token = CachedToken(event.token, event.did, now.wall)
        if self._swap is not None and event.session_id == self._swap.session_id:
            self._swap.token = token
            return []
        if event.session_id == self._current:
            return self._keep_token(token)
        return []

    def _on_cookie_merged(self, event: events.CookieMerged, now: Now) -> list[Effect]:
        merged = Cookie.parse(event.new_value)
        effects: list[Effect] = [
            fx.RecordCookieRefresh(event.old_value, event.new_value, merged.fingerprint)
        ]
        if self._swap is not None and event.session_id == self._swap.session_id:
            self._swap.cookie = merged
        elif event.session_id == self._current:
            self._cookie = merged
            effects.append(self._publish())
        return effects

    def _on_reconnect(self, event: events.Reconnect, now: Now) -> list[Effect]:
        if event.attempt != self._reconnect_attempt or self._state is not ChildState.BACKOFF:
            return []  # a timer that was cancelled, or overtaken
        self._reconnect_armed = False
        self._count_reconnect(self._last_failure or FailureClass.NETWORK)
        return self._connect(now, error=self._last_error)

    # --- delivery outcomes and backfill -----------------------------------------------

    def _on_push_handled(self, event: inputs.PushHandled, now: Now) -> list[Effect]:
        effects: list[Effect] = []
        if event.has_deferred and self.serving is not None:
            effects += self.retry_backfill()  # e.g. the database failed for a moment
        effects.append(self._publish())
        return effects

    def _on_backfill_settled(self, event: inputs.BackfillSettled, now: Now) -> list[Effect]:
        if event.session_id == self._backfill_session:
            self._caught_up = True
        effects: list[Effect] = []
        if not event.has_deferred:
            self._backfill_retries = 0
        elif self.serving is not None:
            effects += self.retry_backfill()
        effects.append(self._publish())
        return effects

    def _on_reply_settled(self, event: inputs.ReplySettled, now: Now) -> list[Effect]:
        effects = [] if event.confirmed else self.retry_backfill()
        effects.append(self._publish())
        return effects

    def retry_backfill(self) -> list[Effect]:
        """Hook: a message waits (a reply's session went away unanswered, e.g. released by a
        swap, or the database failed): a backfill on the serving session settles it against
        the history, after growing waits so a message the history does not bring back cannot
        spin. Debounced: one timer at a time."""
        if self._backfill_due:
            return []
        self._backfill_due = True
        delay = min(RETRY_BACKFILL_MAX_S, RETRY_BACKFILL_DELAY_S * 2**self._backfill_retries)
        self._backfill_retries = min(self._backfill_retries + 1, 16)
        return [fx.ArmBackfill(delay)]

    def _on_backfill_due(self, event: events.BackfillDue, now: Now) -> list[Effect]:
        self._backfill_due = False
        return self._start_backfill(now)

    def _on_backfill_begun(self, event: inputs.BackfillBegun, now: Now) -> list[Effect]:
        self._backfill_session = event.session_id
        self._caught_up = False
        return []

    def _on_backfill_postponed(self, event: inputs.BackfillPostponed, now: Now) -> list[Effect]:
        return self.retry_backfill()

    def _start_backfill(self, now: Now, *, swap_seen_ms: int | None = None) -> list[Effect]:
        if self._current is None or now.fenced:
            return []
        return [fx.StartBackfill(self._current, swap_seen_ms=swap_seen_ms)]

    # --- the end ----------------------------------------------------------------------

    def _on_stopping(self, event: inputs.Stopping, now: Now) -> list[Effect]:
        effects = self._cancel_timers()
        self._current = None
        self._swap = None
        effects.append(fx.CloseAll())
        effects += self._set_state(ChildState.STOPPED)
        return effects

    def _on_crashed(self, event: inputs.Crashed, now: Now) -> list[Effect]:
        effects = self._cancel_timers()
        effects.append(fx.AbortAll())
        self._state = ChildState.STOPPED  # no ReportState: the shell reports the crash
        self._last_error = event.error
        effects.append(self._publish())
        return effects

    _handlers: ClassVar[dict[type, Callable[[AccountMachine, Any, Now], list[Effect]]]] = {
        inputs.SwapRequested: _on_swap,
        events.ProbationExpired: _on_probation_expired,
        events.SessionRegistered: _on_registered,
        events.SessionEnded: _on_ended,
        events.TokenIssued: _on_token,
        events.CookieMerged: _on_cookie_merged,
        events.Reconnect: _on_reconnect,
        inputs.PushHandled: _on_push_handled,
        inputs.BackfillSettled: _on_backfill_settled,
        inputs.ReplySettled: _on_reply_settled,
        events.BackfillDue: _on_backfill_due,
        inputs.BackfillBegun: _on_backfill_begun,
        inputs.BackfillPostponed: _on_backfill_postponed,
        inputs.Stopping: _on_stopping,
        inputs.Crashed: _on_crashed,
    }

    # --- helpers ----------------------------------------------------------------------

    def _connect(self, now: Now, *, error: str | None = None) -> list[Effect]:
        assert self._cookie is not None
        if now.fenced:
            return []
        token = self._token
        if token is not None and now.wall - token.issued_at >= self._timings.token_refresh_s:
            token = None  # stale: fetch a fresh one
        # "may I call the token API now?": not past the login budget, unless an operator asks
        if token is None and not self._exempt and (wait := budget_wait(now.budget, now.rand)):
            return [fx.BudgetExhausted(*wait), *self._back_off(wait[0], "login_budget", wait[1])]
        self._exempt = self._exempt and token is not None  # until its first token call ...
        self._current = self._new_session_id()
        age = now.wall - token.issued_at if token else 0.0
        value = None if token is None else token.token
        opened = fx.OpenSession(self._current, self._cookie, token=value, token_age_s=age)
        return [opened, *self._set_state(ChildState.CONNECTING, error=error)]

    def _count_reconnect(self, reason: str) -> None:
        self._reconnects += 1
        counts = dict(self._reconnect_reasons)
        counts[str(reason)] = counts.get(str(reason), 0) + 1
        self._reconnect_reasons = tuple(sorted(counts.items()))

    def _new_session_id(self) -> int:
        self._next_session_id += 1
        return self._next_session_id

    def _retire(self, session_id: int, *, abort: bool) -> list[Effect]:
        """Let a session go; its reports are ignored from now on."""
        if self._current == session_id:
            self._current = None
        return [fx.CloseSession(session_id, abort=abort)]

    def _back_off(self, delay: float, failure: str, reason: str | None) -> list[Effect]:
        self._reconnect_attempt += 1
        # the reason names what to do (risk control: the punish URL to open)
        fields = {"failure": str(failure), "delay_s": round(delay, 3), "reason": reason}
        effects: list[Effect] = [fx.Note("backoff", fields)]
        effects += self._set_state(ChildState.BACKOFF, error=reason)
        effects.append(fx.ArmReconnect(self._reconnect_attempt, delay))
        self._reconnect_armed = True
        return effects

    def _cancel_timers(self) -> list[Effect]:
        effects: list[Effect] = [fx.CancelReconnect()] if self._reconnect_armed else []
        self._reconnect_armed = False
        self._reconnect_attempt += 1  # a timer that already fired is ignored too
        return effects

    def _keep_token(self, token: CachedToken) -> list[Effect]:
        self._token = token
        return [fx.SaveToken(token)]

    def _online(self, now: Now) -> list[Effect]:
        self._online_since, self._exempt = now.wall, False  # ... or until it is online
        return self._set_state(ChildState.ONLINE)

    def _needs_cookie(self, reason: str) -> list[Effect]:
        note = fx.Note("needs_cookie", {"reason": reason}, level="warning")  # a person must act
        recorded: list[Effect] = [note, fx.RecordNeedsCookie(reason)]
        return recorded + self._set_state(ChildState.NEEDS_COOKIE, error=reason)

    def _set_state(self, state: ChildState, *, error: str | None = None) -> list[Effect]:
        changed = state is not self._state
        self._state = state
        if error is not None:
            self._last_error = error
        effects: list[Effect] = [self._publish()]
        if changed:
            effects.append(fx.ReportState(state, error))
        return effects

    def _publish(self) -> fx.Publish:
        return fx.Publish(self.view())
