"""The simulator's state: sellers, login sessions, tokens, chats and every message.

Pure and single-threaded: the server touches it only from its event loop, so no locks.
Nothing here does I/O; the IM and HTTP layers read and change it and do the talking.
"""

from __future__ import annotations

import itertools
import math
import random
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

# Chat ids are digit strings; these start well away from anything a test would type.
_FIRST_CHAT_ID = 47_000_000_000
_FIRST_ITEM_ID = 800_000_000_000


def now_ms() -> int:
    return int(time.time() * 1000)


def _hex(n_bytes: int) -> str:
    return secrets.token_hex(n_bytes)


@dataclass
class UserStats:
    """Counters per user, exposed by the admin ``state`` call (with the live connection counts)."""

    tokens_issued: int = 0  # successful token calls
    token_calls: int = 0  # every token call, answered or refused (to catch hammering)
    pushed: int = 0  # admin-pushed messages delivered to this user's connection
    echoed: int = 0  # echoes of this user's own sends delivered back to it
    withheld: int = 0  # messages kept only in history (no connection, zombie, blackhole)
    acks: int = 0  # ACK frames received from this user's connections
    renewals: int = 0  # every renewal call (silentHasLogin / hasLogin), answered or refused
    qr_logins: int = 0  # login sessions minted by a confirmed QR code
    probes: int = 0  # loginuser.get liveness probes

    def as_dict(self) -> dict[str, int]:
        return dict(vars(self))


@dataclass
class UserFaults:
    """Faults armed on a user that act on later calls (not on current connections)."""

    token_expired_once: bool = False
    captcha_until: float = 0.0  # monotonic deadline
    slow_handshake_s: float = 0.0  # consumed by the next connection
    garbage_pending: bool = False  # sent after the next registration
    renew_error_until: float = 0.0  # monotonic: renewal calls answer HTTP 503 until then
    renew_slow_s: float = 0.0  # consumed by the next renewal call: its answer waits this long
    # consumed by the next /reg: it is answered this late, and the connection it replaces is
    # closed this late (unregistered at once: its requests are answered 401 meanwhile)
    slow_switch_s: float = 0.0


@dataclass
class User:
    user_id: str
    nick: str
    stats: UserStats = field(default_factory=UserStats)
    faults: UserFaults = field(default_factory=UserFaults)
    last_created_at: int = 0  # createAt values stay unique per user, so paging never skips


@dataclass
class Session:
    """One login session (``cookie2``) of a seller."""

    cookie2: str
    user_id: str
    revoked: bool = False
    expires_at: float = math.inf  # wall clock (time.time()); sessions age (simulator.sessions)
    long_login: str = ""  # the long-login token this session was minted with

    def alive(self, now: float | None = None) -> bool:
        return not self.revoked and self.expires_at > (time.time() if now is None else now)


@dataclass(frozen=True)
class TokenGrant:
    """An IM access token, bound to the session and device it was issued for."""

    token: str
    user_id: str
    cookie2: str
    did: str
    issued_at: float  # monotonic


@dataclass(frozen=True)
class StoredMessage:
    message_id: str  # "<13 digits>.PNM"
    chat_id: str  # digits, no suffix
    sender_id: str
    sender_nick: str
    text: str  # what reminderContent shows
    item_id: str
    created_at_ms: int
    client_message_id: str  # the 32-hex id inside bizTag/extJson/reminderUrl
    content_type: int = 1  # inner content type: 1 text, 26 trade card
    order_id: str = ""  # trade cards only
    title: str = ""  # trade cards: reminderTitle (e.g. 买家已付款)


@dataclass
class Chat:
    chat_id: str
    buyer_id: str
    seller_id: str
    item_id: str
    modify_time: int
    messages: list[StoredMessage] = field(default_factory=list)
    # the newest seller message the buyer has not been shown as read yet
    unread_by_buyer: StoredMessage | None = None

    def peer_of(self, user_id: str) -> str:
        return self.buyer_id if user_id == self.seller_id else self.seller_id


@dataclass(frozen=True)
class SentRecord:
    message_id: str
    chat_id: str
    to: str
    text: str
    at: int

    def as_dict(self) -> dict[str, object]:
        return {
            "message_id": self.message_id,
            "chat_id": self.chat_id,
            "to": self.to,
            "text": self.text,
            "at": self.at,
        }


