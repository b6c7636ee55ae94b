"""AccountMachine, cell by cell: every (state, event) pair, effects asserted as data.

No sockets, threads or clocks: a machine is driven into each state by feeding it events,
then handed one more; the table says which state it ends in, whether a swap is still pending,
and the effects it answers with, in order. ``Publish`` is matched by type (its view is checked
where it matters, below); a pattern made with ``like`` matches the fields it names.
The socket tests (test_account_*.py) run the same paths against the simulator.
"""

from __future__ import annotations

from dataclasses import replace
from itertools import product
from typing import Any

import pytest

from actors import effects as fx
from actors.budget import BudgetView, budget_wait
from actors.events import (
    BackfillDue,
    CookieMerged,
    ProbationExpired,
    Reconnect,
    SessionEnded,
    SessionRegistered,
    TokenIssued,
)
from actors.failures import FailureClass as F
from actors.inputs import (
    BackfillBegun,
    BackfillPostponed,
    BackfillSettled,
    Crashed,
    Now,
    PushHandled,
    ReplySettled,
    Stopping,
    SwapRequested,
)
from actors.machine import AccountMachine
from actors.messages import ChildState as S
from bench.harness.naive_account import CloseAndWait, NaiveAccountMachine, Pause
from common.settings import Backoff, Timings
from goofish.cookies import Cookie

TIMINGS = Timings(
    heartbeat_s=5.0,
    probation_s=3.0,
    token_refresh_s=100.0,
    network_backoff=Backoff(base_s=1.0, cap_s=8.0, jitter=0.0),
    auth_backoff=Backoff(base_s=2.0, cap_s=16.0, jitter=0.0),
    risk_backoff=Backoff(base_s=10.0, cap_s=100.0, jitter=0.0),
)
OLD = Cookie.parse("unb=2001; _m_h5_tk=old_1")
NEW = Cookie.parse("unb=2001; _m_h5_tk=new_1")
NEWER = Cookie.parse("unb=2001; _m_h5_tk=newer_1")
MERGED = Cookie.parse("unb=2001; _m_h5_tk=merged_1")
NOW = Now(wall=1000.0, mono=500.0)
LATER = Now(wall=1000.5, mono=500.5)
FENCED = replace(LATER, fenced=True)

# --- the states (session 1: the first connection; 2: the next one opened) --------------


def connecting(machine_class: type[AccountMachine] = AccountMachine) -> AccountMachine:
    machine = machine_class(TIMINGS)
    machine.start(OLD, None, NOW)  # opens session 1
    return machine


def online(machine_class: type[AccountMachine] = AccountMachine) -> AccountMachine:
    machine = connecting(machine_class)
    machine.handle(SessionRegistered(1), NOW)
    machine.handle(BackfillBegun(1), NOW)  # its backfill has not come back yet
    return machine


def backoff() -> AccountMachine:
    machine = online()
    machine.handle(SessionEnded(1, "dropped", F.NETWORK, registered_for_s=1.0), NOW)
    return machine  # Reconnect(1) armed


def needs_cookie() -> AccountMachine:
    machine = online()
    machine.handle(SessionEnded(1, "login gone", F.SESSION_EXPIRED), NOW)
    return machine


def updating() -> AccountMachine:
    machine = online()
    machine.handle(SwapRequested(7, NEW.serialize(), seen_ms=5000), NOW)  # opens session 2
    return machine


STATES = {
    "connecting": connecting,
    "online": online,
    "backoff": backoff,
    "needs_cookie": needs_cookie,
    "updating": updating,  # a swap pending while online
}

EVENTS: dict[str, tuple[object, Now]] = {
    "swap": (SwapRequested(9, NEWER.serialize(), seen_ms=6000), LATER),
    "swap, bad cookie": (SwapRequested(9, "no unb here=1", seen_ms=6000), LATER),
    "registered 1": (SessionRegistered(1), LATER),
    "registered 2": (SessionRegistered(2), LATER),
    "registered, unknown": (SessionRegistered(99), LATER),
    "ended 1, network": (SessionEnded(1, "dropped", F.NETWORK, registered_for_s=1.0), LATER),
    "ended 1, network, fenced": (
        SessionEnded(1, "dropped", F.NETWORK, registered_for_s=1.0),
        FENCED,
    ),
    "ended 1, auth": (SessionEnded(1, "token refused", F.AUTH), LATER),
    "ended 1, normal close": (SessionEnded(1, "bye", F.NORMAL_CLOSE, registered_for_s=60.0), LATER),
    "ended 1, session expired": (SessionEnded(1, "login gone", F.SESSION_EXPIRED), LATER),
    "ended 1, closed by us": (SessionEnded(1, "closed", F.CLOSED_BY_US), LATER),
    "ended 2, session expired": (SessionEnded(2, "login gone", F.SESSION_EXPIRED), LATER),
    "ended, unknown": (SessionEnded(99, "dropped", F.NETWORK), LATER),
    "token 1": (TokenIssued(1, "tok-1", "did-2001"), LATER),
    "token 2": (TokenIssued(2, "tok-2", "did-2001"), LATER),
    "cookie merged 1": (CookieMerged(1, OLD.serialize(), MERGED.serialize()), LATER),
    "cookie merged 2": (CookieMerged(2, NEW.serialize(), MERGED.serialize()), LATER),
    "reconnect 1": (Reconnect(1), LATER),
    "reconnect, stale": (Reconnect(0), LATER),
    "probation 7": (ProbationExpired(7), LATER),
    "probation, stale": (ProbationExpired(3), LATER),
    "backfill due": (BackfillDue(), LATER),
    "backfill due, fenced": (BackfillDue(), FENCED),
    "backfill begun 1": (BackfillBegun(1), LATER),
    "backfill postponed": (BackfillPostponed(), LATER),
    "backfill settled 1, deferred": (BackfillSettled(1, has_deferred=True), LATER),
    "backfill settled 1, clear": (BackfillSettled(1, has_deferred=False), LATER),
    "push, deferred": (PushHandled(has_deferred=True), LATER),
    "push, clear": (PushHandled(has_deferred=False), LATER),
    "reply confirmed": (ReplySettled(confirmed=True), LATER),
    "reply unconfirmed": (ReplySettled(confirmed=False), LATER),
    "stopping": (Stopping(), LATER),
    "crashed": (Crashed("RuntimeError('boom')"), LATER),
}

