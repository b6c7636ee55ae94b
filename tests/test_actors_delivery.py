"""Delivery decisions (actors/delivery.py) on a real SQLite store, without sockets."""

from __future__ import annotations

import pytest

from actors.delivery import SWAP_BACKFILL_MARGIN_MS, Delivery
from common.errors import StorageError
from storage import Rule, Store
from tests.plugins.delivery import SELLER, chat, confirm


def test_message_is_recorded_only_when_the_send_is_confirmed(delivery, outbox, sqlite_store):
    delivery.on_push([chat(1, text="price?")])
    ((_, text, tag),) = outbox.sent
    assert text == "10 yuan"
    assert not sqlite_store.is_processed("shop-1", tag.message_id)
    delivery.on_push([chat(1, text="price?")])  # redelivered while in flight
    assert len(outbox.sent) == 1
    confirm(delivery, tag, "1800000000000.PNM")
    assert sqlite_store.is_processed("shop-1", tag.message_id)
    assert sqlite_store.get_cursor("shop-1") == tag.created_at_ms
    assert delivery.counters.received == 1 and delivery.counters.replied == 1


def test_echo_arriving_before_the_send_response_does_not_pause(delivery, outbox, sqlite_store):
    delivery.on_push([chat(1, text="price?")])
    ((_, _, tag),) = outbox.sent
    delivery.on_push([chat(2, text="10 yuan", sender=SELLER)])  # the echo, early
    confirm(delivery, tag, chat(2).message_id)
    assert sqlite_store.paused_until("shop-1", "c1") is None


def test_hand_typed_message_pauses_the_chat(delivery, outbox, sqlite_store):
    delivery.on_push([chat(1, text="typed by the seller", sender=SELLER)])
    assert sqlite_store.paused_until("shop-1", "c1") is not None
    delivery.on_push([chat(2, text="price?")])
    assert outbox.sent == []
    assert sqlite_store.is_processed("shop-1", chat(2).message_id)


def test_failed_send_leaves_the_message_for_the_next_backfill(delivery, outbox, sqlite_store):
    delivery.on_push([chat(1, text="price?")])
    ((_, _, tag),) = outbox.sent
    delivery.reply_failed(tag, "session ended")
    assert not sqlite_store.is_processed("shop-1", tag.message_id)
    delivery.on_backfill([chat(1, text="price?")])
    assert len(outbox.sent) == 2


def test_refused_send_is_not_retried(delivery, outbox, sqlite_store):
    delivery.on_push([chat(1, text="price?")])
    ((_, _, tag),) = outbox.sent
    delivery.reply_sent(tag, {"code": 200, "body": {"reason": "x", "moreInfo": "CSI_FORBID"}})
    assert sqlite_store.is_processed("shop-1", tag.message_id)
    assert [e.kind for e in sqlite_store.events("shop-1")] == ["reply_refused"]


@pytest.mark.parametrize("code", [401, 503])
def test_send_answered_about_its_session_is_retried_not_refused(
    delivery, outbox, sqlite_store, code
):
    # 401 "not registered": the reply went out on a session a swap's new /reg had replaced
    delivery.on_push([chat(1, text="price?")])
    ((_, _, tag),) = outbox.sent
    delivery.reply_sent(tag, {"code": code, "body": {"reason": "not registered"}})
    assert not sqlite_store.is_processed("shop-1", tag.message_id)
    assert sqlite_store.events("shop-1") == []
    assert delivery.has_deferred
    delivery.on_backfill([chat(1, text="price?")])
    assert len(outbox.sent) == 2


def test_default_reply_is_claimed_only_when_it_can_be_sent(delivery, outbox):
    outbox.online = False
    delivery.on_push([chat(1, text="anyone?")])
    outbox.online = True
    delivery.on_backfill([chat(1, text="anyone?")])
    assert [text for _, text, _ in outbox.sent] == ["hello"]
    assert delivery.counters.received == 1


def test_backfill_answers_oldest_first_and_skips_what_history_shows_answered(delivery, outbox):
    history = [
        chat(5, text="price? (c2)", chat_id="c2"),
        chat(2, text="price? answered"),
        chat(3, text="our reply", sender=SELLER),
        chat(4, text="price? (c1)"),
    ]
    delivery.on_backfill(history)
    assert [(c, t) for c, t, _ in outbox.sent] == [("c1", "10 yuan"), ("c2", "10 yuan")]
    assert [tag.message_id for _, _, tag in outbox.sent] == [
        chat(4).message_id,
        chat(5).message_id,
    ]