def _page(entries: list, key, cursor: int, limit: int) -> tuple[list, bool, int]:
    """Newest first, strictly older than ``cursor``; returns (page, has_more, next_cursor)."""
    older = sorted((e for e in entries if key(e) < cursor), key=key, reverse=True)
    page = older[: max(limit, 0)]
    next_cursor = key(page[-1]) if page else 0
    return page, len(older) > len(page), next_cursor


class World:
    """Everything the simulated Goofish servers know."""

    def __init__(self) -> None:
        self.users: dict[str, User] = {}
        self.sessions: dict[str, Session] = {}
        self.tokens: dict[str, TokenGrant] = {}
        # _m_h5_tk value → monotonic issue time: only tokens we issued are fresh
        self.mtop_tks: dict[str, float] = {}
        self.chats: dict[str, Chat] = {}
        self._chats_by_key: dict[tuple[frozenset[str], str], Chat] = {}
        self._chats_by_user: dict[str, list[Chat]] = {}
        self.sent: dict[str, list[SentRecord]] = {}
        self._chat_ids = itertools.count(_FIRST_CHAT_ID + secrets.randbelow(1_000_000))
        self._item_ids = itertools.count(_FIRST_ITEM_ID + secrets.randbelow(1_000_000))
        self._user_ids = itertools.count(2_200_000_000_000 + secrets.randbelow(1_000_000))
        self._last_message_number = 0

    # users and sessions -------------------------------------------------------------

    def ensure_user(self, user_id: str | None = None, nick: str | None = None) -> User:
        if user_id is None:
            user_id = str(next(self._user_ids))
        user = self.users.get(user_id)
        if user is None:
            user = User(user_id=user_id, nick=nick or f"seller{user_id[-4:]}")
            self.users[user_id] = user
        elif nick:
            user.nick = nick
        return user

    def new_session(
        self, user_id: str, *, expires_at: float = math.inf, long_login: str = ""
    ) -> str:
        """A fresh login for ``user_id``: the full cookie string a browser would hold."""
        cookie2 = _hex(16)
        self.sessions[cookie2] = Session(
            cookie2=cookie2, user_id=user_id, expires_at=expires_at, long_login=long_login
        )
        tk, tk_enc = self.issue_mtop_tk()
        pairs = {
            "cna": secrets.token_urlsafe(18)[:24],
            "t": _hex(16),
            "cookie2": cookie2,
            "unb": user_id,
            "sgcookie": "E100" + secrets.token_urlsafe(60),
            "_m_h5_tk": tk,
            "_m_h5_tk_enc": tk_enc,
        }
        return "; ".join(f"{k}={v}" for k, v in pairs.items())

    def live_session(self, cookie2: str, user_id: str) -> Session | None:
        session = self.sessions.get(cookie2)
        if session is None or not session.alive() or session.user_id != user_id:
            return None
        return session

    def revoke(self, cookie2s: Iterable[str]) -> list[str]:
        """Kill those sessions (and their tokens); returns the ones that were alive."""
        revoked = []
        for cookie2 in cookie2s:
            session = self.sessions.get(cookie2)
            if session is not None and not session.revoked:
                session.revoked = True
                revoked.append(cookie2)
        dead = set(revoked)
        for token in [t for t, g in self.tokens.items() if g.cookie2 in dead]:
            del self.tokens[token]
        return revoked

    def sessions_of(self, user_id: str) -> list[str]:
        return [s.cookie2 for s in self.sessions.values() if s.user_id == user_id]

    # mtop signing token and IM access token -------------------------------------------

    def issue_mtop_tk(self) -> tuple[str, str]:
        """A new ``_m_h5_tk`` (``<32 hex>_<ms>``) and its ``_m_h5_tk_enc`` companion."""
        tk = f"{_hex(16)}_{now_ms()}"
        self.mtop_tks[tk] = time.monotonic()
        return tk, _hex(16)

    def mtop_tk_fresh(self, tk: str, lifetime_s: float) -> bool:
        issued = self.mtop_tks.get(tk)
        return issued is not None and time.monotonic() - issued < lifetime_s

    def grant_token(self, user_id: str, cookie2: str, did: str) -> TokenGrant:
        grant = TokenGrant(
            token=secrets.token_urlsafe(48),
            user_id=user_id,
            cookie2=cookie2,
            did=did,
            issued_at=time.monotonic(),
        )
        self.tokens[grant.token] = grant
        return grant

    def check_token(self, token: str, did: str, lifetime_s: float) -> TokenGrant | None:
        """The grant when ``token`` is ours, unexpired, for ``did``, and its session lives."""
        grant = self.tokens.get(token)
        if grant is None or grant.did != did:
            return None
        if time.monotonic() - grant.issued_at >= lifetime_s:
            return None
        if self.live_session(grant.cookie2, grant.user_id) is None:
            return None
        return grant

    # chats and messages ----------------------------------------------------------------

    def new_item_id(self) -> str:
        return str(next(self._item_ids))

    def chat_for(self, buyer_id: str, seller_id: str, item_id: str) -> Chat:
        """The chat of this pair about this item, created on first use (stable after)."""
        key = (frozenset((buyer_id, seller_id)), item_id)
        chat = self._chats_by_key.get(key)
        if chat is None:
            chat = Chat(
                chat_id=str(next(self._chat_ids)),
                buyer_id=buyer_id,
                seller_id=seller_id,
                item_id=item_id,
                modify_time=now_ms(),
            )
            self._chats_by_key[key] = chat
            self.chats[chat.chat_id] = chat
            for user_id in {buyer_id, seller_id}:
                self._chats_by_user.setdefault(user_id, []).append(chat)
        return chat

    def chats_of(self, user_id: str) -> list[Chat]:
        return self._chats_by_user.get(user_id, [])

    def latest_chat(self, user_id: str, *, peer_id: str | None = None, item_id: str | None = None):
        candidates = [
            c
            for c in self.chats_of(user_id)
            if (peer_id is None or c.peer_of(user_id) == peer_id)
            and (item_id is None or c.item_id == item_id)
        ]
        return max(candidates, key=lambda c: c.modify_time, default=None)

    def _next_message_id(self) -> str:
        # 13 digits that increase with time and never repeat
        self._last_message_number = max(self._last_message_number + 1, now_ms())
        return f"{self._last_message_number}.PNM"

    def _next_created_at(self, chat: Chat) -> int:
        # unique per participant, so "createAt < cursor" paging can never skip a tie
        users = [self.users.get(u) for u in (chat.buyer_id, chat.seller_id)]
        floor = max((u.last_created_at + 1 for u in users if u is not None), default=0)
        created = max(now_ms(), floor, chat.modify_time + 1 if chat.messages else 0)
        for user in users:
            if user is not None:
                user.last_created_at = created
        return created

    def add_message(
        self,
        chat: Chat,
        sender_id: str,
        text: str,
        *,
        content_type: int = 1,
        order_id: str = "",
        title: str = "",
    ) -> StoredMessage:
        sender = self.users.get(sender_id)
        message = StoredMessage(
            message_id=self._next_message_id(),
            chat_id=chat.chat_id,
            sender_id=sender_id,
            sender_nick=sender.nick if sender else f"buyer{sender_id[-4:]}",
            text=text,
            item_id=chat.item_id,
            created_at_ms=self._next_created_at(chat),
            client_message_id=f"{random.getrandbits(128):032x}",  # an id, not a secret
            content_type=content_type,
            order_id=order_id,
            title=title,
        )
        chat.messages.append(message)
        chat.modify_time = message.created_at_ms
        return message

    def record_sent(self, user_id: str, message: StoredMessage, to: str) -> None:
        self.sent.setdefault(user_id, []).append(
            SentRecord(message.message_id, message.chat_id, to, message.text, message.created_at_ms)
        )

    # history paging (shapes in docs/ARCHITECTURE.md) ---------------------------------------

    def conversation_page(self, user_id: str, cursor: int, limit: int):
        return _page(self.chats_of(user_id), lambda c: c.modify_time, cursor, limit)

    def message_page(self, chat: Chat, cursor: int, limit: int):
        return _page(chat.messages, lambda m: m.created_at_ms, cursor, limit)