# --- effect patterns ---------------------------------------------------------------------


class like:
    """Matches an effect of ``kind`` whose named fields are equal (a ``str`` field may be a
    substring of the actual text)."""

    def __init__(self, kind: type, **fields: Any) -> None:
        self.kind = kind
        self.fields = fields

    def matches(self, effect: object) -> bool:
        if not isinstance(effect, self.kind):
            return False
        for name, want in self.fields.items():
            got = getattr(effect, name)
            if isinstance(want, str) and isinstance(got, str):
                if want not in got:
                    return False
            elif got != want:
                return False
        return True

    def __repr__(self) -> str:
        return f"like({self.kind.__name__}, {self.fields})"


PUBLISH = fx.Publish
REFRESH = like(fx.RecordCookieRefresh, fingerprint=MERGED.fingerprint)


def note(event: str) -> like:
    return like(fx.Note, event=event)


def opens(
    session_id: int,
    cookie: Cookie,
    *,
    swap: bool = False,
    token: str | None = None,
    age: float = 0.0,
) -> fx.OpenSession:
    return fx.OpenSession(session_id, cookie, token=token, token_age_s=age, for_swap=swap)


def reports(state: S, error: str | None = None) -> fx.ReportState:
    return fx.ReportState(state, error)


def swap_ok(op_id: int, swap_ms: float) -> fx.ReportSwap:
    return fx.ReportSwap(op_id, ok=True, swap_ms=swap_ms)


def swap_failed(op_id: int, reason: str) -> like:
    return like(fx.ReportSwap, op_id=op_id, ok=False, reason=reason, swap_ms=None)


def aborts(session_id: int) -> fx.CloseSession:
    return fx.CloseSession(session_id, abort=True)


def closes(session_id: int) -> fx.CloseSession:
    return fx.CloseSession(session_id, abort=False)


def backfills(session_id: int, *, swap_seen_ms: int | None = None) -> fx.StartBackfill:
    return fx.StartBackfill(session_id, swap_seen_ms=swap_seen_ms)


def saves(token: str, issued_at: float) -> fx.SaveToken:
    return fx.SaveToken(fx.CachedToken(token, "did-2001", issued_at))


def matches(effect: object, pattern: object) -> bool:
    if isinstance(pattern, like):
        return pattern.matches(effect)
    if isinstance(pattern, type):
        return isinstance(effect, pattern)
    return effect == pattern


def assert_effects(effects: list[fx.Effect], patterns: list[object]) -> None:
    assert len(effects) == len(patterns) and all(map(matches, effects, patterns)), (
        f"effects {effects}\n   want {patterns}"
    )


# --- the table -----------------------------------------------------------------------------