def test_fenced_delivery_neither_sends_nor_writes(delivery, outbox, fence, sqlite_store):
    fence.trip()
    delivery.on_push([chat(1, text="price?"), chat(2, text="x", sender=SELLER)])
    assert outbox.sent == []
    assert sqlite_store.paused_until("shop-1", "c1") is None
    assert sqlite_store.get_cursor("shop-1") == 0


def test_an_unconfirmed_reply_is_deferred_and_the_cursor_stays_before_it(
    delivery, outbox, sqlite_store
):
    delivery.on_push([chat(1, text="price?", chat_id="c1")])
    delivery.on_push([chat(2, text="price?", chat_id="c2")])
    (_, _, first), (_, _, second) = outbox.sent
    delivery.reply_failed(first, "session closed")  # its session went away unanswered
    confirm(delivery, second, "9.PNM")
    assert delivery.has_deferred
    assert not sqlite_store.is_processed("shop-1", first.message_id)
    # a crash now must still backfill the first message: the cursor has not passed it
    assert sqlite_store.get_cursor("shop-1") < first.created_at_ms


def test_the_backfill_answers_a_deferred_message_once(delivery, outbox, sqlite_store):
    delivery.on_push([chat(1, text="price?")])
    ((_, _, tag),) = outbox.sent
    delivery.reply_failed(tag, "session closed")
    delivery.on_backfill([chat(1, text="price?")])
    assert len(outbox.sent) == 2
    confirm(delivery, outbox.sent[1][2], "9.PNM")
    assert not delivery.has_deferred
    assert sqlite_store.is_processed("shop-1", tag.message_id)
    delivery.on_backfill([chat(1, text="price?")])
    assert len(outbox.sent) == 2


def test_a_deferred_reply_that_reached_the_server_is_not_sent_again(delivery, outbox):
    delivery.on_push([chat(1, text="price?")])
    ((_, _, tag),) = outbox.sent
    delivery.reply_failed(tag, "session closed")
    # the history shows our reply after the buyer's message: it got through after all
    delivery.on_backfill([chat(1, text="price?"), chat(2, text="10 yuan", sender=SELLER)])
    assert len(outbox.sent) == 1
    assert not delivery.has_deferred


class FlakyStore:
    """The real store, whose reads of the reply rules fail while ``broken`` is set."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.broken = False

    def get_rules(self, account_id: str):
        if self.broken:
            raise StorageError("reading the reply rules failed: database is locked")
        return self._store.get_rules(account_id)

    def __getattr__(self, name: str):
        return getattr(self._store, name)


def test_a_database_failure_defers_the_message_instead_of_crashing(sqlite_store, outbox, fence):
    sqlite_store.add_account("shop-1", f"unb={SELLER}", SELLER)
    sqlite_store.set_rules("shop-1", [Rule("price", "10 yuan")], None)
    flaky = FlakyStore(sqlite_store)
    delivery = Delivery(
        account_id="shop-1",
        user_id=SELLER,
        store=flaky,
        fence=fence,
        send=outbox.send,
        can_send=lambda: True,
        pause_minutes=lambda: 5,
    )
    flaky.broken = True
    delivery.on_push([chat(1, text="price?")])  # must not raise
    assert delivery.has_deferred
    assert outbox.sent == []
    flaky.broken = False
    delivery.on_backfill([chat(1, text="price?")])
    assert [text for _, text, _ in outbox.sent] == ["10 yuan"]


def test_a_swap_backfill_looks_back_from_the_newest_message_seen_when_it_started(delivery, outbox):
    delivery.on_push([chat(1, text="price?")])
    ((_, _, tag),) = outbox.sent
    confirm(delivery, tag, "900.PNM")
    seen = delivery.newest_seen_ms

    assert seen == chat(1).created_at_ms
    assert delivery.swap_backfill_since(seen) == seen - SWAP_BACKFILL_MARGIN_MS


def test_a_swap_backfill_reaches_back_to_a_message_still_waiting_for_its_answer(delivery):
    delivery.on_push([chat(1, text="price?")])  # sent, its answer not back yet
    seen = chat(1).created_at_ms + 5 * SWAP_BACKFILL_MARGIN_MS

    assert delivery.swap_backfill_since(seen) == chat(1).created_at_ms - 1


def test_a_swap_backfill_before_any_message_was_seen_starts_at_the_cursor(delivery, sqlite_store):
    sqlite_store.advance_cursor("shop-1", chat(1).created_at_ms)

    assert delivery.swap_backfill_since(0) == delivery.backfill_since()
