"""Builders for the frames a client sends (fact sheet sections 3.1, 3.3, 4, 5, 7.1, 7.3, 7.4).

Each builder returns a plain ``dict``; ``dumps`` turns it into the compact JSON text frame.
Ids are taken without ``@goofish``; the builders add it. ``mid``/``uuid`` default to fresh ones
and can be fixed for tests.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

from goofish.constants import (
    CONTENT_CUSTOM,
    CONTENT_TEXT,
    IM_APP_KEY,
    LWP_ACK_DIFF,
    LWP_CREATE_CHAT,
    LWP_HEARTBEAT,
    LWP_LIST_MESSAGES,
    LWP_LIST_NEWEST,
    LWP_REG,
    LWP_SEND,
    REG_UA,
)
from goofish.ids import new_mid, new_uuid, wire_id

Frame = dict[str, Any]

_WEB_CTX = {"appVersion": "1.0", "platform": "web"}
# Header names an ACK copies from the push it acknowledges (section 5).
_ACK_COPIED_HEADERS = ("app-key", "ua", "dt")


# one encoder for every frame: json.dumps with options builds a new one per call
_FRAME_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def dumps(frame: Mapping[str, Any]) -> str:
    """Compact JSON for a text frame (non-ASCII kept as is)."""
    return _FRAME_ENCODER.encode(frame)


def _request(lwp: str, mid: str | None, body: list[Any] | None = None) -> Frame:
    frame: Frame = {"lwp": lwp, "headers": {"mid": mid or new_mid()}}
    if body is not None:
        frame["body"] = body
    return frame


def reg(token: str, did: str, *, mid: str | None = None) -> Frame:
    """``/reg``: register this connection with the IM token and the did it was issued for."""
    return {
        "lwp": LWP_REG,
        "headers": {
            "cache-header": "app-key token ua wv",
            "app-key": IM_APP_KEY,
            "token": token,
            "ua": REG_UA,
            "dt": "j",
            "wv": "im:3,au:3,sy:6",
            "sync": "0,0;0;0;",
            "did": did,
            "mid": mid or new_mid(),
        },
    }


def ack_diff(*, now_ms: int, mid: str | None = None) -> Frame:
    """``ackDiff``: "synced up to now" (``pts`` in microseconds)."""
    position = {
        "pipeline": "sync",
        "tooLong2Tag": "PNM,1",
        "channel": "sync",
        "topic": "sync",
        "highPts": 0,
        "pts": now_ms * 1000,
        "seq": 0,
        "timestamp": now_ms,
    }
    return _request(LWP_ACK_DIFF, mid, [position])


def heartbeat(*, mid: str | None = None) -> Frame:
    """``/!``: the application heartbeat (no body)."""
    return _request(LWP_HEARTBEAT, mid)


def ack(push: Mapping[str, Any]) -> Frame:
    """The ACK of a server push: its mid and sid, plus app-key/ua/dt when present."""
    incoming = push.get("headers")
    incoming = incoming if isinstance(incoming, Mapping) else {}
    headers = {"mid": incoming.get("mid") or new_mid(), "sid": incoming.get("sid") or ""}
    for name in _ACK_COPIED_HEADERS:
        if name in incoming:
            headers[name] = incoming[name]
    return {"code": 200, "headers": headers}


def text_content(text: str) -> str:
    """The content JSON of a text message (the payload of ``custom.data``, before base64)."""
    return json.dumps({"contentType": CONTENT_TEXT, "text": {"text": text}}, ensure_ascii=False)


def send_text(
    cid: str,
    peer_id: str,
    self_id: str,
    text: str,
    *,
    mid: str | None = None,
    uuid: str | None = None,
) -> Frame:
    """``sendByReceiverScope``: a text message to ``peer_id`` in conversation ``cid``."""
    data = base64.b64encode(text_content(text).encode("utf-8")).decode("ascii")
    message = {
        "uuid": uuid or new_uuid(),
        "cid": wire_id(cid),
        "conversationType": 1,
        "content": {"contentType": CONTENT_CUSTOM, "custom": {"type": 1, "data": data}},
        "redPointPolicy": 0,
        "extension": {"extJson": "{}"},
        "ctx": dict(_WEB_CTX),
        "mtags": {},
        "msgReadStatusSetting": 1,
    }
    receivers = {"actualReceivers": [wire_id(peer_id), wire_id(self_id)]}
    return _request(LWP_SEND, mid, [message, receivers])


def create_chat(peer_id: str, self_id: str, item_id: str, *, mid: str | None = None) -> Frame:
    """``SingleChatConversation/create``: open (or get) the chat with a buyer about an item."""
    conversation = {
        "pairFirst": wire_id(peer_id),
        "pairSecond": wire_id(self_id),
        "bizType": "1",
        "extension": {"itemId": item_id},
        "ctx": dict(_WEB_CTX),
    }
    return _request(LWP_CREATE_CHAT, mid, [conversation])


def list_newest(cursor: int, limit: int, *, mid: str | None = None) -> Frame:
    """``listNewestPagination``: conversations modified before ``cursor`` ms, newest first."""
    return _request(LWP_LIST_NEWEST, mid, [cursor, limit])


def list_user_messages(cid: str, cursor: int, limit: int, *, mid: str | None = None) -> Frame:
    """``listUserMessages``: messages of ``cid`` created before ``cursor`` ms, newest first."""
    return _request(LWP_LIST_MESSAGES, mid, [wire_id(cid), False, cursor, limit, False])