# (state, event) -> (state after, swap still pending, effects in order)
TABLE: dict[tuple[str, str], tuple[S, bool, list[object]]] = {
    # --- connecting ----------------------------------------------------------------------
    ("connecting", "swap"): (
        S.CONNECTING,
        True,
        [
            note("swap_started"),
            aborts(1),
            opens(2, NEWER, swap=True),
            fx.ArmProbation(9, 3.0),
            PUBLISH,
        ],
    ),
    ("connecting", "swap, bad cookie"): (S.CONNECTING, False, [swap_failed(9, "unb")]),
    ("connecting", "registered 1"): (
        S.ONLINE,
        False,
        [PUBLISH, reports(S.ONLINE), note("registered"), backfills(1)],
    ),
    ("connecting", "registered 2"): (S.CONNECTING, False, []),
    ("connecting", "registered, unknown"): (S.CONNECTING, False, []),
    ("connecting", "ended 1, network"): (
        S.BACKOFF,
        False,
        [note("backoff"), PUBLISH, reports(S.BACKOFF, "dropped"), fx.ArmReconnect(1, 1.0)],
    ),
    ("connecting", "ended 1, network, fenced"): (S.CONNECTING, False, [PUBLISH]),
    ("connecting", "ended 1, auth"): (
        S.BACKOFF,
        False,
        [note("backoff"), PUBLISH, reports(S.BACKOFF, "token refused"), fx.ArmReconnect(1, 2.0)],
    ),
    ("connecting", "ended 1, normal close"): (S.CONNECTING, False, [opens(2, OLD), PUBLISH]),
    ("connecting", "ended 1, session expired"): (
        S.NEEDS_COOKIE,
        False,
        [
            note("needs_cookie"),
            fx.RecordNeedsCookie("login gone"),
            PUBLISH,
            reports(S.NEEDS_COOKIE, "login gone"),
        ],
    ),
    ("connecting", "ended 1, closed by us"): (S.CONNECTING, False, [PUBLISH]),
    ("connecting", "ended 2, session expired"): (S.CONNECTING, False, []),
    ("connecting", "ended, unknown"): (S.CONNECTING, False, []),
    ("connecting", "token 1"): (S.CONNECTING, False, [saves("tok-1", 1000.5)]),
    ("connecting", "token 2"): (S.CONNECTING, False, []),
    ("connecting", "cookie merged 1"): (S.CONNECTING, False, [REFRESH, PUBLISH]),
    ("connecting", "cookie merged 2"): (S.CONNECTING, False, [REFRESH]),
    ("connecting", "reconnect 1"): (S.CONNECTING, False, []),
    ("connecting", "reconnect, stale"): (S.CONNECTING, False, []),
    ("connecting", "probation 7"): (S.CONNECTING, False, []),
    ("connecting", "probation, stale"): (S.CONNECTING, False, []),
    ("connecting", "backfill due"): (S.CONNECTING, False, [backfills(1)]),
    ("connecting", "backfill due, fenced"): (S.CONNECTING, False, []),
    ("connecting", "backfill begun 1"): (S.CONNECTING, False, []),
    ("connecting", "backfill postponed"): (S.CONNECTING, False, [fx.ArmBackfill(0.2)]),
    ("connecting", "backfill settled 1, deferred"): (S.CONNECTING, False, [PUBLISH]),
    ("connecting", "backfill settled 1, clear"): (S.CONNECTING, False, [PUBLISH]),
    ("connecting", "push, deferred"): (S.CONNECTING, False, [PUBLISH]),
    ("connecting", "push, clear"): (S.CONNECTING, False, [PUBLISH]),
    ("connecting", "reply confirmed"): (S.CONNECTING, False, [PUBLISH]),
    ("connecting", "reply unconfirmed"): (S.CONNECTING, False, [fx.ArmBackfill(0.2), PUBLISH]),
    ("connecting", "stopping"): (S.STOPPED, False, [fx.CloseAll(), PUBLISH, reports(S.STOPPED)]),
    ("connecting", "crashed"): (S.STOPPED, False, [fx.AbortAll(), PUBLISH]),
    # --- online --------------------------------------------------------------------------
    ("online", "swap"): (
        S.ONLINE,
        True,
        [note("swap_started"), opens(2, NEWER, swap=True), fx.ArmProbation(9, 3.0), PUBLISH],
    ),
    ("online", "swap, bad cookie"): (S.ONLINE, False, [swap_failed(9, "unb")]),
    ("online", "registered 1"): (S.ONLINE, False, [PUBLISH, note("registered"), backfills(1)]),
    ("online", "registered 2"): (S.ONLINE, False, []),
    ("online", "registered, unknown"): (S.ONLINE, False, []),
    ("online", "ended 1, network"): (
        S.BACKOFF,
        False,
        [note("backoff"), PUBLISH, reports(S.BACKOFF, "dropped"), fx.ArmReconnect(1, 1.0)],
    ),
    ("online", "ended 1, network, fenced"): (S.ONLINE, False, [PUBLISH]),
    ("online", "ended 1, auth"): (
        S.BACKOFF,
        False,
        [note("backoff"), PUBLISH, reports(S.BACKOFF, "token refused"), fx.ArmReconnect(1, 2.0)],
    ),
    ("online", "ended 1, normal close"): (
        S.CONNECTING,
        False,
        [opens(2, OLD), PUBLISH, reports(S.CONNECTING, "bye")],
    ),
    ("online", "ended 1, session expired"): (
        S.NEEDS_COOKIE,
        False,
        [
            note("needs_cookie"),
            fx.RecordNeedsCookie("login gone"),
            PUBLISH,
            reports(S.NEEDS_COOKIE, "login gone"),
        ],
    ),
    ("online", "ended 1, closed by us"): (S.ONLINE, False, [PUBLISH]),
    ("online", "ended 2, session expired"): (S.ONLINE, False, []),
    ("online", "ended, unknown"): (S.ONLINE, False, []),
    ("online", "token 1"): (S.ONLINE, False, [saves("tok-1", 1000.5)]),
    ("online", "token 2"): (S.ONLINE, False, []),
    ("online", "cookie merged 1"): (S.ONLINE, False, [REFRESH, PUBLISH]),
    ("online", "cookie merged 2"): (S.ONLINE, False, [REFRESH]),
    ("online", "reconnect 1"): (S.ONLINE, False, []),
    ("online", "reconnect, stale"): (S.ONLINE, False, []),
    ("online", "probation 7"): (S.ONLINE, False, []),
    ("online", "probation, stale"): (S.ONLINE, False, []),
    ("online", "backfill due"): (S.ONLINE, False, [backfills(1)]),
    ("online", "backfill due, fenced"): (S.ONLINE, False, []),
    ("online", "backfill begun 1"): (S.ONLINE, False, []),
    ("online", "backfill postponed"): (S.ONLINE, False, [fx.ArmBackfill(0.2)]),
    ("online", "backfill settled 1, deferred"): (S.ONLINE, False, [fx.ArmBackfill(0.2), PUBLISH]),
    ("online", "backfill settled 1, clear"): (S.ONLINE, False, [PUBLISH]),
    ("online", "push, deferred"): (S.ONLINE, False, [fx.ArmBackfill(0.2), PUBLISH]),
    ("online", "push, clear"): (S.ONLINE, False, [PUBLISH]),
    ("online", "reply confirmed"): (S.ONLINE, False, [PUBLISH]),
    ("online", "reply unconfirmed"): (S.ONLINE, False, [fx.ArmBackfill(0.2), PUBLISH]),
    ("online", "stopping"): (S.STOPPED, False, [fx.CloseAll(), PUBLISH, reports(S.STOPPED)]),
    ("online", "crashed"): (S.STOPPED, False, [fx.AbortAll(), PUBLISH]),
    # --- backoff -------------------------------------------------------------------------
    ("backoff", "swap"): (
        S.BACKOFF,
        True,
        [
            note("swap_started"),
            fx.CancelReconnect(),
            opens(2, NEWER, swap=True),
            fx.ArmProbation(9, 3.0),
            PUBLISH,
        ],
    ),
    ("backoff", "swap, bad cookie"): (S.BACKOFF, False, [swap_failed(9, "unb")]),
    ("backoff", "registered 1"): (S.BACKOFF, False, []),
    ("backoff", "registered 2"): (S.BACKOFF, False, []),
    ("backoff", "registered, unknown"): (S.BACKOFF, False, []),
    ("backoff", "ended 1, network"): (S.BACKOFF, False, []),
    ("backoff", "ended 1, network, fenced"): (S.BACKOFF, False, []),
    ("backoff", "ended 1, auth"): (S.BACKOFF, False, []),
    ("backoff", "ended 1, normal close"): (S.BACKOFF, False, []),
    ("backoff", "ended 1, session expired"): (S.BACKOFF, False, []),
    ("backoff", "ended 1, closed by us"): (S.BACKOFF, False, []),
    ("backoff", "ended 2, session expired"): (S.BACKOFF, False, []),
    ("backoff", "ended, unknown"): (S.BACKOFF, False, []),
    ("backoff", "token 1"): (S.BACKOFF, False, []),
    ("backoff", "token 2"): (S.BACKOFF, False, []),
    ("backoff", "cookie merged 1"): (S.BACKOFF, False, [REFRESH]),
    ("backoff", "cookie merged 2"): (S.BACKOFF, False, [REFRESH]),
    ("backoff", "reconnect 1"): (
        S.CONNECTING,
        False,
        [opens(2, OLD), PUBLISH, reports(S.CONNECTING, "dropped")],
    ),
    ("backoff", "reconnect, stale"): (S.BACKOFF, False, []),
    ("backoff", "probation 7"): (S.BACKOFF, False, []),
    ("backoff", "probation, stale"): (S.BACKOFF, False, []),
    ("backoff", "backfill due"): (S.BACKOFF, False, []),
    ("backoff", "backfill due, fenced"): (S.BACKOFF, False, []),
    ("backoff", "backfill begun 1"): (S.BACKOFF, False, []),
    ("backoff", "backfill postponed"): (S.BACKOFF, False, [fx.ArmBackfill(0.2)]),
    ("backoff", "backfill settled 1, deferred"): (S.BACKOFF, False, [PUBLISH]),
    ("backoff", "backfill settled 1, clear"): (S.BACKOFF, False, [PUBLISH]),
    ("backoff", "push, deferred"): (S.BACKOFF, False, [PUBLISH]),
    ("backoff", "push, clear"): (S.BACKOFF, False, [PUBLISH]),
    ("backoff", "reply confirmed"): (S.BACKOFF, False, [PUBLISH]),
    ("backoff", "reply unconfirmed"): (S.BACKOFF, False, [fx.ArmBackfill(0.2), PUBLISH]),
    ("backoff", "stopping"): (
        S.STOPPED,
        False,
        [fx.CancelReconnect(), fx.CloseAll(), PUBLISH, reports(S.STOPPED)],
    ),
    ("backoff", "crashed"): (S.STOPPED, False, [fx.CancelReconnect(), fx.AbortAll(), PUBLISH]),
    # --- needs_cookie --------------------------------------------------------------------
    ("needs_cookie", "swap"): (
        S.NEEDS_COOKIE,
        True,
        [note("swap_started"), opens(2, NEWER, swap=True), fx.ArmProbation(9, 3.0), PUBLISH],
    ),
    ("needs_cookie", "swap, bad cookie"): (S.NEEDS_COOKIE, False, [swap_failed(9, "unb")]),
    ("needs_cookie", "registered 1"): (S.NEEDS_COOKIE, False, []),
    ("needs_cookie", "registered 2"): (S.NEEDS_COOKIE, False, []),
    ("needs_cookie", "registered, unknown"): (S.NEEDS_COOKIE, False, []),
    ("needs_cookie", "ended 1, network"): (S.NEEDS_COOKIE, False, []),
    ("needs_cookie", "ended 1, network, fenced"): (S.NEEDS_COOKIE, False, []),
    ("needs_cookie", "ended 1, auth"): (S.NEEDS_COOKIE, False, []),
    ("needs_cookie", "ended 1, normal close"): (S.NEEDS_COOKIE, False, []),
    ("needs_cookie", "ended 1, session expired"): (S.NEEDS_COOKIE, False, []),
    ("needs_cookie", "ended 1, closed by us"): (S.NEEDS_COOKIE, False, []),
    ("needs_cookie", "ended 2, session expired"): (S.NEEDS_COOKIE, False, []),
    ("needs_cookie", "ended, unknown"): (S.NEEDS_COOKIE, False, []),
    ("needs_cookie", "token 1"): (S.NEEDS_COOKIE, False, []),
    ("needs_cookie", "token 2"): (S.NEEDS_COOKIE, False, []),
    ("needs_cookie", "cookie merged 1"): (S.NEEDS_COOKIE, False, [REFRESH]),
    ("needs_cookie", "cookie merged 2"): (S.NEEDS_COOKIE, False, [REFRESH]),
    ("needs_cookie", "reconnect 1"): (S.NEEDS_COOKIE, False, []),
    ("needs_cookie", "reconnect, stale"): (S.NEEDS_COOKIE, False, []),
    ("needs_cookie", "probation 7"): (S.NEEDS_COOKIE, False, []),
    ("needs_cookie", "probation, stale"): (S.NEEDS_COOKIE, False, []),
    ("needs_cookie", "backfill due"): (S.NEEDS_COOKIE, False, []),
    ("needs_cookie", "backfill due, fenced"): (S.NEEDS_COOKIE, False, []),
    ("needs_cookie", "backfill begun 1"): (S.NEEDS_COOKIE, False, []),
    ("needs_cookie", "backfill postponed"): (S.NEEDS_COOKIE, False, [fx.ArmBackfill(0.2)]),
    ("needs_cookie", "backfill settled 1, deferred"): (S.NEEDS_COOKIE, False, [PUBLISH]),
    ("needs_cookie", "backfill settled 1, clear"): (S.NEEDS_COOKIE, False, [PUBLISH]),
    ("needs_cookie", "push, deferred"): (S.NEEDS_COOKIE, False, [PUBLISH]),
    ("needs_cookie", "push, clear"): (S.NEEDS_COOKIE, False, [PUBLISH]),
    ("needs_cookie", "reply confirmed"): (S.NEEDS_COOKIE, False, [PUBLISH]),
    ("needs_cookie", "reply unconfirmed"): (S.NEEDS_COOKIE, False, [fx.ArmBackfill(0.2), PUBLISH]),
    ("needs_cookie", "stopping"): (S.STOPPED, False, [fx.CloseAll(), PUBLISH, reports(S.STOPPED)]),
    ("needs_cookie", "crashed"): (S.STOPPED, False, [fx.AbortAll(), PUBLISH]),
    # --- updating ------------------------------------------------------------------------
    ("updating", "swap"): (
        S.ONLINE,
        True,
        [
            fx.CancelProbation(7),
            aborts(2),
            note("swap_failed"),
            swap_failed(7, "superseded by swap 9"),
            PUBLISH,
            note("swap_started"),
            opens(3, NEWER, swap=True),
            fx.ArmProbation(9, 3.0),
            PUBLISH,
        ],
    ),
    ("updating", "swap, bad cookie"): (S.ONLINE, True, [swap_failed(9, "unb")]),
    ("updating", "registered 1"): (S.ONLINE, True, [PUBLISH, note("registered"), backfills(1)]),
    ("updating", "registered 2"): (
        S.ONLINE,
        False,
        [
            fx.CancelProbation(7),
            closes(1),
            PUBLISH,
            note("swap_ok"),
            swap_ok(7, 500.0),
            backfills(2),
        ],
    ),
    ("updating", "registered, unknown"): (S.ONLINE, True, []),
    ("updating", "ended 1, network"): (S.ONLINE, True, [note("session_ended_during_swap")]),
    ("updating", "ended 1, network, fenced"): (S.ONLINE, True, [note("session_ended_during_swap")]),
    ("updating", "ended 1, auth"): (S.ONLINE, True, [note("session_ended_during_swap")]),
    ("updating", "ended 1, normal close"): (S.ONLINE, True, [note("session_ended_during_swap")]),
    ("updating", "ended 1, session expired"): (S.ONLINE, True, [note("session_ended_during_swap")]),
    ("updating", "ended 1, closed by us"): (S.ONLINE, True, [note("session_ended_during_swap")]),
    ("updating", "ended 2, session expired"): (
        S.ONLINE,
        False,
        [
            fx.CancelProbation(7),
            aborts(2),
            note("swap_failed"),
            swap_failed(7, "login gone"),
            PUBLISH,
        ],
    ),
    ("updating", "ended, unknown"): (S.ONLINE, True, []),
    ("updating", "token 1"): (S.ONLINE, True, [saves("tok-1", 1000.5)]),
    ("updating", "token 2"): (S.ONLINE, True, []),
    ("updating", "cookie merged 1"): (S.ONLINE, True, [REFRESH, PUBLISH]),
    ("updating", "cookie merged 2"): (S.ONLINE, True, [REFRESH]),
    ("updating", "reconnect 1"): (S.ONLINE, True, []),
    ("updating", "reconnect, stale"): (S.ONLINE, True, []),
    ("updating", "probation 7"): (
        S.ONLINE,
        False,
        [
            fx.CancelProbation(7),
            aborts(2),
            note("swap_failed"),
            swap_failed(7, "not registered within 3.0s"),
            PUBLISH,
        ],
    ),
    ("updating", "probation, stale"): (S.ONLINE, True, []),
    ("updating", "backfill due"): (S.ONLINE, True, [backfills(1)]),
    ("updating", "backfill due, fenced"): (S.ONLINE, True, []),
    ("updating", "backfill begun 1"): (S.ONLINE, True, []),
    ("updating", "backfill postponed"): (S.ONLINE, True, [fx.ArmBackfill(0.2)]),
    ("updating", "backfill settled 1, deferred"): (S.ONLINE, True, [fx.ArmBackfill(0.2), PUBLISH]),
    ("updating", "backfill settled 1, clear"): (S.ONLINE, True, [PUBLISH]),
    ("updating", "push, deferred"): (S.ONLINE, True, [fx.ArmBackfill(0.2), PUBLISH]),
    ("updating", "push, clear"): (S.ONLINE, True, [PUBLISH]),
    ("updating", "reply confirmed"): (S.ONLINE, True, [PUBLISH]),
    ("updating", "reply unconfirmed"): (S.ONLINE, True, [fx.ArmBackfill(0.2), PUBLISH]),
    ("updating", "stopping"): (S.STOPPED, False, [fx.CloseAll(), PUBLISH, reports(S.STOPPED)]),
    ("updating", "crashed"): (S.STOPPED, True, [fx.AbortAll(), PUBLISH]),
}


