"""Backfill pagination (actors/history.py) against a fake roundtrip: no socket, no clock.

The fake answers ``listNewestPagination`` and ``listUserMessages`` as the simulator does
(its wire builders; paging newest first, strictly older than the cursor), from a fixed set
of chats whose times the tests choose.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import pytest
from structlog.testing import capture_logs

from actors.history import FLOW_CONTROL_WAITS_S, History
from common.errors import ProtocolError
from goofish.constants import LWP_LIST_MESSAGES, LWP_LIST_NEWEST
from goofish.ids import plain_id
from simulator import wire
from simulator.world import Chat, StoredMessage

SELLER = "2200000000001"
BUYER = "2200000000002"


def _run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coro)


def _page(entries: list, key, cursor: int, limit: int) -> tuple[list, bool, int]:
    older = sorted((e for e in entries if key(e) < cursor), key=key, reverse=True)
    page = older[:limit]
    return page, len(older) > len(page), key(page[-1]) if page else 0


class FakeServer:
    """Chats with messages at given times; records every request it answered."""

    def __init__(self, chats: dict[str, list[int]]) -> None:
        self.chats: dict[str, Chat] = {}
        for chat_id, times in chats.items():
            chat = Chat(chat_id, BUYER, SELLER, "item-" + chat_id, max(times, default=0))
            chat.messages = [self._message(chat_id, at) for at in times]
            self.chats[chat_id] = chat
        self.requests: list[dict[str, Any]] = []
        # answers to give instead of the real one, first come first served
        self.overrides: list[dict[str, Any]] = []

    @staticmethod
    def _message(chat_id: str, at: int) -> StoredMessage:
        return StoredMessage(
            message_id=f"{at:013d}.PNM",
            chat_id=chat_id,
            sender_id=BUYER,
            sender_nick="buyer",
            text=f"at {at}",
            item_id="item-" + chat_id,
            created_at_ms=at,
            client_message_id="0" * 32,
        )

    async def roundtrip(self, frame: dict[str, Any]) -> dict[str, Any]:
        self.requests.append(frame)
        mid = frame["headers"]["mid"]
        if self.overrides:
            return {**self.overrides.pop(0), "headers": {"mid": mid}}
        body = frame["body"]
        if frame["lwp"] == LWP_LIST_NEWEST:
            cursor, limit = body
            chats, more, nxt = _page(
                list(self.chats.values()), lambda c: c.modify_time, cursor, limit
            )
            answer = {
                "hasMore": int(more),
                "nextCursor": nxt,
                "userConvs": [wire.conversation_ref(c) for c in chats],
            }
        else:
            assert frame["lwp"] == LWP_LIST_MESSAGES
            chat = self.chats[plain_id(body[0])]
            messages, more, nxt = _page(chat.messages, lambda m: m.created_at_ms, body[2], body[3])
            answer = {
                "hasMore": int(more),
                "nextCursor": nxt,
                "userMessageModels": [wire.history_message(m) for m in messages],
            }
        return wire.response(mid, answer)

    def asked(self, lwp: str) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["lwp"] == lwp]


class Sleeps:
    """A fake ``sleep``: records the waits, never waits."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def _history(server: FakeServer, sleeps: Sleeps | None = None, **pages: int) -> History:
    return History(server.roundtrip, self_id=SELLER, sleep=sleeps or Sleeps(), **pages)


def _times(messages) -> list[int]:
    return [m.created_at_ms for m in messages]


def test_pages_through_conversations_and_messages_down_to_since() -> None:
    server = FakeServer({"1": [100, 200, 300, 400, 500], "2": [150, 450], "3": [50, 120]})
    history = _history(server, conversation_page=1, message_page=2)
    messages = _run(history.fetch_since(300))
    # chat 1 (modified 500), then chat 2 (450); chat 3 (120) is older than since
    assert _times(messages) == [500, 400, 300, 450]
    assert {m.chat_id for m in messages} == {"1", "2"}
    # conversations: pages of one until the first one older than since (chat 3)
    assert len(server.asked(LWP_LIST_NEWEST)) == 3
    message_requests = server.asked(LWP_LIST_MESSAGES)
    # chat 1: [500, 400], [300, 200] (200 < since: stop); chat 2: [450, 150] (150 < since)
    assert [plain_id(r["body"][0]) for r in message_requests] == ["1", "1", "2"]
    # every request is a new one: a mid of its own
    assert len({r["headers"]["mid"] for r in server.requests}) == len(server.requests)


