"""Fixtures of the delivery suites (``tests/test_actors_delivery.py``, ``test_faults_backfill``):
``Delivery`` on a real SQLite store, without sockets.

- ``delivery``: account ``shop-1`` (seller ``SELLER``, a ``price`` rule and a default reply),
  sending into ``outbox``, fenced by ``fence``.
- ``chat(n, ...)``: the ``n``-th message of a chat; ``confirm``: the server's answer to a send.
"""

from __future__ import annotations

import pytest

from actors.delivery import Delivery, SendTag
from actors.messages import Fence
from goofish.messages import ChatMessage
from storage import DefaultReply, Rule, Store

SELLER = "2200000000001"
BUYER = "880001"


def chat(n: int, *, text: str = "hi", sender: str = BUYER, chat_id: str = "c1") -> ChatMessage:
    own = sender == SELLER
    return ChatMessage(
        message_id=f"{1_700_000_000_000 + n}.PNM",
        chat_id=chat_id,
        sender_id=sender,
        sender_nick="Alice",
        text=text,
        item_id="7",
        created_at_ms=1_700_000_000_000 + n,
        is_own=own,
        need_push=not own,
        content_type=1,
    )


class Outbox:
    """Records what Delivery asks to send; ``online`` says whether a session could take it."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, SendTag]] = []
        self.online = True

    def send(self, chat_id: str, peer_id: str, text: str, tag: SendTag) -> bool:
        if not self.online:
            return False
        self.sent.append((chat_id, text, tag))
        return True


@pytest.fixture
def outbox() -> Outbox:
    return Outbox()


@pytest.fixture
def fence() -> Fence:
    return Fence()


@pytest.fixture
def delivery(sqlite_store: Store, outbox: Outbox, fence: Fence) -> Delivery:
    sqlite_store.add_account("shop-1", f"unb={SELLER}", SELLER, pause_minutes=5)
    sqlite_store.set_rules("shop-1", [Rule("price", "10 yuan")], DefaultReply("hello"))
    return Delivery(
        account_id="shop-1",
        user_id=SELLER,
        store=sqlite_store,
        fence=fence,
        send=outbox.send,
        can_send=lambda: outbox.online,
        pause_minutes=lambda: 5,
    )


def confirm(delivery: Delivery, tag: SendTag, server_id: str) -> None:
    delivery.reply_sent(tag, {"code": 200, "body": {"messageId": server_id}})
