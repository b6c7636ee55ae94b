"""Nothing lost, nothing twice: what happens to each message an account receives.

``Delivery`` is a plain class the account actor drives from its (single) thread. It decides
per message: duplicate, echo of our own reply, hand-typed seller message (pause the chat),
paused chat, rule or default reply, or silence; it asks the actor's ``send`` callable to
send a reply and learns the outcome later through ``reply_sent``/``reply_failed`` (the actor
thread never blocks on the network).

Exactly once: the server message id (``"<n>.PNM"``) is the key. In flight ids live in memory;
handled ids are persisted with ``Store.record_handled`` (with the cursor, one transaction)
once the send's code-200 response arrived. The window between "sent" and "recorded" (a crash
in between) is settled by the conversation history on backfill: a buyer message followed by a
message of ours is answered.

Nothing lost: a message that could not be answered yet (no registered session, or a send
that got no answer because its session went away, or an answer about the session rather than
the message: 401 when a swap's new ``/reg`` had already replaced it) is kept as deferred,
and the sync cursor never moves past it; the actor runs a backfill as soon as a session
serves again, which brings the message back together with its chat's history, so a reply
that did reach the server is recognised there and not sent twice.

Fencing: every store write and every send checks the generation's fence first.
"""

from __future__ import annotations

import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import structlog

from actors.echoes import EchoTracker
from actors.messages import Fence
from actors.replies import Incoming, ReplyChoice, ReplyKind, choose_reply
from common import metrics_sink
from common.errors import StorageError
from goofish.constants import CONTENT_TRADE_CARD
from goofish.messages import ChatMessage, Message, ReadReceipt, SystemEvent, TradeCard, Typing

log = structlog.get_logger(__name__)

# backfill re-reads this much before the cursor: server clocks and push order are not exact,
# and re-reading is cheap because processed ids are skipped
BACKFILL_MARGIN_MS = 60_000
# an account that never handled a message answers at most this far back on its first start
FIRST_START_WINDOW_MS = 10 * 60_000
# after a make-before-break swap the old session served until the new one took over: the
# backfill only looks for what the switch itself may have lost, from this long before the
# newest message (server time) the account had seen when the swap started
SWAP_BACKFILL_MARGIN_MS = 10_000


def _about_the_connection(code: object) -> bool:
    """A response code that speaks of the session, not of the message sent on it: 401 (the
    connection is not registered, or no longer: replaced by a newer ``/reg``) or a server
    error. Any other non-200 code refuses the request itself."""
    return code == 401 or (isinstance(code, int) and code >= 500)


@dataclass(frozen=True)
class SendTag:
    """Rides along a send request so its answer finds the message it replies to."""

    message_id: str
    chat_id: str
    created_at_ms: int
    ticket: int
    taken_at: float = 0.0  # time.monotonic() when the reply was decided (the reply histogram)


@dataclass
class Counters:
    received: int = 0
    replied: int = 0


# send(chat_id, peer_id, text, tag) -> False when no registered session can take it now
SendReply = Callable[[str, str, str, SendTag], bool]


