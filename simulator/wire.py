"""Frames the simulated IM server sends: responses and pushes (fact sheet sections 3, 6, 7).

Push payloads are int-keyed MessagePack maps laid out as section 6.3/6.4, base64-encoded
inside the ``/s/sync`` / ``/s/para`` envelope; ``/s/vulcan`` items are base64 JSON. History
answers follow "Shapes the fact sheet leaves open" in docs/ARCHITECTURE.md. Pure functions:
every frame is a ``dict``; ``dumps`` makes the compact JSON text that goes on the wire.
"""

from __future__ import annotations

import base64
import json
import random
import secrets
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

import msgpack

from goofish.constants import (
    CONTENT_CUSTOM,
    CONTENT_TRADE_CARD,
    IM_APP_KEY,
    LWP_PUSH_PARA,
    LWP_PUSH_SYNC,
    LWP_PUSH_VULCAN,
    OBJECT_CHAT,
    OBJECT_READ,
    OBJECT_TYPING,
    OBJECT_VULCAN,
)
from goofish.ids import wire_id
from simulator.world import Chat, StoredMessage

Frame = dict[str, Any]

# The body of a history answer under IM flow control (section 7.4).
FLOW_CONTROL_BODY = {"code": "400600001", "message": "flow control"}
# A byte msgpack reserves as "never used": the payload is valid base64 but never decodes.
GARBAGE_PAYLOAD = base64.b64encode(b"\xc1\xc1\xc1\xc1").decode("ascii")


def dumps(frame: Frame) -> str:
    return json.dumps(frame, ensure_ascii=False, separators=(",", ":"))


def _hex_bits(bits: int) -> str:
    # pushes are the hot path: ids that only need to look right come from `random`
    return f"{random.getrandbits(bits):0{bits // 4}x}"


def server_mid() -> str:
    """Server-generated mids are 8 hex chars and ``" 0"`` (section 8)."""
    return f"{_hex_bits(32)} 0"


def new_sid() -> str:
    return secrets.token_hex(22)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def encode_payload(payload: dict[int, Any]) -> str:
    """base64 of the int-keyed MessagePack map: the ``data`` of a push item."""
    return _b64(msgpack.packb(payload, use_bin_type=True))


# responses ----------------------------------------------------------------------------------


def response(mid: str, body: Any = None, *, code: int = 200, sid: str = "") -> Frame:
    frame: Frame = {"code": code, "headers": {"mid": mid, "sid": sid, "dt": "j"}}
    if body is not None:
        frame["body"] = body
    return frame


def reg_reply(mid: str, *, sid: str, user_id: str, ip: str, now: int) -> Frame:
    """The 200 answer to a good ``/reg`` (section 3.2)."""
    return {
        "code": 200,
        "headers": {
            "mid": mid,
            "sid": sid,
            "reg-sid": sid,
            "reg-uid": wire_id(user_id),
            "dt": "j",
            "real-ip": ip,
            "ip-digest": secrets.token_hex(16),
            "ip-region-digest": secrets.token_hex(16),
        },
        "body": {"unitName": "PNM", "cookie": "", "timestamp": now, "isFromChina": True},
    }


def reg_refused(mid: str, reason: str) -> Frame:
    return {"code": 401, "headers": {"mid": mid, "dt": "j"}, "body": {"reason": reason}}


def send_reply(mid: str, *, sid: str, message: StoredMessage, uuid: str) -> Frame:
    """The answer to ``sendByReceiverScope`` (section 7.1)."""
    body = {
        "messageId": message.message_id,
        "uuid": uuid,
        "createAt": message.created_at_ms,
        "receiverCount": 2,
        "unreadCount": 1,
        "msgReadStatusSetting": 1,
        "msgReadStatusDowngrade": 0,
        "content": {"contentType": CONTENT_CUSTOM, "custom": {"type": 1}},
        "extension": {"_platform": "web", "reminderContent": message.text},
    }
    return response(mid, body, sid=sid)


def conversation_ref(chat: Chat) -> dict[str, Any]:
    return {
        "type": 1,
        "singleChatUserConversation": {
            "singleChatConversation": {
                "cid": wire_id(chat.chat_id),
                "bizType": "1",
                "extension": {"itemId": chat.item_id},
            },
            "modifyTime": chat.modify_time,
        },
    }


