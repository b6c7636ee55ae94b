"""notify.signals and notify.compose: status rows and events → signals → notice texts (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from notify.compose import destinations, notices
from notify.policy import Group, Member, Signal
from notify.signals import event_signals, status_signals
from storage.records import EventRecord

COOKIE = "unb=2201; cookie2=0123456789abcdef0123; _m_h5_tk=fedcba9876543210_1700000000000"


def row(account: str, state: str, error: str | None = None) -> dict:
    return {"id": account, "state": state, "last_error": error}


def event(kind: str, account: str | None = "a", **data: object) -> EventRecord:
    return EventRecord(at=datetime.now(UTC), account_id=account, kind=kind, data=data)


def opened(signals: list[Signal]) -> list[tuple[str, str, str]]:
    return [(s.account_id, s.kind, s.detail) for s in signals if s.opened]


def closed(signals: list[Signal]) -> set[tuple[str, str, bool]]:
    return {(s.account_id, s.kind, s.announce) for s in signals if not s.opened}


@pytest.mark.parametrize(
    ("state", "error", "expected"),
    [
        ("needs_cookie", "login session expired", [("a", "needs_cookie", "login session expired")]),
        ("failed", "crashed 5 times", [("a", "failed", "crashed 5 times")]),
        (
            "backoff",
            "risk control (RGV587_ERROR::SM); open the punish URL",
            [("a", "risk_control", "risk control (RGV587_ERROR::SM); open the punish URL")],
        ),
        (
            "backoff",
            "risk control: https://example.com/punish?x5secdata=abc",
            [("a", "risk_control", "punish URL: https://example.com/punish?x5secdata=abc")],
        ),
        ("backoff", "connection refused", []),
        ("starting", None, []),
        ("updating", None, []),
    ],
)
def test_states_that_open_a_condition(state: str, error: str | None, expected: list) -> None:
    assert opened(status_signals([row("a", state, error)], tracked=())) == expected


def test_online_ends_the_state_conditions_and_disabled_or_gone_end_all_silently() -> None:
    online = closed(status_signals([row("a", "online")], tracked=()))
    assert online == {
        ("a", kind, True)
        for kind in ("needs_cookie", "failed", "risk_control", "login_budget_exhausted")
    }
    disabled = closed(status_signals([row("a", "disabled")], tracked=()))
    assert ("a", "rolled_back", False) in disabled and ("a", "needs_cookie", False) in disabled
    gone = closed(status_signals([row("b", "online")], tracked=("a",)))
    assert ("a", "failed", False) in gone


def test_events_that_open_and_end_conditions() -> None:
    signals = event_signals(
        [
            event("update_rolled_back", reason="probation: not registered in 2s"),
            event("rollback_rolled_back", account="b", reason="dead"),
            event("renewal_failed", reason="long login expired"),
            event("renewal_rolled_back", account="e", reason="probation"),
            event("login_budget_exhausted", reason="6 logins in the last hour"),
            event("update_applied", account="c"),
            event("removed", account="d"),
            event("pending_versions_failed", account=None, count=2),
            event("crashed", error="boom"),
        ]
    )
    assert opened(signals) == [
        ("a", "rolled_back", "probation: not registered in 2s"),
        ("b", "rolled_back", "dead"),
        ("a", "renewal_failed", "long login expired"),
        ("e", "renewal_failed", "probation"),
        ("a", "login_budget_exhausted", "6 logins in the last hour"),
    ]
    assert {("c", "rolled_back", True), ("c", "renewal_failed", True)} <= closed(signals)
    assert ("d", "needs_cookie", False) in closed(signals)


def test_one_notice_per_destination_and_one_row_per_url() -> None:
    where = destinations(["json://h/global1", "json://h/global2"], {"own": ("json://h/own",)})
    members = tuple(Member(a, "session expired") for a in ("a", "own", "b"))
    rows = notices(Group("needs_cookie", members), where)
    assert sorted((r.url, r.accounts) for r in rows) == [
        ("json://h/global1", ("a", "b")),
        ("json://h/global2", ("a", "b")),
        ("json://h/own", ("own",)),
    ]
    grouped = next(r for r in rows if r.url == "json://h/global1")
    assert grouped.title == "2 accounts need a new cookie"
    assert "Accounts: a, b" in grouped.body and "- a: session expired" in grouped.body
    assert "ctl update ACCOUNT" in grouped.body
    own = next(r for r in rows if r.url == "json://h/own")
    assert own.title == "own needs a new cookie"


def test_no_urls_no_rows_and_recoveries_read_as_such() -> None:
    assert notices(Group("failed", (Member("a", "x"),)), destinations([], {})) == []
    (row_,) = notices(Group("failed_recovered", (Member("a", ""),)), destinations(["json://h"], {}))
    assert row_.title == "a is online again"


def test_a_cookie_in_an_error_never_reaches_a_notice() -> None:
    members = (Member("a", f"token call with {COOKIE} failed"), Member("b", "x" * 1000))
    (row_,) = notices(Group("needs_cookie", members), destinations(["json://h"], {}))
    for secret in ("0123456789abcdef0123", "fedcba9876543210"):
        assert secret not in row_.body and secret not in row_.title
    assert max(len(line) for line in row_.body.splitlines()) < 320  # long details are cut


def test_two_hundred_accounts_in_one_notice_list_every_one() -> None:
    members = tuple(Member(f"shop-{i}", "session expired") for i in range(200))
    (row_,) = notices(Group("needs_cookie", members), destinations(["json://h"], {}))
    assert row_.title == "200 accounts need a new cookie"
    assert all(f"shop-{i}" in row_.body for i in range(200))
    assert "… and 180 more" in row_.body


def test_only_a_scheduled_renewal_failure_is_a_notice_of_its_own() -> None:
    # a reactive one ends in needs_cookie (its own notice, same reason) or a retry; an
    # operator's `ctl renew` answers the operator
    signals = event_signals(
        [
            event("renewal_failed", account="s", trigger="scheduled", reason="refused"),
            event("renewal_failed", account="r", trigger="reactive", reason="refused"),
            event("renewal_failed", account="o", trigger="operator", reason="refused"),
        ]
    )
    assert opened(signals) == [("s", "renewal_failed", "refused")]
