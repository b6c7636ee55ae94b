"""Echo recognition of the bot's own replies (actors/echoes.py)."""

from __future__ import annotations

from actors.echoes import EchoTracker


def test_echo_after_send_response_is_recognized_by_message_id() -> None:
    tracker = EchoTracker()
    ticket = tracker.expect("c1", "hello", now=0.0)
    tracker.sent(ticket, "100.PNM")
    assert tracker.is_echo("c1", "hello", "100.PNM", now=1.0)


def test_echo_before_send_response_is_recognized_by_chat_and_text() -> None:
    tracker = EchoTracker()
    ticket = tracker.expect("c1", "hello", now=0.0)
    assert tracker.is_echo("c1", "hello", "100.PNM", now=0.5)
    tracker.sent(ticket, "100.PNM")
    # a redelivered echo is still ours
    assert tracker.is_echo("c1", "hello", "100.PNM", now=0.6)


def test_hand_typed_message_is_not_an_echo() -> None:
    tracker = EchoTracker()
    ticket = tracker.expect("c1", "hello", now=0.0)
    tracker.sent(ticket, "100.PNM")
    assert not tracker.is_echo("c1", "I am the seller", "101.PNM", now=1.0)
    assert not tracker.is_echo("c2", "hello", "102.PNM", now=1.0)


def test_same_text_typed_by_hand_after_the_echo_is_not_an_echo() -> None:
    tracker = EchoTracker()
    tracker.expect("c1", "ok", now=0.0)
    assert tracker.is_echo("c1", "ok", "100.PNM", now=0.1)
    assert not tracker.is_echo("c1", "ok", "101.PNM", now=0.2)


def test_cancelled_and_expired_expectations_are_forgotten() -> None:
    tracker = EchoTracker(ttl_s=10.0)
    ticket = tracker.expect("c1", "a", now=0.0)
    tracker.cancel(ticket)
    assert not tracker.is_echo("c1", "a", "1.PNM", now=0.1)
    tracker.expect("c1", "b", now=0.0)
    assert not tracker.is_echo("c1", "b", "2.PNM", now=11.0)
    assert len(tracker) == 0


def test_echoes_that_beat_their_responses_claim_same_text_replies_oldest_first() -> None:
    tracker = EchoTracker()
    first = tracker.expect("c1", "ok", now=0.0)
    second = tracker.expect("c1", "ok", now=0.1)
    tracker.sent(second, "200.PNM")

    assert tracker.is_echo("c1", "ok", "100.PNM", now=0.2)  # claims the first
    assert not tracker.is_echo("c1", "ok", "101.PNM", now=0.3)  # the second's id is known
    assert tracker.is_echo("c1", "ok", "200.PNM", now=0.4)
    tracker.sent(first, "100.PNM")
    assert tracker.is_echo("c1", "ok", "100.PNM", now=0.5)