def created_conversation(chat: Chat, *, self_id: str) -> dict[str, Any]:
    """Body of the ``SingleChatConversation/create`` answer (section 7.3)."""
    return {
        "singleChatConversation": {
            "cid": wire_id(chat.chat_id),
            "bizType": "1",
            "pairFirst": wire_id(chat.peer_of(self_id)),
            "pairSecond": wire_id(self_id),
            "extension": {"itemId": chat.item_id},
        }
    }


def content_json(message: StoredMessage) -> str:
    """The inner content JSON of a message (``["1"]["6"]["3"]["5"]``)."""
    if message.content_type == CONTENT_TRADE_CARD:
        return json.dumps(_trade_card_content(message), ensure_ascii=False)
    return json.dumps({"contentType": 1, "text": {"text": message.text}}, ensure_ascii=False)


def history_message(message: StoredMessage) -> dict[str, Any]:
    """One ``userMessageModels`` entry of ``listUserMessages``."""
    return {
        "message": {
            "messageId": message.message_id,
            "cid": wire_id(message.chat_id),
            "createAt": message.created_at_ms,
            "sender": {"uid": wire_id(message.sender_id)},
            "extension": {
                "reminderTitle": message.title or message.sender_nick,
                "senderUserId": message.sender_id,
                "reminderContent": message.text,
                "reminderUrl": _reminder_url(message),
            },
            "content": {
                "contentType": CONTENT_CUSTOM,
                "custom": {
                    "type": message.content_type,
                    "data": _b64(content_json(message).encode("utf-8")),
                },
            },
        }
    }


# push payloads (section 6.3 / 6.4) ------------------------------------------------------------


def _reminder_url(message: StoredMessage) -> str:
    query = {
        "itemId": message.item_id,
        "peerUserId": message.sender_id,
        "sid": message.chat_id,
        "messageId": message.client_message_id,
        "adv": "no",
    }
    return "fleamarket://message_chat?" + urlencode(query)


def _trade_card_content(message: StoredMessage) -> dict[str, Any]:
    order_url = f"fleamarket://order_detail?id={message.order_id}&role=seller"
    return {
        "contentType": CONTENT_TRADE_CARD,
        "dxCard": {
            "item": {
                "main": {
                    "targetUrl": order_url,
                    "exContent": {"title": message.title, "desc": message.text},
                }
            }
        },
    }


def chat_message_payload(message: StoredMessage, *, need_push: bool) -> dict[int, Any]:
    """A 40000 chat message as the int-keyed map of section 6.3."""
    card = message.content_type == CONTENT_TRADE_CARD
    extension: dict[str, Any] = {
        "reminderTitle": message.title or message.sender_nick,
        "reminderContent": message.text,
        "reminderNotice": message.title if card else "发来一条新消息",
        "detailNotice": message.text,
        "reminderUrl": _reminder_url(message),
        "senderUserId": message.sender_id,
        "senderUserType": "0",
        "sessionType": "1",
        "_platform": "web",
        "bizTag": json.dumps({"sourceId": "S:1", "messageId": message.client_message_id}),
        "extJson": json.dumps(
            {"quickReply": "1", "messageId": message.client_message_id, "tag": "u"}
        ),
    }
    if card:
        extension["extJson"] = json.dumps(
            {
                "msgArg1": "MsgCard",
                "contentType": str(CONTENT_TRADE_CARD),
                "updateKey": f"{message.chat_id}:{message.order_id}:1_not_pay_seller",
                "messageId": message.client_message_id,
            }
        )
    return {
        1: {
            1: {1: wire_id(message.sender_id)},
            2: wire_id(message.chat_id),
            3: message.message_id,
            4: 0,
            5: message.created_at_ms,
            6: {
                1: CONTENT_CUSTOM,
                3: {
                    1: "",
                    2: message.text,
                    3: "",
                    4: message.content_type,
                    5: content_json(message),
                },
            },
            7: 1 if card else 2,
            8: 1,
            9: 0,
            12: 1,
            10: extension,
        },
        3: {"needPush": "true" if need_push else "false"},
    }


def read_receipt_payload(message: StoredMessage, *, at_ms: int) -> dict[int, Any]:
    """A 40103 read-status change: the peer read ``message`` (section 6.4)."""
    return {1: message.message_id, 2: 2, 3: 0, 4: wire_id(message.chat_id), 5: 1, 6: at_ms}


