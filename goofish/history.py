"""Decode history pages: listNewestPagination and listUserMessages responses (section 7.4).

Shapes follow docs/ARCHITECTURE.md "Shapes the fact sheet leaves open".
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

from common.errors import ProtocolError
from common.sentences import json_kind
from goofish._fields import each_item, item_id_from, mapping_at, optional_str, require
from goofish._payload import decode_content_json
from goofish.ids import plain_id
from goofish.messages import ChatMessage, ConversationRef

# listNewestPagination answers this body code when the server applies flow control (7.4).
FLOW_CONTROL_CODE = "400600001"


def is_flow_controlled(body: object) -> bool:
    """True when a list response says "slow down" instead of answering."""
    return isinstance(body, Mapping) and str(body.get("code", "")) == FLOW_CONTROL_CODE


def page_cursor(body: object) -> tuple[bool, int]:
    """``(has_more, next_cursor)`` of a list response."""
    if not isinstance(body, Mapping):
        raise ProtocolError(f"list response body is {json_kind(body)}, not an object")
    has_more = body.get("hasMore", 0)
    next_cursor = require(body, ("nextCursor",), int)
    return bool(has_more) and has_more not in ("0", "false"), next_cursor


def parse_conversations(body: object) -> list[ConversationRef]:
    """The single chats of a ``listNewestPagination`` page, newest first (others skipped)."""
    convs = require({"body": body}, ("body", "userConvs"), list)
    refs = []
    for index, entry in enumerate(convs):
        single = mapping_at(entry, "singleChatUserConversation")
        if not single:
            continue  # group chats and other conversation kinds carry no buyer to answer
        try:
            cid = require(single, ("singleChatConversation", "cid"), str)
            modified = require(single, ("modifyTime",), int)
        except ProtocolError as exc:
            raise exc.at(f"userConvs[{index}]") from exc
        item_id = optional_str(single, "singleChatConversation", "extension", "itemId") or None
        refs.append(ConversationRef(plain_id(cid), modified, item_id))
    return refs


def decode_history_message(model: Mapping[str, Any], *, self_id: str) -> ChatMessage:
    """One ``userMessageModels[i]`` entry as a ``ChatMessage``.

    History carries no ``needPush``; it is set like a live push would have it (False for our own).
    """
    message = require({"model": model}, ("model", "message"), dict)
    extension = mapping_at(message, "extension")
    sender_id = optional_str(extension, "senderUserId") or plain_id(
        require(message, ("sender", "uid"), str)
    )
    content: Mapping[str, Any] = {}
    data = optional_str(message, "content", "custom", "data")
    if data:
        content = decode_content_json(data)
    content_type = content.get("contentType", 0)
    if not isinstance(content_type, int) or isinstance(content_type, bool):
        content_type = 0
    is_own = sender_id == plain_id(self_id)
    return ChatMessage(
        message_id=require(message, ("messageId",), str),
        chat_id=plain_id(require(message, ("cid",), str)),
        sender_id=sender_id,
        sender_nick=optional_str(extension, "senderNick")
        or optional_str(extension, "reminderTitle"),
        text=optional_str(extension, "reminderContent") or optional_str(content, "text", "text"),
        item_id=item_id_from(extension),
        created_at_ms=require(message, ("createAt",), int),
        is_own=is_own,
        need_push=not is_own,
        content_type=content_type,
    )


def decode_history(body: object, *, self_id: str) -> list[ChatMessage | ProtocolError]:
    """Every ``userMessageModels`` entry of a page: a message, or the error that entry raised."""
    models = require({"body": body}, ("body", "userMessageModels"), list)
    return each_item(
        models,
        partial(decode_history_message, self_id=self_id),
        lambda index: f"userMessageModels[{index}]",
    )
