"""storage.outbox: per-account notification URLs, conditions (cooldowns) and the outbox, on
SQLite and PostgreSQL; the cooldown survives closing and reopening the store."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from common.errors import NotFoundError
from notify.policy import Policy, Signal
from storage import Store
from storage.outbox import NewNotice, NotifyCondition

COOKIE = "unb=2201; cookie2=abc"


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def notice(url: str = "json://127.0.0.1/hook", kind: str = "needs_cookie") -> NewNotice:
    return NewNotice(kind, ("a", "b"), "2 accounts need a new cookie", "Accounts: a, b", url)


def test_an_accounts_own_urls_replace_clear_and_go_with_the_account(store: Store) -> None:
    store.add_account("a", COOKIE, "2201")
    store.add_account("b", COOKIE, "2202")
    assert store.notify_urls("a") == ()
    assert store.set_notify_urls("a", ["json://h/1", " json://h/2 ", "json://h/1", ""]) == (
        "json://h/1",
        "json://h/2",
    )
    store.set_notify_urls("b", ["json://h/3"])
    assert store.notify_url_map() == {"a": ("json://h/1", "json://h/2"), "b": ("json://h/3",)}
    store.set_notify_urls("a", [])
    assert store.notify_urls("a") == ()
    store.remove_account("b")
    assert store.notify_url_map() == {}
    with pytest.raises(NotFoundError, match="'nobody' not found"):
        store.set_notify_urls("nobody", ["json://h/1"])


def test_conditions_upsert(store: Store) -> None:
    first = NotifyCondition("a", "needs_cookie", at(1000), None, False, "expired")
    store.save_notify_state([first], [], now=1000)
    later = NotifyCondition("a", "needs_cookie", None, at(1010), False, "expired")
    other = NotifyCondition("gone", "failed", at(5), at(6), True, "")
    store.save_notify_state([later, other], [], now=1020)
    assert sorted(store.notify_conditions(), key=lambda c: c.account_id) == [later, other]


def test_a_notice_is_claimed_then_sent_retried_or_failed(store: Store) -> None:
    now = time.time()
    ids = store.save_notify_state([], [notice("json://h/1"), notice("json://h/2")], now=now)
    assert len(ids) == 2
    due = store.due_notices(now)
    assert [n.id for n in due] == ids and due[0].accounts == ("a", "b")
    assert due[0].status == "pending" and due[0].attempts == 0
    assert store.claim_notice(ids[0], now)
    assert not store.claim_notice(ids[0], now)  # claimed once
    store.finish_notice(ids[0], "sent", now=now)
    assert store.claim_notice(ids[1], now)
    store.retry_notice(ids[1], at=now + 30, error="refused")
    assert store.due_notices(now) == []
    due_at = store.next_notice_due()
    assert due_at is not None and abs(due_at.timestamp() - (now + 30)) < 0.002  # milliseconds
    (retried,) = store.due_notices(now + 31)
    assert (retried.attempts, retried.error) == (1, "refused")
    assert store.claim_notice(ids[1], now + 31)
    store.finish_notice(ids[1], "failed", now=now + 31, error="refused 2 times")
    by_id = {n.id: n for n in store.notices()}
    assert (by_id[ids[0]].status, by_id[ids[0]].attempts) == ("sent", 1)
    assert (by_id[ids[1]].status, by_id[ids[1]].attempts) == ("failed", 2)
    assert store.next_notice_due() is None
    with pytest.raises(ValueError, match="sent, failed or uncertain"):
        store.finish_notice(ids[0], "pending", now=now)


def test_a_claimed_notice_found_at_boot_is_uncertain_never_resent(store: Store) -> None:
    now = time.time()
    claimed, waiting = store.save_notify_state([], [notice(), notice()], now=now)
    store.claim_notice(claimed, now)
    assert store.recover_notices(now) == 1
    statuses = {n.id: n.status for n in store.notices()}
    assert statuses == {claimed: "uncertain", waiting: "pending"}
    assert [n.id for n in store.due_notices(now)] == [waiting]


def test_events_are_read_in_order_after_a_cursor(store: Store) -> None:
    start = store.last_event_id()
    store.record_event("update_rolled_back", "a", reason="x")
    store.record_event("update_applied", "a")
    store.record_event("needs_cookie", "b", reason="y")
    first = store.events_after(start, limit=2)
    assert [e.kind for _, e in first] == ["update_rolled_back", "update_applied"]
    rest = store.events_after(first[-1][0])
    assert [(e.account_id, e.kind, e.data) for _, e in rest] == [
        ("b", "needs_cookie", {"reason": "y"})
    ]
    assert store.last_event_id() == rest[-1][0]


def test_the_cooldown_holds_across_closing_and_reopening_the_store(store_url: str) -> None:
    cooldown = 600.0
    store = Store.open(store_url)
    policy = Policy(cooldown_s=cooldown, group_s=0)
    policy.observe(Signal("a", "needs_cookie", opened=True), 1000)
    policy.observe(Signal("a", "needs_cookie", opened=False), 1001)
    policy.observe(Signal("a", "needs_cookie", opened=True), 1002)  # before any tick
    decision = policy.tick(1003)
    assert [g.kind for g in decision.groups] == ["needs_cookie"]
    store.save_notify_state(decision.changed, [], now=1003)
    store.close()

    reopened = Store.open(store_url)
    try:
        again = Policy(cooldown_s=cooldown, group_s=0, conditions=reopened.notify_conditions())
        again.observe(Signal("a", "needs_cookie", opened=False), 1100)  # announced: recovery
        assert [g.kind for g in again.tick(1101).groups] == ["needs_cookie_recovered"]
        again.observe(Signal("a", "needs_cookie", opened=True), 1200)  # inside the cooldown
        assert again.tick(1201).groups == []
        assert again.tick(1602).groups == []
        assert [g.kind for g in again.tick(1603).groups] == ["needs_cookie"]  # cooldown over
    finally:
        reopened.close()
