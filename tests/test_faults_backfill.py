"""The backfill after a reconnect must not take a bot reply to a *later* message as the
answer to an earlier one that was withheld while the link was down."""

from __future__ import annotations

from tests.plugins.delivery import SELLER, chat, confirm


def test_a_live_reply_to_a_newer_message_does_not_count_as_answering_a_withheld_one(
    delivery, outbox
):
    during = chat(5, text="price? sent while the link was down")
    after = chat(10, text="price? sent after the reconnect")
    # the reconnect's first live push is answered before the backfill comes back
    delivery.on_push([after])
    ((_, _, tag),) = outbox.sent
    confirm(delivery, tag, "1700000000011.PNM")
    reply_to_after = chat(11, text="10 yuan", sender=SELLER)
    delivery.on_backfill([during, after, reply_to_after])
    assert [t.message_id for _, _, t in outbox.sent] == [after.message_id, during.message_id]


def test_a_reply_sent_before_a_crash_still_counts_as_the_answer(delivery, outbox):
    """The crash window: our reply is in the history, but the message was never recorded."""
    withheld = chat(5, text="price?")
    our_reply = chat(6, text="10 yuan", sender=SELLER)
    delivery.on_backfill([withheld, our_reply])
    assert outbox.sent == []


def test_one_reply_in_the_history_answers_only_the_oldest_of_two_unrecorded_messages(
    delivery, outbox
):
    first, second = chat(5, text="price?"), chat(6, text="price? again", chat_id="c1")
    our_reply = chat(7, text="10 yuan", sender=SELLER)
    delivery.on_backfill([first, second, our_reply])
    assert [t.message_id for _, _, t in outbox.sent] == [second.message_id]