class Delivery:
    """Per-account message handling; not thread-safe (the actor's thread only)."""

    def __init__(
        self,
        *,
        account_id: str,
        user_id: str,
        store: Any,
        fence: Fence,
        send: SendReply,
        can_send: Callable[[], bool],
        pause_minutes: Callable[[], int],
    ) -> None:
        self._account_id = account_id
        self._user_id = user_id
        self._store = store
        self._fence = fence
        self._send = send
        self._can_send = can_send
        self._pause_minutes = pause_minutes
        self._echoes = EchoTracker()
        # sent, waiting for the send's answer
        self._in_flight: dict[str, ChatMessage] = {}
        # could not be answered yet (no session, or the send got no answer): retried
        self._deferred: dict[str, ChatMessage] = {}
        # answered, but the database failed to record it
        self._answered_unrecorded: set[str] = set()
        self.counters = Counters()
        # server time (ms) of the newest chat message seen, pushed or backfilled
        self.newest_seen_ms = 0
        self._log = log.bind(account=account_id)

    # --- entry points -----------------------------------------------------------------

    def backfill_since(self) -> int:
        """Where the backfill after a registration starts (ms)."""
        cursor = self._store.get_cursor(self._account_id)
        if cursor <= 0:
            return int(time.time() * 1000) - FIRST_START_WINDOW_MS
        return cursor - BACKFILL_MARGIN_MS

    def swap_backfill_since(self, seen_ms: int) -> int:
        """Where the backfill after a make-before-break swap starts (ms): ``seen_ms`` (the
        ``newest_seen_ms`` when the swap started) less a margin, or earlier when a message
        still waits for its answer; the usual ``backfill_since`` if nothing was seen yet."""
        if seen_ms <= 0:
            return self.backfill_since()
        since = seen_ms - SWAP_BACKFILL_MARGIN_MS
        waiting = [m.created_at_ms for m in (*self._in_flight.values(), *self._deferred.values())]
        return min(since, min(waiting) - 1) if waiting else since

    def on_push(self, messages: Iterable[Message]) -> None:
        for message in messages:
            try:
                if isinstance(message, ChatMessage):
                    self.newest_seen_ms = max(self.newest_seen_ms, message.created_at_ms)
                    self._on_chat(message, live=True, answered_in_history=False)
                elif isinstance(message, TradeCard):
                    self._on_trade_card(message)
                elif isinstance(message, ReadReceipt | Typing | SystemEvent):
                    self._log.debug("push_ignored", kind=type(message).__name__)
            except StorageError as exc:
                self._storage_failed(message, exc)

    def on_backfill(self, messages: Iterable[ChatMessage]) -> None:
        """Handle missed buyer messages oldest first, minus those the history shows answered."""
        ordered = sorted(messages, key=lambda m: (m.created_at_ms, m.message_id))
        if ordered:
            self.newest_seen_ms = max(self.newest_seen_ms, ordered[-1].created_at_ms)
        buyers = [m for m in ordered if not self._is_own(m)]
        try:
            answered = self._answered_in_history(ordered)
        except StorageError as exc:
            for message in buyers:
                self._storage_failed(message, exc)
            return
        for message in buyers:
            try:
                self._on_chat(
                    message, live=False, answered_in_history=message.message_id in answered
                )
            except StorageError as exc:
                self._storage_failed(message, exc)

    def _answered_in_history(self, ordered: list[ChatMessage]) -> set[str]:
        """Buyer messages that a later message of ours answered although nothing recorded it
        (a crash between sending and recording).

        Per chat, in time order, a message of ours answers the oldest unrecorded buyer
        message before it, but only back to the last recorded one: a reply that follows a
        recorded message may be that message's own reply (say, a live reply to a newer
        message, sent before this backfill came back), and must not silence an older one.
        """
        buyer_ids = [m.message_id for m in ordered if not self._is_own(m)]
        recorded = self._store.processed_ids(self._account_id, buyer_ids) if buyer_ids else set()
        recorded |= self._in_flight.keys() | self._answered_unrecorded
        waiting: dict[str, deque[str]] = defaultdict(deque)
        answered: set[str] = set()
        for message in ordered:
            unanswered = waiting[message.chat_id]
            if self._is_own(message):
                if unanswered:
                    answered.add(unanswered.popleft())
            elif message.message_id in recorded:
                unanswered.clear()
            else:
                unanswered.append(message.message_id)
        return answered

    def _storage_failed(self, message: Message, exc: StorageError) -> None:
        """The database failed while handling ``message`` (locked by another process, disk
        full): the account stays up, and a chat message waits for the next backfill."""
        self._log.warning("delivery_storage_failed", kind=type(message).__name__, error=str(exc))
        if isinstance(message, ChatMessage) and not self._is_own(message):
            self._defer(message)

    @property
    def has_deferred(self) -> bool:
        """Some message still waits for an answer: the actor should backfill again."""
        return bool(self._deferred)

    def reply_sent(self, tag: SendTag, response: dict[str, Any]) -> None:
        """The send's response arrived: record the message as handled (or refused)."""
        code = response.get("code")
        if _about_the_connection(code):
            # e.g. 401 "not registered": the session was replaced by a newer /reg (a swap
            # switching over) while the reply was on its way. The send did not happen: not
            # a refusal of the reply (which would count the message as handled, i.e. lose
            # it) but a send without an answer, deferred; the next backfill settles it
            self.reply_failed(tag, f"send answered with code {code}")
            return
        self._in_flight.pop(tag.message_id, None)
        raw_body = response.get("body")
        body = raw_body if isinstance(raw_body, dict) else {}
        server_id = body.get("messageId")
        if response.get("code") != 200 or body.get("reason") or not server_id:
            self._echoes.cancel(tag.ticket)
            reason = f"{body.get('reason', '')} {body.get('moreInfo', '')}".strip()
            self._log.warning("reply_refused", chat=tag.chat_id, code=response.get("code"))
            # refused for its content: retrying would be refused again, so it counts as handled
            self._write(
                self._store.record_event,
                "reply_refused",
                self._account_id,
                chat_id=tag.chat_id,
                message_id=tag.message_id,
                reason=reason or f"code {response.get('code')}",
            )
            self._done(tag.message_id, tag.created_at_ms)
            return
        self._echoes.sent(tag.ticket, str(server_id))
        self.counters.replied += 1
        metrics_sink.reply_sent(time.monotonic() - tag.taken_at)
        self._log.debug("replied", chat=tag.chat_id, message=tag.message_id)
        try:
            self._done(tag.message_id, tag.created_at_ms)
        except StorageError as exc:
            # answered but not recorded: remembered here so this generation never answers it
            # again, and a backfill after a restart finds our reply in the chat's history
            self._answered_unrecorded.add(tag.message_id)
            self._log.warning("reply_not_recorded", chat=tag.chat_id, error=str(exc))

    def reply_failed(self, tag: SendTag, error: str) -> None:
        """The send got no answer (its session went away), or an answer about its session
        (``reply_sent`` with a 401): defer the message.

        The next backfill decides: if the reply reached the server after all, the chat's
        history shows it after the buyer's message and nothing is sent again.
        """
        message = self._in_flight.pop(tag.message_id, None)
        self._echoes.cancel(tag.ticket)
        self._log.warning("reply_not_confirmed", chat=tag.chat_id, error=error)
        if message is not None:
            self._deferred[message.message_id] = message

    # --- decisions --------------------------------------------------------------------

    def _is_own(self, message: ChatMessage) -> bool:
        return message.is_own or message.sender_id == self._user_id

    def _on_chat(self, message: ChatMessage, *, live: bool, answered_in_history: bool) -> None:
        if self._fence.tripped:
            return
        if self._is_own(message):
            if live:
                self._on_own(message)
            return
        if message.content_type == CONTENT_TRADE_CARD:
            return
        if (
            message.message_id in self._in_flight
            or message.message_id in self._answered_unrecorded
            or self._store.is_processed(self._account_id, message.message_id)
        ):
            self._log.debug("duplicate_ignored", message=message.message_id)
            return
        if message.message_id not in self._deferred:
            self.counters.received += 1
        self._deferred.pop(message.message_id, None)
        self._log.debug("message_received", chat=message.chat_id, message=message.message_id)
        if answered_in_history:
            self._log.debug("answered_before_crash", message=message.message_id)
            self._done(message.message_id, message.created_at_ms)
            return
        if self._store.paused_until(self._account_id, message.chat_id) is not None:
            self._log.debug("chat_paused", chat=message.chat_id)
            self._done(message.message_id, message.created_at_ms)
            return
        self._reply(message)

    def _reply(self, message: ChatMessage) -> None:
        rule_set = self._store.get_rules(self._account_id)
        incoming = Incoming(
            text=message.text,
            buyer_id=message.sender_id,
            buyer_name=message.sender_nick,
            item_id=message.item_id,
        )
        choice = choose_reply(rule_set, incoming)
        if not choice.silent and not self._can_send():
            # no registered session right now: the next backfill brings this message back,
            # and only then is a once-per-chat default reply claimed
            self._defer(message)
            return
        if (
            choice.kind is ReplyKind.DEFAULT
            and choice.once_per_chat
            and not choice.silent
            and not self._write(self._store.claim_default_reply, self._account_id, message.chat_id)
        ):
            choice = ReplyChoice(ReplyKind.NONE)
        if choice.silent:
            self._done(message.message_id, message.created_at_ms)
            return
        now = time.monotonic()
        ticket = self._echoes.expect(message.chat_id, choice.text, now=now)
        tag = SendTag(message.message_id, message.chat_id, message.created_at_ms, ticket, now)
        if self._send(message.chat_id, message.sender_id, choice.text, tag):
            self._in_flight[message.message_id] = message
        else:
            self._echoes.cancel(ticket)
            self._defer(message)

    def _defer(self, message: ChatMessage) -> None:
        self._deferred[message.message_id] = message
        self._log.debug("reply_deferred", message=message.message_id)

    def _on_own(self, message: ChatMessage) -> None:
        if self._echoes.is_echo(
            message.chat_id, message.text, message.message_id, now=time.monotonic()
        ):
            self._log.debug("echo_ignored", chat=message.chat_id)
            return
        minutes = self._pause_minutes()
        self._log.info("seller_replied_by_hand", chat=message.chat_id, pause_minutes=minutes)
        if minutes > 0:
            self._write(
                self._store.pause_chat,
                self._account_id,
                message.chat_id,
                time.time() + minutes * 60,
            )
        self._write(self._store.advance_cursor, self._account_id, message.created_at_ms)

    def _on_trade_card(self, card: TradeCard) -> None:
        self._log.debug("trade_card", chat=card.chat_id, title=card.title)
        self._write(
            self._store.record_event,
            "trade_card",
            self._account_id,
            chat_id=card.chat_id,
            order_id=card.order_id,
            item_id=card.item_id,
            title=card.title,
        )

    def _done(self, message_id: str, created_at_ms: int) -> None:
        cursor_ms = self._safe_cursor(created_at_ms)
        self._write(self._store.record_handled, self._account_id, message_id, cursor_ms)

    def _safe_cursor(self, created_at_ms: int) -> int:
        """The cursor may not pass a message still waiting for its answer."""
        waiting = [m.created_at_ms for m in (*self._in_flight.values(), *self._deferred.values())]
        if waiting and min(waiting) <= created_at_ms:
            return min(waiting) - 1
        return created_at_ms

    def _write(self, write: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call a store write, unless this generation is fenced (then None)."""
        if self._fence.tripped:
            return None
        return write(*args, **kwargs)
