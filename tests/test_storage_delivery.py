"""Delivery state: processed messages, chat pauses, the sync cursor, the token cache."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from common.errors import NotFoundError
from storage import Store


@pytest.fixture
def shop(store: Store) -> Store:
    store.add_account("shop", "unb=2201; c=1", "2201")
    return store


def test_mark_processed_says_whether_the_message_was_new(shop: Store) -> None:
    assert shop.mark_processed("shop", "1.PNM") is True
    assert shop.mark_processed("shop", "1.PNM") is False
    assert shop.is_processed("shop", "1.PNM")
    assert not shop.is_processed("shop", "2.PNM")


def test_record_handled_marks_the_message_and_advances_the_cursor_together(
    shop: Store,
) -> None:
    assert shop.record_handled("shop", "1.PNM", 1_700_000_000_500) is True
    assert shop.record_handled("shop", "1.PNM", 1_700_000_000_100) is False

    assert shop.is_processed("shop", "1.PNM")
    assert shop.get_cursor("shop") == 1_700_000_000_500
    with pytest.raises(NotFoundError, match="'nobody' not found"):
        shop.record_handled("nobody", "1.PNM", 5)


def test_processed_messages_are_per_account(shop: Store) -> None:
    shop.add_account("other", "unb=2202; c=1", "2202")
    shop.mark_processed("shop", "1.PNM")

    assert shop.mark_processed("other", "1.PNM") is True


def test_processed_ids_returns_the_known_subset(shop: Store) -> None:
    known = [f"{n}.PNM" for n in range(0, 1200, 2)]
    for message_id in known:
        shop.mark_processed("shop", message_id)

    asked = [f"{n}.PNM" for n in range(1200)]

    assert shop.processed_ids("shop", asked) == set(known)


def test_prune_processed_forgets_only_older_ids(shop: Store) -> None:
    shop.mark_processed("shop", "old.PNM")
    cutoff = datetime.now(UTC) + timedelta(seconds=1)

    assert shop.prune_processed(older_than=cutoff) == 1
    assert shop.prune_processed(older_than=cutoff.timestamp()) == 0
    assert shop.mark_processed("shop", "old.PNM") is True
    assert shop.prune_processed(older_than=0) == 0


def test_marking_for_an_unknown_account_raises_not_found(shop: Store) -> None:
    with pytest.raises(NotFoundError, match="'nobody' not found"):
        shop.mark_processed("nobody", "1.PNM")


def test_pause_and_unpause_a_chat(shop: Store) -> None:
    until = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=10)

    shop.pause_chat("shop", "chat-1", until)

    assert shop.paused_until("shop", "chat-1") == until
    assert shop.paused_until("shop", "chat-2") is None
    shop.pause_chat("shop", "chat-1", until + timedelta(minutes=5))
    assert shop.paused_until("shop", "chat-1") == until + timedelta(minutes=5)
    shop.unpause_chat("shop", "chat-1")
    assert shop.paused_until("shop", "chat-1") is None


def test_a_pause_read_before_it_was_set_applies_at_once(shop: Store) -> None:
    assert shop.paused_until("shop", "chat-1") is None  # the account's pauses are now cached
    until = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=10)

    shop.pause_chat("shop", "chat-1", until)

    assert shop.paused_until("shop", "chat-1") == until


def test_a_removed_and_added_again_account_has_no_pauses(shop: Store) -> None:
    shop.pause_chat("shop", "chat-1", datetime.now(UTC) + timedelta(minutes=10))
    assert shop.paused_until("shop", "chat-1") is not None

    shop.remove_account("shop")
    shop.add_account("shop", "unb=2201; c=1", "2201")

    assert shop.paused_until("shop", "chat-1") is None


def test_an_expired_pause_reads_as_not_paused(shop: Store) -> None:
    shop.pause_chat("shop", "chat-1", datetime.now(UTC) - timedelta(seconds=1))

    assert shop.paused_until("shop", "chat-1") is None


def test_cursor_starts_at_zero_and_never_moves_back(shop: Store) -> None:
    assert shop.get_cursor("shop") == 0

    shop.advance_cursor("shop", 1_700_000_000_500)
    shop.advance_cursor("shop", 1_700_000_000_100)

    assert shop.get_cursor("shop") == 1_700_000_000_500


def test_cursor_of_an_unknown_account_raises_not_found(shop: Store) -> None:
    with pytest.raises(NotFoundError):
        shop.get_cursor("nobody")
    with pytest.raises(NotFoundError):
        shop.advance_cursor("nobody", 5)


def test_token_cache_round_trips_and_overwrites(shop: Store) -> None:
    issued = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert shop.load_token("shop") is None

    shop.save_token("shop", "t1", "did-1", issued_at=issued)
    shop.save_token("shop", "t2", "did-1", issued_at=issued + timedelta(hours=1))

    record = shop.load_token("shop")
    assert (record.token, record.did, record.issued_at) == (
        "t2",
        "did-1",
        issued + timedelta(hours=1),
    )
    assert "t2" not in repr(record)


def test_chat_pauses_are_listed_and_lifted(sqlite_store) -> None:
    import time as _time

    from common.errors import NotFoundError

    store = sqlite_store
    store.add_account("p", "unb=1; cookie2=x", "1")
    store.pause_chat("p", "chat-b", _time.time() + 600)
    store.pause_chat("p", "chat-a", _time.time() + 60)
    store.pause_chat("p", "chat-old", _time.time() - 60)
    assert list(store.chat_pauses("p")) == ["chat-a", "chat-b"]  # soonest end first
    assert store.unpause_chat("p", "chat-a") is True
    assert store.paused_until("p", "chat-a") is None
    assert store.unpause_chat("p", "chat-old") is False  # over already
    assert store.unpause_chat("p", "nope") is False
    assert list(store.chat_pauses("p")) == ["chat-b"]
    with pytest.raises(NotFoundError):
        store.chat_pauses("nobody")


def test_pending_accounts_names_the_interrupted_updates(sqlite_store) -> None:
    store = sqlite_store
    for name in ("b", "a", "c"):
        store.add_account(name, f"unb={name}; cookie2=x", name)
    store.propose_cookie("b", "unb=b; cookie2=y", source="admin")
    store.propose_cookie("a", "unb=a; cookie2=y", source="admin")
    assert store.pending_accounts() == ["a", "b"]
    assert store.fail_pending_versions() == 2
    assert store.pending_accounts() == []