def test_the_table_covers_every_state_and_event() -> None:
    assert set(TABLE) == set(product(STATES, EVENTS))


@pytest.mark.parametrize(("state", "event"), list(TABLE), ids=str)
def test_cell(state: str, event: str) -> None:
    after, swapping, patterns = TABLE[(state, event)]
    machine = STATES[state]()
    message, now = EVENTS[event]
    effects = machine.handle(message, now)
    assert_effects(effects, patterns)
    assert machine.state is after
    assert machine.swapping is swapping


# --- paths through several cells ------------------------------------------------------------


def commit(machine: AccountMachine) -> list[fx.Effect]:
    return machine.handle(SessionRegistered(2), LATER)


def test_a_swap_after_the_old_session_caught_up_backfills_from_the_swaps_start() -> None:
    machine = online()
    machine.handle(BackfillSettled(1, has_deferred=False), NOW)  # caught up
    machine.handle(SwapRequested(7, NEW.serialize(), seen_ms=5000), NOW)
    assert machine.serving == 1  # the old session serves while the new one registers
    effects = commit(machine)
    assert effects[-1] == backfills(2, swap_seen_ms=5000)
    assert machine.serving == 2
    assert machine.view().cookie_fingerprint == NEW.fingerprint


def test_a_swap_from_connecting_backfills_from_the_cursor() -> None:
    machine = connecting()
    machine.handle(SwapRequested(7, NEW.serialize(), seen_ms=5000), NOW)  # aborts 1, opens 2
    assert machine.serving is None
    effects = commit(machine)
    assert closes(1) not in effects  # already let go
    assert effects[-1] == backfills(2)
    assert reports(S.ONLINE) in effects


