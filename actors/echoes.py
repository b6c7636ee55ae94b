"""Telling the echo of the bot's own reply from a message the seller typed by hand. Pure.

Every message this seller sends comes back as a push from the seller's own id (section 6.3),
whether the bot sent it or a person did on another device. The original paused a chat on
its own echoes (PR #256). Here every outgoing reply is registered *before* it is sent as
``(chat, text)``; the send response later adds the server message id. The echo may arrive
before or after that response, so an own message is an echo when its id is a known sent id,
or when an unclaimed ``(chat, text)`` registration matches it. Entries expire after
``ttl_s`` so a lost echo cannot make a later hand-typed message of the same text look like
the bot's.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from dataclasses import dataclass


@dataclass
class _Expectation:
    chat_id: str
    text: str
    at: float
    message_id: str | None = None
    echoed: bool = False


class EchoTracker:
    """Remembers what the bot sent recently, to recognize the echoes."""

    def __init__(self, *, ttl_s: float = 300.0) -> None:
        self._ttl_s = ttl_s
        self._counter = itertools.count(1)
        self._expected: OrderedDict[int, _Expectation] = OrderedDict()
        self._by_message_id: dict[str, int] = {}

    def expect(self, chat_id: str, text: str, *, now: float) -> int:
        """Register a reply about to be sent; returns a ticket for ``sent``/``cancel``."""
        self._expire(now)
        ticket = next(self._counter)
        self._expected[ticket] = _Expectation(chat_id, text, now)
        return ticket

    def sent(self, ticket: int, message_id: str) -> None:
        """The send response named the server id of the reply ``ticket``."""
        expectation = self._expected.get(ticket)
        if expectation is not None:
            expectation.message_id = message_id
            self._by_message_id[message_id] = ticket

    def cancel(self, ticket: int) -> None:
        """The send failed: no echo will come."""
        self._drop(ticket)

    def is_echo(self, chat_id: str, text: str, message_id: str, *, now: float) -> bool:
        """True when this own message is the echo of a reply the bot sent (consumes it)."""
        self._expire(now)
        ticket = self._by_message_id.get(message_id)
        if ticket is not None:
            self._expected[ticket].echoed = True
            return True
        for ticket, expectation in self._expected.items():
            if expectation.echoed or expectation.chat_id != chat_id or expectation.text != text:
                continue
            # the message id is unknown so far (the echo beat the send response), or it
            # names another id: only the first case is ours
            if expectation.message_id is None:
                expectation.echoed = True
                expectation.message_id = message_id
                self._by_message_id[message_id] = ticket
                return True
        return False

    def __len__(self) -> int:
        return len(self._expected)

    def _drop(self, ticket: int) -> None:
        expectation = self._expected.pop(ticket, None)
        if expectation is not None and expectation.message_id is not None:
            self._by_message_id.pop(expectation.message_id, None)

    def _expire(self, now: float) -> None:
        while self._expected:
            ticket, expectation = next(iter(self._expected.items()))
            if now - expectation.at < self._ttl_s:
                return
            self._drop(ticket)
