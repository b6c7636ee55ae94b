"""Backfill from the conversation history, written against a ``roundtrip`` callable.

``roundtrip(frame) -> response`` sends one request and returns its answer (the session's
request/response correlation; a fake in tests). No socket, no clock: the flow-control waits
go through the ``sleep`` given (``asyncio.sleep`` by default).

``fetch_since`` walks ``listNewestPagination`` (newest conversations first) down to the
first conversation last modified before ``since_ms``, then pages each of those chats'
``listUserMessages`` (newest first) down to the first message older than ``since_ms``. Body
shapes: "Shapes the fact sheet leaves open" in ``docs/ARCHITECTURE.md``.

A request answered with a code other than 200, a page that stays flow-controlled (body code
``400600001``) after the web client's waits, or a page of the wrong shape raises
``ProtocolError``; whatever ``roundtrip`` raises (the session ending) passes through. A single
history entry that does not decode is logged and skipped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from common.errors import ProtocolError
from goofish import frames
from goofish.constants import FIRST_PAGE_CURSOR
from goofish.history import decode_history, is_flow_controlled, page_cursor, parse_conversations
from goofish.messages import ChatMessage

log = structlog.get_logger(__name__)

Roundtrip = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
Sleep = Callable[[float], Awaitable[None]]

# listNewestPagination / listUserMessages page sizes
CONVERSATION_PAGE = 20
MESSAGE_PAGE = 50
# flow control (body code 400600001): wait 2, 4, 6 s as the web client does (section 7.4)
FLOW_CONTROL_WAITS_S = (2.0, 4.0, 6.0)


class History:
    """The history of one account, read through one session's ``roundtrip``."""

    def __init__(
        self,
        roundtrip: Roundtrip,
        *,
        self_id: str,
        sleep: Sleep = asyncio.sleep,
        logger: Any = None,
        conversation_page: int = CONVERSATION_PAGE,
        message_page: int = MESSAGE_PAGE,
    ) -> None:
        self._roundtrip = roundtrip
        self._self_id = self_id
        self._sleep = sleep
        self._conversation_page = conversation_page
        self._message_page = message_page
        self._log = logger if logger is not None else log

    async def fetch_since(self, since_ms: int) -> list[ChatMessage]:
        """Every message (ours and the buyers') created at or after ``since_ms``, chat by
        chat, newest first within a chat."""
        messages: list[ChatMessage] = []
        for chat_id in await self.chats_since(since_ms):
            messages += await self.chat_since(chat_id, since_ms)
        return messages

    async def chats_since(self, since_ms: int) -> list[str]:
        """The chats modified at or after ``since_ms``, newest first."""
        chats: list[str] = []
        cursor, size = FIRST_PAGE_CURSOR, self._conversation_page
        while True:
            body = await self._page(lambda c: frames.list_newest(c, size), cursor)
            refs = parse_conversations(body)
            chats += [ref.chat_id for ref in refs if ref.modified_at_ms >= since_ms]
            has_more, cursor = page_cursor(body)
            if not has_more or not refs or refs[-1].modified_at_ms < since_ms:
                return chats

    async def chat_since(self, chat_id: str, since_ms: int) -> list[ChatMessage]:
        """The messages of one chat created at or after ``since_ms``, newest first."""
        found: list[ChatMessage] = []
        cursor, size = FIRST_PAGE_CURSOR, self._message_page
        while True:
            body = await self._page(lambda c: frames.list_user_messages(chat_id, c, size), cursor)
            oldest = None
            for entry in decode_history(body, self_id=self._self_id):
                if isinstance(entry, ProtocolError):
                    self._log.warning("history_entry_undecodable", error=str(entry))
                    continue
                oldest = entry.created_at_ms if oldest is None else min(oldest, entry.created_at_ms)
                if entry.created_at_ms >= since_ms:
                    found.append(entry)
            has_more, cursor = page_cursor(body)
            if not has_more or oldest is None or oldest < since_ms:
                return found

    async def _page(self, build: Callable[[int], dict[str, Any]], cursor: int) -> object:
        """One page's body, after waiting out flow control; the page parsers check its shape."""
        for wait in (*FLOW_CONTROL_WAITS_S, None):
            # a fresh frame (and mid) per attempt: a retried request is a new request
            response = await self._roundtrip(build(cursor))
            if response.get("code") != 200:
                raise ProtocolError(f"list request answered with code {response.get('code')}")
            body = response.get("body")
            if not is_flow_controlled(body):
                return body
            if wait is None:
                break
            await self._sleep(wait)
        raise ProtocolError("list request still flow-controlled after retries")
