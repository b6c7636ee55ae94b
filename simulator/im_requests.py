"""The simulated IM server's answers to conversation requests (fact sheet sections 6, 7).

``/r/SyncStatus/ackDiff``, ``/r/SingleChatConversation/create``, the two history pages
(``listNewestPagination``, ``listUserMessages``, both under the flow-control knob) and
``/r/MessageManager/sendByReceiverScope``. A mixin of ``ImServer``: the handlers read the
world and the knobs and answer through the server's ``_send``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from collections.abc import Coroutine
from typing import Any

from goofish.constants import CONTENT_IMAGE
from goofish.ids import plain_id
from simulator import wire
from simulator.im_conn import BadRequest, Conn
from simulator.knobs import Knobs
from simulator.world import Chat, StoredMessage, World, now_ms


class ConversationRequests:
    """Request handlers of ``ImServer`` for conversations, history and sends."""

    _world: World
    _knobs: Knobs
    _registered: dict[str, list[Conn]]

    async def _send(self, conn: Conn, frame: dict[str, Any]) -> bool:
        raise NotImplementedError

    async def deliver(
        self, user_id: str, message: StoredMessage, chat: Chat, *, counter: str
    ) -> bool:
        raise NotImplementedError

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        raise NotImplementedError

    async def _on_ack_diff(self, conn: Conn, mid: str, body: Any) -> None:
        now = now_ms()
        answer = {
            "pipeline": "sync",
            "tooLong2Tag": "PNM,1",
            "channel": "sync",
            "topic": "sync",
            "highPts": 0,
            "pts": now * 1000,
            "seq": 0,
            "timestamp": now,
        }
        await self._send(conn, wire.response(mid, answer, sid=conn.sid))

    async def _on_create(self, conn: Conn, mid: str, body: Any) -> None:
        if conn.zombie:  # PR #290: a zombie session's create is refused with 400
            await self._send(conn, wire.response(mid, {"reason": "session invalid"}, code=400))
            return
        args = _first_dict(body)
        pair = {plain_id(str(args.get("pairFirst", ""))), plain_id(str(args.get("pairSecond", "")))}
        assert conn.user_id is not None
        if conn.user_id not in pair or len(pair) != 2 or "" in pair:
            raise BadRequest("pairFirst/pairSecond must name the caller and one peer")
        raw_extension = args.get("extension")
        extension = raw_extension if isinstance(raw_extension, dict) else {}
        item_id = str(extension.get("itemId") or self._world.new_item_id())
        peer = next(iter(pair - {conn.user_id}))
        chat = self._world.chat_for(buyer_id=peer, seller_id=conn.user_id, item_id=item_id)
        answer = wire.created_conversation(chat, self_id=conn.user_id)
        await self._send(conn, wire.response(mid, answer, sid=conn.sid))

    async def _flow_controlled(self, conn: Conn, mid: str) -> bool:
        conn.history_requests += 1
        if conn.history_requests > self._knobs.flow_control_first_n:
            return False
        await self._send(conn, wire.response(mid, wire.FLOW_CONTROL_BODY, sid=conn.sid))
        return True

    async def _on_list_newest(self, conn: Conn, mid: str, body: Any) -> None:
        if await self._flow_controlled(conn, mid):
            return
        cursor, limit = _int_args(body, 0, 1)
        assert conn.user_id is not None
        chats, has_more, next_cursor = self._world.conversation_page(conn.user_id, cursor, limit)
        answer = {
            "hasMore": int(has_more),
            "nextCursor": next_cursor,
            "userConvs": [wire.conversation_ref(chat) for chat in chats],
        }
        await self._send(conn, wire.response(mid, answer, sid=conn.sid))

    async def _on_list_messages(self, conn: Conn, mid: str, body: Any) -> None:
        if not isinstance(body, list) or not body or not isinstance(body[0], str):
            raise BadRequest('body must be ["<cid>@goofish", false, cursor, limit, false]')
        if await self._flow_controlled(conn, mid):
            return
        chat = self._chat_of(conn, body[0])
        cursor, limit = _int_args(body, 2, 3)
        messages, has_more, next_cursor = self._world.message_page(chat, cursor, limit)
        answer = {
            "hasMore": int(has_more),
            "nextCursor": next_cursor,
            "userMessageModels": [wire.history_message(m) for m in messages],
        }
        await self._send(conn, wire.response(mid, answer, sid=conn.sid))

    async def _on_send(self, conn: Conn, mid: str, body: Any) -> None:
        args = _first_dict(body)
        chat = self._chat_of(conn, str(args.get("cid", "")))
        text = _sent_text(args.get("content"))
        uuid = str(args.get("uuid", ""))
        if any(word in text for word in self._knobs.forbidden_words):
            refusal = {"reason": "content security", "moreInfo": "CSI_FORBID||安全拦截"}
            await self._send(conn, wire.response(mid, refusal, sid=conn.sid))
            return
        assert conn.user_id is not None
        message = self._world.add_message(chat, conn.user_id, text)
        peer = chat.peer_of(conn.user_id)
        self._world.record_sent(conn.user_id, message, peer)
        if conn.user_id == chat.seller_id:
            chat.unread_by_buyer = message
        if self._knobs.send_response_delay_s > 0:
            self._spawn(self._answer_send_later(conn, mid, uuid, message, chat))
        else:
            await self._answer_send(conn, mid, uuid, message, chat)

    async def _answer_send_later(
        self, conn: Conn, mid: str, uuid: str, message: StoredMessage, chat: Chat
    ) -> None:
        await asyncio.sleep(self._knobs.send_response_delay_s)
        await self._answer_send(conn, mid, uuid, message, chat)

    async def _answer_send(
        self, conn: Conn, mid: str, uuid: str, message: StoredMessage, chat: Chat
    ) -> None:
        await self._send(conn, wire.send_reply(mid, sid=conn.sid, message=message, uuid=uuid))
        assert conn.user_id is not None
        # the echo: the sender sees its own message come back with needPush "false"
        await self.deliver(conn.user_id, message, chat, counter="echoed")
        peer = chat.peer_of(conn.user_id)
        if peer in self._registered:  # the peer is a simulated seller too: it gets the message
            await self.deliver(peer, message, chat, counter="pushed")

    def _chat_of(self, conn: Conn, wire_cid: str) -> Chat:
        chat = self._world.chats.get(plain_id(wire_cid))
        if chat is None or conn.user_id not in (chat.buyer_id, chat.seller_id):
            raise BadRequest(f"no conversation {wire_cid!r} for this user")
        return chat


def _first_dict(body: Any) -> dict[str, Any]:
    if isinstance(body, list) and body and isinstance(body[0], dict):
        return body[0]
    raise BadRequest("body must be a list whose first element is an object")


def _int_args(body: Any, *indexes: int) -> tuple[int, ...]:
    try:
        values = tuple(body[i] for i in indexes)
    except (TypeError, IndexError, KeyError):
        raise BadRequest(f"body needs integers at positions {indexes}") from None
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise BadRequest(f"body needs integers at positions {indexes}")
    return values


def _sent_text(content: Any) -> str:
    """The text of a sent message: base64 content JSON inside ``content.custom.data``."""
    try:
        data = content["custom"]["data"]
        inner = json.loads(base64.b64decode(data, validate=True))
    except (TypeError, KeyError, ValueError, binascii.Error):
        raise BadRequest("content.custom.data must be base64 of the content JSON") from None
    if not isinstance(inner, dict):
        raise BadRequest("content JSON must be an object")
    if inner.get("contentType") == CONTENT_IMAGE:
        return "[图片]"
    text = inner.get("text", {}).get("text") if isinstance(inner.get("text"), dict) else None
    if not isinstance(text, str):
        raise BadRequest('text content must be {"contentType": 1, "text": {"text": "..."}}')
    return text
