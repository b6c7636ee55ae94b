"""The audit log: record events with data, read them newest first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from storage import Store


def test_events_come_back_newest_first_with_their_data(store: Store) -> None:
    store.record_event("account_added", "shop", version=1)
    store.record_event("update_applied", "shop", version=2, fingerprint="ab12cd34")
    store.record_event("service_started")

    events = store.events()

    assert [e.kind for e in events] == ["service_started", "update_applied", "account_added"]
    assert events[1].data == {"version": 2, "fingerprint": "ab12cd34"}
    assert events[0].account_id is None


def test_events_filter_by_account_limit_and_since(store: Store) -> None:
    for n in range(5):
        store.record_event("tick", "shop", n=n)
    store.record_event("tick", "other", n=99)

    assert [e.data["n"] for e in store.events("shop", limit=2)] == [4, 3]
    future = datetime.now(UTC) + timedelta(minutes=1)
    assert store.events(since=future) == []
    assert len(store.events(since=future.timestamp() - 3600)) == 6


def test_event_data_that_is_not_json_is_stored_as_text(store: Store) -> None:
    at = datetime(2025, 1, 1, tzinfo=UTC)

    store.record_event("odd", at=at, chinese="你好")

    assert store.events()[0].data == {"at": str(at), "chinese": "你好"}
