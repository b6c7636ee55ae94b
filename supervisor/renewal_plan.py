"""When an account renews its login session, and what a renewal's answer means. Pure.

The facts are in docs/login.md. ``PassportClient.renew`` runs the ladder (which passport call
when, the fatigue window); this module decides the timing around it and what each answer
leads to, with ``now`` passed in, so both are tables (tests/test_supervisor_renewal_plan.py).
``supervisor.renewals`` carries the decisions out (timers, the passport call, events).

- **Proactive**: every ``renew_interval_s`` +- ``renew_jitter`` (a random draw per account,
  so a fleet started together spreads out), and before the session's known end. The whole
  fleet starts at most one renewal per ``renew_spacing_s`` (``Spacer``).
- **Reactive**: the token API said the session expired: renew at once (the fatigue window
  does not apply), but at most once per ``renew_min_gap_s``; give up (``needs_cookie``,
  a person runs ``ctl login``) when renewal is known to be impossible for this cookie or the
  last renewed cookie did not take. No retry loop.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

from common.settings import Timings
from goofish.passport import LOGIN_HINT


def login_hint(account: str) -> str:
    """What a person does when renewal cannot help, for ``account`` (docs/login.md)."""
    return LOGIN_HINT.replace("ctl login ACCOUNT", f"ctl login {account}")


@dataclass
class RenewalState:
    """One account's renewal bookkeeping; only the supervisor's thread touches it."""

    timer_token: int = 0
    cancel_timer: Callable[[], None] | None = None
    last_attempt: float | None = None  # monotonic: the last passport call (the min gap)
    last_renewal_at: float | None = None  # epoch seconds: the last renewed session
    session_expires_at: float | None = None  # epoch seconds, when the passport said so
    failures: int = 0  # consecutive failed renewals (error, risk control)
    # renewal cannot help this cookie (long-login expired, refused): why, with the hint
    needs_login: str | None = None
    # a dead session's renewed cookie failed its probation: why (a second try would loop)
    apply_failed: str | None = None
    reactive_apply: bool = False  # the renewed cookie being swapped in replaces a dead session
    waiting: bool = False  # the session is dead and a renewal is due later (risk, error, gap)
    gave_up: bool = False  # ``needs_cookie`` was recorded: nothing more until a person acts

    def reset(self) -> None:
        """A person acted on the account (update, login, restart): renewal may help again."""
        self.needs_login = self.apply_failed = None
        self.failures = 0
        self.gave_up = False


def interval_s(timings: Timings, rand: float) -> float:
    """The next proactive renewal's distance: the interval, +- the jitter."""
    return timings.renew_interval_s * (1.0 + timings.renew_jitter * (2.0 * rand - 1.0))


def next_delay_s(
    timings: Timings, *, rand: float, wall: float, session_expires_at: float | None
) -> float:
    """Seconds to the next proactive renewal: the jittered interval, and no later than
    three quarters of the way to the session's known end."""
    delay = interval_s(timings, rand)
    if session_expires_at is not None:
        delay = min(delay, max(timings.renew_spacing_s, 0.75 * (session_expires_at - wall)))
    return max(0.0, delay)


class Spacer:
    """Fleet-wide spacing: each renewal start takes the next free slot."""

    def __init__(self, spacing_s: float) -> None:
        self._spacing_s = spacing_s
        self._next = -math.inf

    def take(self, now: float) -> float:
        """Reserve a slot; seconds from ``now`` until it (0: go now)."""
        start = max(now, self._next)
        self._next = start + self._spacing_s
        return start - now


# --- the token API said "session expired" -------------------------------------------------


@dataclass(frozen=True)
class RenewNow:
    pass


@dataclass(frozen=True)
class Wait:
    delay_s: float


@dataclass(frozen=True)
class GiveUp:
    reason: str


def on_session_expired(
    state: RenewalState, timings: Timings, *, now: float, account: str
) -> RenewNow | Wait | GiveUp:
    """What a dead session gets: a renewal now, one after the min gap, or a person."""
    if state.needs_login is not None:
        return GiveUp(state.needs_login)
    if state.apply_failed is not None:
        hint = login_hint(account)
        why = f"the session expired and its renewal did not work ({state.apply_failed})"
        return GiveUp(f"{why}; {hint}")
    if state.last_attempt is not None and now - state.last_attempt < timings.renew_min_gap_s:
        return Wait(state.last_attempt + timings.renew_min_gap_s - now)
    return RenewNow()


# --- a renewal's answer -------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """What one ``RenewalOutcome.kind`` leads to.

    ``event``: what is recorded (``None`` when renewed: the swap's own ``renewal_applied`` or
    ``renewal_failed`` follows); ``outcome``: the ``renew`` answer (``update``'s words);
    ``apply``: the renewed cookie goes through the update path; ``retry_in_s``: try again
    that soon (``None``: at the next interval, or never after ``give_up``); ``give_up``:
    renewal cannot help this cookie, a person must log in.
    """

    event: str | None
    outcome: str
    apply: bool = False
    retry_in_s: float | None = None
    give_up: bool = False


def judge(
    kind: str,
    *,
    reactive: bool,
    failures: int,
    timings: Timings,
    rand: float,
    wall: float,
    retry_at: float | None = None,
) -> Verdict:
    """The verdict on a renewal answer of ``kind`` (``failures``: the ones before it)."""
    failed = Verdict("renewal_failed", "rolled_back")  # the old cookie keeps serving
    if kind == "renewed":
        return Verdict(None, "applied", apply=True)
    if kind == "fatigue":
        wait = timings.renew_min_gap_s if retry_at is None else retry_at - wall
        skipped = Verdict("renewal_skipped", "unchanged")
        return replace(skipped, retry_in_s=max(timings.renew_spacing_s, wait))
    if kind == "unchanged":
        # a live session may simply not need a new one yet; a dead one is not coming back
        return (
            replace(failed, give_up=True) if reactive else Verdict("renewal_skipped", "unchanged")
        )
    if kind in ("long_login_expired", "refused"):
        return replace(failed, give_up=True)
    if kind == "risk_control":
        return replace(failed, retry_in_s=timings.risk_backoff.delay(failures, rand))
    # "error": the passport was not reached or answered nonsense
    gap = timings.renew_min_gap_s * 2 ** min(failures, 20)
    return replace(failed, retry_in_s=min(timings.renew_interval_s, gap))