def test_the_first_page_asks_from_the_newest_and_the_next_from_the_cursor() -> None:
    server = FakeServer({"1": [10, 20, 30]})
    _run(_history(server, message_page=1).fetch_since(0))
    cursors = [r["body"][2] for r in server.asked(LWP_LIST_MESSAGES)]
    assert cursors[0] > 30 and cursors[1:] == [30, 20]


def test_nothing_since_asks_only_the_first_conversation_page() -> None:
    server = FakeServer({"1": [100], "2": [200]})
    assert _run(_history(server).fetch_since(1_000)) == []
    assert len(server.requests) == 1


def test_messages_are_decoded_as_ours_or_the_buyers() -> None:
    server = FakeServer({"7": [100]})
    [message] = _run(_history(server).fetch_since(0))
    assert (message.message_id, message.chat_id, message.text) == (
        "0000000000100.PNM",
        "7",
        "at 100",
    )
    assert not message.is_own


def test_flow_control_is_waited_out_as_the_web_client_does() -> None:
    server = FakeServer({"1": [100]})
    server.overrides = [{"code": 200, "body": wire.FLOW_CONTROL_BODY}] * 2
    sleeps = Sleeps()
    messages = _run(_history(server, sleeps).fetch_since(0))
    assert _times(messages) == [100]
    assert sleeps.waits == list(FLOW_CONTROL_WAITS_S[:2])


def test_flow_control_that_never_lifts_is_a_protocol_error() -> None:
    server = FakeServer({"1": [100]})
    server.overrides = [{"code": 200, "body": wire.FLOW_CONTROL_BODY}] * 10
    sleeps = Sleeps()
    with pytest.raises(ProtocolError, match="flow-controlled"):
        _run(_history(server, sleeps).fetch_since(0))
    assert sleeps.waits == list(FLOW_CONTROL_WAITS_S)
    assert len(server.requests) == len(FLOW_CONTROL_WAITS_S) + 1


def test_a_refused_page_is_a_protocol_error_naming_the_code() -> None:
    server = FakeServer({"1": [100]})
    server.overrides = [{"code": 500}]
    with pytest.raises(ProtocolError, match="code 500"):
        _run(_history(server).fetch_since(0))


def test_a_page_of_the_wrong_shape_is_a_protocol_error() -> None:
    server = FakeServer({"1": [100]})
    server.overrides = [{"code": 200, "body": ["not", "an", "object"]}]
    with pytest.raises(ProtocolError):
        _run(_history(server).fetch_since(0))


def test_an_undecodable_entry_is_logged_and_the_rest_kept() -> None:
    server = FakeServer({"1": [100, 200]})
    good = wire.history_message(server.chats["1"].messages[1])
    broken = {"message": {"messageId": "x"}}
    page = {"hasMore": 0, "nextCursor": 0, "userMessageModels": [good, broken]}
    conversations = {
        "hasMore": 0,
        "nextCursor": 0,
        "userConvs": [wire.conversation_ref(server.chats["1"])],
    }
    server.overrides = [{"code": 200, "body": conversations}, {"code": 200, "body": page}]
    with capture_logs() as logs:
        messages = _run(_history(server).fetch_since(0))
    assert _times(messages) == [200]
    assert [e["event"] for e in logs] == ["history_entry_undecodable"]


def test_what_the_roundtrip_raises_passes_through() -> None:
    class Gone(Exception):
        pass

    async def roundtrip(_frame: dict[str, Any]) -> dict[str, Any]:
        raise Gone

    with pytest.raises(Gone):
        _run(History(roundtrip, self_id=SELLER, sleep=Sleeps()).fetch_since(0))