def test_the_swaps_token_is_kept_only_when_it_commits() -> None:
    machine = updating()
    assert machine.handle(TokenIssued(2, "tok-2", "did-2001"), NOW) == []
    assert saves("tok-2", 1000.0) in commit(machine)

    failed = updating()
    failed.handle(TokenIssued(2, "tok-2", "did-2001"), NOW)
    assert not any(isinstance(e, fx.SaveToken) for e in failed.handle(ProbationExpired(7), LATER))


def test_a_cookie_merged_on_the_swaps_session_is_the_one_committed() -> None:
    machine = updating()
    machine.handle(CookieMerged(2, NEW.serialize(), MERGED.serialize()), NOW)
    assert machine.view().cookie_fingerprint == OLD.fingerprint  # not before the commit
    commit(machine)
    assert machine.view().cookie_fingerprint == MERGED.fingerprint


def test_a_failed_swap_whose_old_session_is_gone_reconnects_with_the_cookie_that_worked() -> None:
    machine = updating()
    machine.handle(SessionEnded(1, "kicked by the new /reg", F.NORMAL_CLOSE), NOW)
    effects = machine.handle(SessionEnded(2, "login gone", F.SESSION_EXPIRED), LATER)
    assert opens(3, OLD) in effects
    assert machine.state is S.CONNECTING
    assert machine.view().reconnects == 1


