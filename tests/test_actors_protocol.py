"""The IM protocol core (actors/protocol.py): text frames in, frames to send and events out.

No socket, no loop, no clock: every call gets its ``now``. Pushes are built with the
simulator's wire encoders (written from the fact sheet, independently of the decoder).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from actors.failures import FailureClass
from actors.liveness import Liveness
from actors.protocol import (
    Answered,
    Ending,
    FrameUnreadable,
    ImProtocol,
    Pushed,
    PushItemUnreadable,
    TimedOut,
    closed_ending,
    registration_refused,
)
from goofish import frames
from goofish.constants import LWP_HEARTBEAT
from goofish.messages import ChatMessage
from simulator import wire
from simulator.world import StoredMessage

SELLER = "2200000000001"
BUYER = "2200000000002"


def _protocol(*, timeout_s: float = 5.0) -> ImProtocol:
    liveness = Liveness(heartbeat_s=1.0, heartbeat_misses=2, silence_intervals=3)
    protocol = ImProtocol(self_id=SELLER, request_timeout_s=timeout_s, liveness=liveness)
    protocol.connected(0.0)
    return protocol


def _message(text: str, at: int = 1_700_000_000_000) -> StoredMessage:
    return StoredMessage(
        message_id=f"{at}.PNM",
        chat_id="42",
        sender_id=BUYER,
        sender_nick="buyer",
        text=text,
        item_id="7",
        created_at_ms=at,
        client_message_id="0" * 32,
    )


def _push(*items: dict[str, Any]) -> dict[str, Any]:
    return wire.sync_push(list(items), sid="sid-1", ua="ua", seq=1, now=1_700_000_000_000)


def _sent(protocol: ImProtocol) -> list[dict[str, Any]]:
    return [json.loads(text) for text in protocol.data_to_send()]


def _answer(request: dict[str, Any], code: int = 200, body: Any = None) -> str:
    return wire.dumps(wire.response(request["headers"]["mid"], body, code=code))


# --- pushes ---------------------------------------------------------------------------


def test_a_push_is_acked_and_its_messages_come_out() -> None:
    protocol = _protocol()
    push = _push(wire.chat_item(_message("hello"), need_push=True))
    protocol.receive_text(wire.dumps(push), 0.1)
    [ack] = _sent(protocol)
    assert ack == {"code": 200, "headers": frames.ack(push)["headers"]}
    assert ack["headers"]["mid"] == push["headers"]["mid"]
    [event] = protocol.events_received()
    assert isinstance(event, Pushed)
    [message] = event.messages
    assert isinstance(message, ChatMessage)
    assert (message.text, message.chat_id, message.sender_id) == ("hello", "42", BUYER)


def test_an_undecodable_item_is_reported_and_the_good_ones_kept() -> None:
    protocol = _protocol()
    good = wire.chat_item(_message("kept"), need_push=True)
    protocol.receive_text(wire.dumps(_push(wire.garbage_item(), good)), 0.1)
    assert len(_sent(protocol)) == 1  # the ACK, whatever the push holds
    unreadable, pushed = protocol.events_received()
    assert isinstance(unreadable, PushItemUnreadable)
    assert "item 0" in str(unreadable.error)
    assert isinstance(pushed, Pushed)
    assert [m.text for m in pushed.messages if isinstance(m, ChatMessage)] == ["kept"]


def test_a_push_without_items_is_acked_and_nothing_else() -> None:
    protocol = _protocol()
    protocol.receive_text(json.dumps({"lwp": "/s/vulcan", "headers": {"mid": "m 0"}}), 0.1)
    [ack] = _sent(protocol)
    assert ack["headers"]["mid"] == "m 0"
    assert protocol.events_received() == []


@pytest.mark.parametrize("text", ["not json", "[1, 2]", '"a string"'])
def test_a_frame_that_is_not_a_json_object_is_reported_and_skipped(text: str) -> None:
    protocol = _protocol()
    protocol.receive_text(text, 0.1)
    assert protocol.events_received() == [FrameUnreadable(len(text))]
    assert protocol.data_to_send() == []


# --- requests -------------------------------------------------------------------------


def test_a_request_is_sent_and_its_answer_matched_by_mid() -> None:
    protocol = _protocol()
    first, second = frames.list_newest(1, 1), frames.list_newest(2, 1)
    assert protocol.send_request(first, 0.0) == first["headers"]["mid"]
    protocol.send_request(second, 0.0)
    assert _sent(protocol) == [first, second]
    protocol.receive_text(_answer(second, body={"n": 2}), 0.5)
    protocol.receive_text(_answer(first, body={"n": 1}), 0.6)
    answers = protocol.events_received()
    assert [(a.mid, a.frame["body"]) for a in answers if isinstance(a, Answered)] == [
        (second["headers"]["mid"], {"n": 2}),
        (first["headers"]["mid"], {"n": 1}),
    ]
    assert protocol.waiting == 0


def test_an_answer_nobody_asked_for_is_ignored() -> None:
    protocol = _protocol()
    protocol.receive_text(_answer(frames.list_newest(1, 1)), 0.1)
    protocol.receive_text(json.dumps({"code": 200}), 0.1)  # no headers at all
    assert protocol.events_received() == []


def test_an_unanswered_request_times_out_at_its_deadline_and_its_late_answer_is_ignored() -> None:
    protocol = _protocol(timeout_s=2.0)
    request = frames.list_newest(1, 1)
    protocol.send_request(request, 10.0)
    assert protocol.next_deadline() == 12.0
    protocol.expire(11.9)
    assert protocol.events_received() == []
    protocol.expire(12.0)
    assert protocol.events_received() == [TimedOut(request["headers"]["mid"], request["lwp"])]
    assert protocol.next_deadline() is None
    protocol.receive_text(_answer(request), 12.5)
    assert protocol.events_received() == []


def test_a_request_may_have_its_own_timeout() -> None:
    protocol = _protocol(timeout_s=2.0)
    protocol.send_request(frames.list_newest(1, 1), 0.0)
    protocol.send_request(frames.list_newest(2, 1), 0.0, timeout_s=0.5)
    assert protocol.next_deadline() == 0.5
    protocol.expire(0.5)
    assert len(protocol.events_received()) == 1
    assert protocol.next_deadline() == 2.0


def test_a_forgotten_request_never_times_out() -> None:
    protocol = _protocol()
    mid = protocol.send_request(frames.list_newest(1, 1), 0.0)
    protocol.forget(mid)
    protocol.expire(100.0)
    assert protocol.events_received() == []
    assert protocol.next_deadline() is None


def test_a_mid_still_waiting_is_not_reused_and_both_answers_find_their_request() -> None:
    protocol = _protocol()
    first = frames.list_newest(1, 1, mid="m-1")
    assert protocol.send_request(first, 0.0) == "m-1"
    second_mid = protocol.send_request(frames.list_newest(2, 1, mid="m-1"), 0.0)
    assert second_mid != "m-1"
    sent = _sent(protocol)
    assert [f["headers"]["mid"] for f in sent] == ["m-1", second_mid]
    assert sent[1]["body"] == [2, 1]
    protocol.receive_text(_answer(sent[1], body="two"), 0.1)
    protocol.receive_text(_answer(first, body="one"), 0.2)
    answers = protocol.events_received()
    assert [(a.mid, a.frame["body"]) for a in answers if isinstance(a, Answered)] == [
        (second_mid, "two"),
        ("m-1", "one"),
    ]


def test_a_heartbeat_never_shares_a_mid_with_a_waiting_request() -> None:
    protocol = _protocol()
    mids = {protocol.send_request(frames.list_newest(n, 1), 0.0) for n in range(50)}
    for second in range(5):
        assert protocol.heartbeat(second / 10) is None
    beats = [f for f in _sent(protocol) if f["lwp"] == LWP_HEARTBEAT]
    assert len(beats) == 5 and not {b["headers"]["mid"] for b in beats} & mids


def test_each_frame_is_handed_out_once_in_order() -> None:
    protocol = _protocol()
    ack_diff = frames.ack_diff(now_ms=1)
    protocol.send(ack_diff)
    protocol.send_request(frames.list_newest(1, 1), 0.0)
    texts = protocol.data_to_send()
    assert json.loads(texts[0]) == ack_diff and len(texts) == 2
    assert protocol.data_to_send() == []


# --- heartbeats and liveness ----------------------------------------------------------


def test_answered_heartbeats_keep_the_connection_alive() -> None:
    protocol = _protocol()
    for second in range(10):
        assert protocol.heartbeat(float(second)) is None
        [beat] = _sent(protocol)
        assert beat["lwp"] == LWP_HEARTBEAT
        protocol.receive_text(_answer(beat), second + 0.1)
    # heartbeat answers are the protocol's own business: no event
    assert protocol.events_received() == []


def test_unanswered_heartbeats_end_in_a_verdict_and_no_more_beats() -> None:
    protocol = _protocol()
    assert protocol.heartbeat(0.0) is None
    protocol.receive_text(wire.dumps(_push()), 1.0)  # frames still arrive
    assert protocol.heartbeat(1.0) is None
    assert "heartbeat" in (protocol.heartbeat(2.0) or "")
    assert [f.get("lwp") for f in _sent(protocol)] == [LWP_HEARTBEAT, None, LWP_HEARTBEAT]


def test_any_frame_counts_against_silence() -> None:
    protocol = _protocol()
    protocol.receive_text("not even json", 2.5)
    protocol.data_to_send()
    assert protocol.liveness.verdict(5.0) is None
    assert "no frame" in (protocol.liveness.verdict(5.5) or "")


# --- endings --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "registered", "failure"),
    [
        (1000, False, FailureClass.AUTH),
        (4001, False, FailureClass.AUTH),
        (None, False, FailureClass.AUTH),
        (1000, True, FailureClass.NORMAL_CLOSE),
        (1006, True, FailureClass.NETWORK),
        (None, True, FailureClass.NETWORK),
    ],
)
def test_what_a_closed_socket_means(
    code: int | None, registered: bool, failure: FailureClass
) -> None:
    ending = closed_ending(code, registered=registered)
    assert ending.failure is failure
    # a sentence for people: the close code when there was one, never a Python "None"
    assert (str(code) if code is not None else "without a close frame") in ending.reason
    assert "None" not in ending.reason


def test_reg_answers() -> None:
    assert registration_refused({"code": 200, "headers": {}}) is None
    assert registration_refused({"code": 401}) == Ending(
        FailureClass.AUTH, "/reg refused with code 401"
    )
