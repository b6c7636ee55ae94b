"""Typed, immutable results of decoding pushes and history (fact sheet sections 6, 7.4).

Ids are stored without ``@goofish``. ``message_id`` is the server id ``"<n>.PNM"``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ChatMessage:
    """A chat message (objectType 40000), from a buyer or echoed from this seller."""

    message_id: str
    chat_id: str
    sender_id: str
    sender_nick: str
    text: str
    item_id: str | None
    created_at_ms: int
    is_own: bool
    # ``"3".needPush``: "false" on echoes of the seller's own messages (section 6.3).
    need_push: bool
    # The inner content type: 1 text, 2 image, 3 audio, 26 trade card (section 6.3).
    content_type: int


@dataclass(frozen=True)
class ReadReceipt:
    """The peer read a message (objectType 40103)."""

    chat_id: str
    message_id: str
    at_ms: int


@dataclass(frozen=True)
class Typing:
    """A typing / session signal (objectType 40006 on ``/s/para``)."""

    chat_id: str
    user_id: str


@dataclass(frozen=True)
class TradeCard:
    """An order card (a 40000 message whose inner content type is 26), e.g. "买家已拍下"."""

    chat_id: str
    message_id: str
    sender_id: str
    title: str
    text: str
    order_id: str | None
    item_id: str | None
    created_at_ms: int


@dataclass(frozen=True)
class SystemEvent:
    """Anything else: vulcan/session events, card updates, tips. Kept raw for logging."""

    raw: Mapping[str, Any] = field(hash=False)


Message = ChatMessage | ReadReceipt | Typing | TradeCard | SystemEvent


@dataclass(frozen=True)
class ConversationRef:
    """One conversation of ``listNewestPagination``: where to look for missed messages."""

    chat_id: str
    modified_at_ms: int
    item_id: str | None