def test_a_failed_swap_that_interrupted_a_back_off_backs_off_again() -> None:
    machine = backoff()
    machine.handle(SwapRequested(7, NEW.serialize(), seen_ms=0), NOW)
    effects = machine.handle(ProbationExpired(7), LATER)
    # the second network failure in a row: the base delay doubled, a fresh attempt number
    assert fx.ArmReconnect(3, 2.0) in effects
    assert machine.state is S.BACKOFF
    assert machine.handle(Reconnect(1), LATER) == []  # the interrupted timer is void
    assert opens(3, OLD) in machine.handle(Reconnect(3), LATER)


def test_a_swap_on_needs_cookie_that_commits_goes_online() -> None:
    machine = needs_cookie()
    machine.handle(SwapRequested(7, NEW.serialize(), seen_ms=0), NOW)
    effects = commit(machine)
    assert reports(S.ONLINE) in effects
    assert machine.serving == 2


def test_a_fresh_stored_token_is_reused_and_a_stale_one_is_not() -> None:
    fresh = AccountMachine(TIMINGS)
    token = fx.CachedToken("tok-0", "did-2001", issued_at=NOW.wall - 40.0)
    assert fresh.start(OLD, token, NOW)[0] == opens(1, OLD, token="tok-0", age=40.0)
    stale = AccountMachine(TIMINGS)
    token = fx.CachedToken("tok-0", "did-2001", issued_at=NOW.wall - 100.0)
    assert stale.start(OLD, token, NOW)[0] == opens(1, OLD)


