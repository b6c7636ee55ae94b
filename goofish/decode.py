"""Decode server pushes into typed messages (fact sheet section 6).

Every item of ``body.syncPushPackage.data`` is decoded on its own: one malformed item becomes a
``ProtocolError`` in the results and never hides the others (upstream read only ``data[0]``
and lost messages). Nothing here raises anything but ``ProtocolError``.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

from common.errors import ProtocolError
from common.sentences import json_kind
from goofish._fields import (
    each_item,
    item_id_from,
    json_object,
    mapping_at,
    optional_str,
    order_id_from,
    require,
)
from goofish._payload import decode_content_json, decode_data
from goofish.constants import CONTENT_TRADE_CARD
from goofish.history import (
    decode_history,
    decode_history_message,
    page_cursor,
    parse_conversations,
)
from goofish.ids import plain_id
from goofish.messages import ChatMessage, Message, ReadReceipt, SystemEvent, TradeCard, Typing

__all__ = [
    "decode_content_json",
    "decode_history",
    "decode_history_message",
    "decode_item",
    "decode_push",
    "decode_push_items",
    "is_push",
    "page_cursor",
    "parse_conversations",
]


def _push_items(frame: object) -> list[Any] | None:
    body = frame.get("body") if isinstance(frame, Mapping) else None
    package = body.get("syncPushPackage") if isinstance(body, Mapping) else None
    data = package.get("data") if isinstance(package, Mapping) else None
    return data if isinstance(data, list) else None


def is_push(frame: object) -> bool:
    """True for a server push carrying items (``body.syncPushPackage.data`` non-empty)."""
    return bool(_push_items(frame))


def decode_push_items(frame: object, *, self_id: str) -> list[Message | ProtocolError]:
    """One result per item, in order: a message, or the ``ProtocolError`` that item raised.

    Raises ``ProtocolError`` only when the frame is not a push at all.
    """
    items = _push_items(frame)
    if items is None:
        raise ProtocolError("frame is not a push: body.syncPushPackage.data is missing")
    lwp = frame.get("lwp", "?") if isinstance(frame, Mapping) else "?"
    return each_item(
        items,
        partial(decode_item, self_id=self_id),
        lambda index: f"{lwp} push item {index} of {len(items)}",
    )


def decode_push(frame: object, *, self_id: str) -> list[Message]:
    """The messages of a push, skipping items that do not decode."""
    return [
        result
        for result in decode_push_items(frame, self_id=self_id)
        if not isinstance(result, ProtocolError)
    ]


def decode_item(item: object, *, self_id: str) -> Message:
    """Decode one ``syncPushPackage.data`` entry (``{"objectType", "data": base64, ...}``)."""
    if not isinstance(item, Mapping):
        raise ProtocolError(f"item is {json_kind(item)}, not an object")
    payload = decode_data(require(item, ("data",), str))
    if "chatType" in payload:
        return SystemEvent(payload)
    return classify(payload, self_id=self_id)


def classify(payload: Mapping[str, Any], *, self_id: str) -> Message:
    """Classify a decoded (string-keyed) payload by its shape (sections 6.3, 6.4)."""
    top = payload.get("1")
    if isinstance(top, list):
        return _typing(top)
    if isinstance(top, Mapping):
        return _chat_or_card(payload, self_id=self_id)
    receipt = _read_receipt(payload)
    return receipt if receipt is not None else SystemEvent(payload)


def _typing(entries: list[Any]) -> Typing:
    if not entries:
        raise ProtocolError("typing signal has an empty list under '1'")
    entry = {"1": entries[0]}
    return Typing(
        chat_id=plain_id(require(entry, ("1", "1"), str)),
        user_id=plain_id(require(entry, ("1", "4"), str)),
    )


def _read_receipt(payload: Mapping[str, Any]) -> ReadReceipt | None:
    """Both 40103 layouts: ``{"1": "<id>.PNM", "4": cid, "6": ms}`` and the 4-key variant."""
    first = payload.get("1")
    if not isinstance(first, str):
        return None
    if first.endswith(".PNM") and isinstance(payload.get("4"), str):
        return ReadReceipt(
            chat_id=plain_id(payload["4"]),
            message_id=first,
            at_ms=require(payload, ("6",), int),
        )
    if first.endswith("@goofish") and len(payload) == 4 and isinstance(payload.get("3"), str):
        return ReadReceipt(
            chat_id=plain_id(first),
            message_id=payload["3"],
            at_ms=require(payload, ("4",), int),
        )
    return None


def _content(message: Mapping[str, Any]) -> tuple[int, Mapping[str, Any], str]:
    """(inner content type, parsed content JSON, display summary) of ``message["6"]["3"]``."""
    inner = mapping_at(message, "6", "3")
    content_type = inner.get("4")
    if not isinstance(content_type, int) or isinstance(content_type, bool):
        content_type = 0
    content = json_object(optional_str(inner, "5"))
    if not content and optional_str(inner, "1"):
        # Older pushes carried base64 JSON in "1" (section 6.3).
        try:
            content = decode_content_json(inner["1"])
        except ProtocolError:
            content = {}
    return content_type, content, optional_str(inner, "2")


def _chat_or_card(payload: Mapping[str, Any], *, self_id: str) -> Message:
    message = payload["1"]
    extension = mapping_at(message, "10")
    chat_id = plain_id(require(payload, ("1", "2"), str))
    message_id = require(payload, ("1", "3"), str)
    created_at_ms = require(payload, ("1", "5"), int)
    sender_id = optional_str(extension, "senderUserId") or plain_id(
        require(payload, ("1", "1", "1"), str)
    )
    content_type, content, summary = _content(message)
    text = (
        optional_str(extension, "reminderContent")
        or optional_str(content, "text", "text")
        or summary
    )
    title = optional_str(extension, "senderNick") or optional_str(extension, "reminderTitle")
    item_id = item_id_from(extension)
    ext_json = json_object(optional_str(extension, "extJson"))
    if optional_str(ext_json, "msgArg1") == "MsgTips":
        # Platform tips and marketing look like chat messages but nobody is asking anything.
        return SystemEvent(payload)
    if content_type == CONTENT_TRADE_CARD or optional_str(ext_json, "contentType") == "26":
        return TradeCard(
            chat_id=chat_id,
            message_id=message_id,
            sender_id=sender_id,
            title=title,
            text=text,
            order_id=order_id_from(content, extension),
            item_id=item_id,
            created_at_ms=created_at_ms,
        )
    return ChatMessage(
        message_id=message_id,
        chat_id=chat_id,
        sender_id=sender_id,
        sender_nick=title,
        text=text,
        item_id=item_id,
        created_at_ms=created_at_ms,
        is_own=sender_id == plain_id(self_id),
        need_push=optional_str(payload, "3", "needPush").lower() != "false",
        content_type=content_type,
    )
