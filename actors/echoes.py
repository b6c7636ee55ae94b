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
        # (chat, text) -> tickets not echoed whose id is still unknown, oldest first: the
        # echo that beats its send response is matched here without a scan of every entry
        self._unclaimed: dict[tuple[str, str], list[int]] = {}

    def expect(self, chat_id: str, text: str, *, now: float) -> int:
        """Register a reply about to be sent; returns a ticket for ``sent``/``cancel``."""
        self._expire(now)
        ticket = next(self._counter)
        self._expected[ticket] = _Expectation(chat_id, text, now)
        self._unclaimed.setdefault((chat_id, text), []).append(ticket)
        return ticket

    def sent(self, ticket: int, message_id: str) -> None:
        """The send response named the server id of the reply ``ticket``."""
        expectation = self._expected.get(ticket)
        if expectation is not None:
            self._claimed(ticket, expectation)
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
        # the oldest reply to this chat with this text whose id is unknown so far (the echo
        # beat the send response); one whose id is known and another is not ours
        tickets = self._unclaimed.get((chat_id, text))
        if not tickets:
            return False
        ticket = tickets[0]
        expectation = self._expected[ticket]
        self._claimed(ticket, expectation)
        expectation.echoed = True
        expectation.message_id = message_id
        self._by_message_id[message_id] = ticket
        return True

    def __len__(self) -> int:
        return len(self._expected)

    def _claimed(self, ticket: int, expectation: _Expectation) -> None:
        """The expectation's id is known from now on: no longer matched by chat and text."""
        if expectation.message_id is not None or expectation.echoed:
            return
        key = (expectation.chat_id, expectation.text)
        tickets = self._unclaimed[key]
        tickets.remove(ticket)
        if not tickets:
            del self._unclaimed[key]

    def _drop(self, ticket: int) -> None:
        expectation = self._expected.pop(ticket, None)
        if expectation is None:
            return
        self._claimed(ticket, expectation)
        if expectation.message_id is not None:
            self._by_message_id.pop(expectation.message_id, None)

    def _expire(self, now: float) -> None:
        while self._expected:
            ticket, expectation = next(iter(self._expected.items()))
            if now - expectation.at < self._ttl_s:
                return
            self._drop(ticket)