def test_a_refused_token_is_not_reused() -> None:
    machine = AccountMachine(TIMINGS)
    machine.start(OLD, fx.CachedToken("tok-0", "did-2001", issued_at=NOW.wall), NOW)
    machine.handle(SessionEnded(1, "/reg refused", F.AUTH), NOW)
    assert machine.handle(Reconnect(1), LATER)[0] == opens(2, OLD)


def test_a_fenced_generation_opens_nothing_and_starts_no_backfill() -> None:
    assert AccountMachine(TIMINGS).start(OLD, None, FENCED) == []
    machine = online()
    machine.handle(SessionEnded(1, "dropped", F.NORMAL_CLOSE, registered_for_s=60.0), FENCED)
    assert machine.handle(BackfillDue(), FENCED) == []


def test_retry_backfills_wait_longer_each_time_one_at_a_time_until_nothing_waits() -> None:
    machine = online()
    delays = []
    for _ in range(10):
        (armed, _publish) = machine.handle(ReplySettled(confirmed=False), NOW)
        assert machine.handle(ReplySettled(confirmed=False), NOW) == [PUBLISH(machine.view())]
        assert isinstance(armed, fx.ArmBackfill)
        delays.append(armed.delay_s)
        assert machine.handle(BackfillDue(), NOW) == [backfills(1)]
    assert delays == [0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 30.0, 30.0]
    machine.handle(BackfillSettled(1, has_deferred=False), NOW)
    assert machine.handle(PushHandled(has_deferred=True), NOW)[0] == fx.ArmBackfill(0.2)


def test_online_since_and_reconnects_are_published() -> None:
    machine = online()
    assert machine.view() == fx.ConnectionView(S.ONLINE, NOW.wall, None, 0, OLD.fingerprint, False)
    machine.handle(SessionEnded(1, "bye", F.NORMAL_CLOSE, registered_for_s=60.0), LATER)
    view = machine.view()
    assert (view.state, view.online_since, view.last_error, view.reconnects) == (
        S.CONNECTING,
        None,
        "bye",
        1,
    )


def test_an_unknown_event_is_a_programming_error() -> None:
    with pytest.raises(TypeError, match="cannot handle str"):
        online().handle("registered", NOW)


# --- the benchmark's naive strategy, through the machine's hooks ------------------------------


def test_the_naive_machine_breaks_before_it_makes_and_never_backfills_after() -> None:
    machine = online(NaiveAccountMachine)
    effects = machine.handle(SwapRequested(7, NEW.serialize(), seen_ms=5000), LATER)
    assert_effects(
        effects,
        [
            note("swap_started"),
            CloseAndWait(1),
            PUBLISH,
            reports(S.CONNECTING),
            Pause(0.5),
            opens(2, NEW, swap=True),
            fx.ArmProbation(7, 3.0),
            PUBLISH,
        ],
    )
    effects = machine.handle(SessionRegistered(2), replace(LATER, mono=502.0))
    assert_effects(
        effects,
        [fx.CancelProbation(7), PUBLISH, reports(S.ONLINE), note("swap_ok"), swap_ok(7, 1500.0)],
    )
    assert machine.handle(ReplySettled(confirmed=False), LATER) == [PUBLISH(machine.view())]


def test_a_back_off_names_its_reason_and_a_dead_login_is_a_warning() -> None:
    machine = AccountMachine(TIMINGS)
    machine.start(OLD, None, NOW)
    risk = "risk control: open the punish URL"
    (backing_off,) = [
        e for e in machine.handle(SessionEnded(1, risk, F.RISK), NOW) if isinstance(e, fx.Note)
    ]
    assert backing_off.event == "backoff" and backing_off.fields["reason"] == risk
    assert backing_off.level == "info"
    machine = AccountMachine(TIMINGS)
    machine.start(OLD, None, NOW)
    effects = machine.handle(SessionEnded(1, "login gone", F.SESSION_EXPIRED), NOW)
    (gone,) = [e for e in effects if isinstance(e, fx.Note)]
    assert (gone.event, gone.level) == ("needs_cookie", "warning")


# --- the login budget ("may I call the token API now?") ----------------------------------
#
# The budget is an input (``Now.budget``); the machine only asks it when a connect needs a
# token call. rand 0.5 in every Now: the budget wait is refill_s * (1 + 0.3 * 0.5).

SPENT = BudgetView(left=0, refill_s=100.0, per_h=6)
ROOM = BudgetView(left=2, per_h=6)
WAIT = 100.0 * 1.15
CACHED = fx.CachedToken("tok-0", "did-2001", issued_at=NOW.wall)