def typing_payload(chat_id: str, user_id: str) -> dict[int, Any]:
    """A 40006 typing signal (section 6.4): the top value is a list."""
    return {1: [{1: wire_id(chat_id), 2: 1, 3: 1, 4: wire_id(user_id)}]}


def sync_item(object_type: int, data: str) -> dict[str, Any]:
    return {
        "bizType": 40,
        "streamId": "40",
        "objectType": object_type,
        "data": data,
        "syncId": _hex_bits(64),
    }


def chat_item(message: StoredMessage, *, need_push: bool) -> dict[str, Any]:
    return sync_item(
        OBJECT_CHAT, encode_payload(chat_message_payload(message, need_push=need_push))
    )


def read_item(message: StoredMessage, *, at_ms: int) -> dict[str, Any]:
    return sync_item(OBJECT_READ, encode_payload(read_receipt_payload(message, at_ms=at_ms)))


def garbage_item() -> dict[str, Any]:
    return sync_item(OBJECT_CHAT, GARBAGE_PAYLOAD)


# envelopes (section 6.1) ---------------------------------------------------------------------


def _push_headers(sid: str, ua: str) -> dict[str, str]:
    return {"app-key": IM_APP_KEY, "mid": server_mid(), "ua": ua, "sid": sid}


def sync_push(items: Sequence[dict[str, Any]], *, sid: str, ua: str, seq: int, now: int) -> Frame:
    """A ``/s/sync`` frame; ``seq`` is the connection's sequence number of the first item."""
    return {
        "lwp": LWP_PUSH_SYNC,
        "headers": _push_headers(sid, ua),
        "body": {
            "syncPushPackage": {
                "maxHighPts": 0,
                "startSeq": seq,
                "endSeq": seq + len(items) - 1,
                "minCreateTime": now,
                "maxPts": now * 1000,
                "hasMore": 0,
                "timestamp": now,
                "data": list(items),
            },
            "syncExtensionModel": {
                "reconnectType": 0,
                "failover": 0,
                "fingerprint": random.getrandbits(31),
            },
        },
    }


def typing_push(chat_id: str, user_id: str, *, sid: str, ua: str) -> Frame:
    """A ``/s/para`` frame carrying one 40006 typing item."""
    item = {
        "bizType": 40,
        "streamId": "40",
        "objectType": OBJECT_TYPING,
        "data": encode_payload(typing_payload(chat_id, user_id)),
        "syncId": "",
    }
    return {
        "lwp": LWP_PUSH_PARA,
        "headers": _push_headers(sid, ua),
        "body": {
            "syncPushPackage": {
                "maxHighPts": 0,
                "startSeq": 0,
                "endSeq": 0,
                "maxPts": 0,
                "hasMore": 0,
                "timestamp": 0,
                "data": [item],
            },
            "syncExtensionModel": {},
        },
    }


def vulcan_push(user_id: str, chats: Sequence[Chat], *, sid: str, ua: str, now: int) -> Frame:
    """The ``/s/vulcan`` batch sent right after ``/reg``: JSON session events with ``chatType``."""
    events = [_vulcan_event(user_id, chat) for chat in chats] or [_vulcan_event(user_id, None)]
    items = [
        {
            "bizType": 370,
            "streamId": "370",
            "objectType": OBJECT_VULCAN,
            "data": _b64(json.dumps(event, ensure_ascii=False).encode("utf-8")),
            "syncId": _hex_bits(64),
        }
        for event in events
    ]
    frame = sync_push(items, sid=sid, ua=ua, seq=1, now=now)
    frame["lwp"] = LWP_PUSH_VULCAN
    return frame


def _vulcan_event(user_id: str, chat: Chat | None) -> dict[str, Any]:
    session_info: dict[str, Any] = {"ownerUserId": user_id}
    if chat is not None:
        session_info.update(itemId=chat.item_id, sessionId=chat.chat_id, itemTitle="")
    return {
        "chatType": 1,
        "incrementType": 1,
        "operation": {"content": {"contentType": 8, "sessionArouse": {}}},
        "receiverIds": [user_id],
        "sessionInfo": session_info,
        "sessionId": chat.chat_id if chat is not None else "",
    }