def at(budget: BudgetView | None, base: Now = LATER) -> Now:
    return replace(base, budget=budget)


def held_back(attempt: int, *, reported: bool = True) -> list[object]:
    """Waiting for the budget; ``reported``: the state changed (the supervisor hears it)."""
    report = [like(fx.ReportState, state=S.BACKOFF, error="login budget")] if reported else []
    return [
        like(fx.BudgetExhausted, retry_in_s=WAIT, reason="login budget"),
        note("backoff"),
        PUBLISH,
        *report,
        fx.ArmReconnect(attempt, WAIT),
    ]


def _started(token: fx.CachedToken | None = None, *, operator: bool = False) -> AccountMachine:
    machine = AccountMachine(TIMINGS)
    machine.start(OLD, token, at(ROOM, NOW), operator=operator)
    return machine


def _online(token: fx.CachedToken | None, *, operator: bool = False) -> AccountMachine:
    machine = _started(token, operator=operator)
    machine.handle(SessionRegistered(1), NOW)
    return machine


def _budget_backoff() -> AccountMachine:
    machine = AccountMachine(TIMINGS)
    machine.start(OLD, None, at(SPENT, NOW))  # held back: Reconnect(1) armed
    return machine


def _refused(machine: AccountMachine) -> AccountMachine:
    machine.handle(SessionEnded(1, "/reg refused", F.AUTH), NOW)  # auth back-off, Reconnect(1)
    return machine


NORMAL_CLOSE = SessionEnded(1, "bye", F.NORMAL_CLOSE, registered_for_s=60.0)

# row -> (machine, event or a start, budget, state after, effects in order)
BUDGET_TABLE: dict[str, tuple[Any, Any, BudgetView | None, S, list[object]]] = {
    "start, no token, no budget given": (None, None, None, S.CONNECTING, [opens(1, OLD), PUBLISH]),
    "start, no token, room left": (None, None, ROOM, S.CONNECTING, [opens(1, OLD), PUBLISH]),
    "start, no token, spent": (None, None, SPENT, S.BACKOFF, held_back(1)),
    "start, cached token, spent: no call needed": (
        None,
        CACHED,
        SPENT,
        S.CONNECTING,
        [opens(1, OLD, token="tok-0", age=0.5), PUBLISH],
    ),
    "operator start, no token, spent: goes through": (
        None,
        "operator",
        SPENT,
        S.CONNECTING,
        [opens(1, OLD), PUBLISH],
    ),
    "normal close, cached token, spent: reconnects at once": (
        lambda: _online(CACHED),
        NORMAL_CLOSE,
        SPENT,
        S.CONNECTING,
        [opens(2, OLD, token="tok-0", age=0.5), PUBLISH, reports(S.CONNECTING, "bye")],
    ),
    "normal close, no token, spent": (
        lambda: _online(None),
        NORMAL_CLOSE,
        SPENT,
        S.BACKOFF,
        held_back(1),
    ),
    "normal close after an operator start, spent: only the first login is exempt": (
        lambda: _online(None, operator=True),
        NORMAL_CLOSE,
        SPENT,
        S.BACKOFF,
        held_back(1),
    ),
    "operator start, its stored token refused: the token call after is still exempt": (
        lambda: _refused(_started(CACHED, operator=True)),
        Reconnect(1),
        SPENT,
        S.CONNECTING,
        [opens(2, OLD), PUBLISH, like(fx.ReportState, state=S.CONNECTING)],
    ),
    "budget back-off, reconnect, still spent: waits again": (
        _budget_backoff,
        Reconnect(1),
        SPENT,
        S.BACKOFF,
        held_back(2, reported=False),
    ),
    "budget back-off, reconnect, room again": (
        _budget_backoff,
        Reconnect(1),
        ROOM,
        S.CONNECTING,
        [opens(1, OLD), PUBLISH, like(fx.ReportState, state=S.CONNECTING)],
    ),
    "budget back-off, an operator's swap: opens at once": (
        _budget_backoff,
        SwapRequested(9, NEWER.serialize(), seen_ms=6000),
        SPENT,
        S.BACKOFF,
        [
            note("swap_started"),
            fx.CancelReconnect(),
            opens(1, NEWER, swap=True),
            fx.ArmProbation(9, 3.0),
            PUBLISH,
        ],
    ),
}


@pytest.mark.parametrize("row", list(BUDGET_TABLE), ids=str)
def test_login_budget(row: str) -> None:
    build, event, budget, after, patterns = BUDGET_TABLE[row]
    if build is None:  # the generation's start is the call under test
        machine = AccountMachine(TIMINGS)
        operator = event == "operator"
        token = event if isinstance(event, fx.CachedToken) else None
        effects = machine.start(OLD, token, at(budget), operator=operator)
    else:
        machine = build()
        effects = machine.handle(event, at(budget))
    assert_effects(effects, patterns)
    assert machine.state is after


def test_budget_wait_is_pure_and_jittered() -> None:
    assert budget_wait(None, 0.9) is None
    assert budget_wait(ROOM, 0.9) is None
    low, high = budget_wait(SPENT, 0.0), budget_wait(SPENT, 0.999)
    assert low is not None and high is not None
    assert low[0] == 100.0 and 129.0 < high[0] < 130.0
    assert "login budget" in low[1]
