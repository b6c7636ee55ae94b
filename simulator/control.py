"""What the admin API can do, as coroutines on the simulator's loop.

``simulator.admin_api`` is the HTTP shell around this; in-process users (benchmarks) may call
it through ``SimulatorHandle.run``. Refusals raise ``AdminRefused`` with the HTTP status the
shell answers with and a message that says what was wrong.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from common.errors import CookieError, XianyuSupervisorError
from goofish.constants import CONTENT_TRADE_CARD
from goofish.cookies import Cookie
from simulator.im import ImServer
from simulator.sessions import Sessions
from simulator.world import Chat, User, UserFaults, World

FAULT_KINDS = (
    "close",
    "drop",
    "zombie",
    "token_expired",
    "captcha",
    "slow_handshake",
    "garbage",
    "blackhole",
    "renew_error",
    "renew_slow",
    "slow_switch",
)
DEFAULT_CAPTCHA_S = 60.0
DEFAULT_SLOW_HANDSHAKE_S = 5.0
DEFAULT_SLOW_SWITCH_S = 0.5
DEFAULT_CARD_TITLE = "买家已付款"
DEFAULT_CARD_TEXT = "[我已付款，等待你发货]"


class AdminRefused(XianyuSupervisorError):
    """Raised when an admin call names something unknown or is malformed.

    ``status`` is the HTTP status the admin API answers with (404 unknown, 400 malformed).
    """

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Control:
    """Admin operations over the world and the IM server."""

    def __init__(self, world: World, im: ImServer, sessions: Sessions) -> None:
        self._world = world
        self._im = im
        self._sessions = sessions

    def user(self, user_id: str) -> User:
        user = self._world.users.get(user_id)
        if user is None:
            raise AdminRefused(404, f"unknown user {user_id!r}; create it with POST users first")
        return user

    def create_user(self, user_id: str | None = None, nick: str | None = None) -> dict[str, str]:
        user = self._world.ensure_user(user_id, nick)
        pairs = self._sessions.login(user.user_id)
        return {"user_id": user.user_id, "cookie": "; ".join(f"{k}={v}" for k, v in pairs.items())}

    def revoke(self, user_id: str | None = None, cookie: str | None = None) -> dict[str, int]:
        if user_id is not None:
            cookie2s = self._world.sessions_of(self.user(user_id).user_id)
        elif cookie is not None:
            try:
                cookie2s = [Cookie.parse(cookie).get("cookie2")]
            except CookieError as exc:
                raise AdminRefused(400, f"cookie does not parse: {exc}") from None
        else:
            raise AdminRefused(400, 'revoke needs "user_id" or "cookie"')
        self._sessions.revoked(cookie2s)
        revoked = self._world.revoke(cookie2s)
        self._im.close_sessions(set(revoked))
        return {"revoked": len(revoked)}

    async def push(
        self,
        to: str,
        from_: str,
        text: str,
        item_id: str | None = None,
        *,
        kind: str = "text",
        chat_id: str | None = None,
        order_id: str | None = None,
        title: str | None = None,
    ) -> dict[str, str]:
        """A message from a buyer (or, when ``from_ == to``, the seller typing elsewhere)."""
        self.user(to)
        if kind not in ("text", "trade_card"):
            raise AdminRefused(400, f'unknown push kind {kind!r}; use "text" or "trade_card"')
        chat = self._chat_for_push(to, from_, item_id, chat_id)
        card = kind == "trade_card"
        message = self._world.add_message(
            chat,
            from_,
            text or (DEFAULT_CARD_TEXT if card else ""),
            content_type=CONTENT_TRADE_CARD if card else 1,
            order_id=(order_id or str(secrets.randbelow(10**18) + 10**18)) if card else "",
            title=(title or DEFAULT_CARD_TITLE) if card else "",
        )
        if from_ == chat.seller_id:
            chat.unread_by_buyer = message
        await self._im.deliver(to, message, chat, counter="pushed")
        return {"message_id": message.message_id, "chat_id": message.chat_id}

    def _chat_for_push(self, to: str, from_: str, item_id: str | None, chat_id: str | None) -> Chat:
        if chat_id is not None:
            chat = self._world.chats.get(chat_id)
            if chat is None or {to, from_} - {chat.buyer_id, chat.seller_id}:
                raise AdminRefused(404, f"no conversation {chat_id!r} between {to!r} and {from_!r}")
            return chat
        if from_ == to:
            chat = self._world.latest_chat(to, item_id=item_id)
            if chat is None:
                raise AdminRefused(
                    409, f"seller {to!r} has no conversation yet; push a buyer message first"
                )
            return chat
        if item_id is None:
            latest = self._world.latest_chat(to, peer_id=from_)
            return latest or self._world.chat_for(from_, to, self._world.new_item_id())
        return self._world.chat_for(from_, to, item_id)

    def sent(self, user_id: str) -> dict[str, list[dict[str, Any]]]:
        self.user(user_id)
        return {"messages": [r.as_dict() for r in self._world.sent.get(user_id, [])]}

    def state(self) -> dict[str, dict[str, dict[str, int]]]:
        return {
            "users": {
                user_id: {
                    "connections": self._im.connections(user_id),
                    "registered": self._im.registered(user_id),
                    **user.stats.as_dict(),
                }
                for user_id, user in self._world.users.items()
            }
        }

    async def fault(self, user_id: str, kind: str, seconds: float | None = None) -> dict[str, Any]:
        user = self.user(user_id)
        if kind not in FAULT_KINDS:
            raise AdminRefused(400, f"unknown fault kind {kind!r}; one of {', '.join(FAULT_KINDS)}")
        if seconds is not None and seconds < 0:
            raise AdminRefused(400, "seconds must be >= 0")
        cut_connections = {
            "close": self._im.close_user,
            "drop": self._im.drop_user,
            "zombie": self._im.zombify_user,
            "blackhole": self._im.blackhole_user,
        }.get(kind)
        if cut_connections is not None:
            affected = cut_connections(user_id)
        elif kind == "garbage":
            affected = int(await self._im.push_garbage(user_id))
        else:
            _arm(user.faults, kind, seconds)
            affected = 0
        return {"ok": True, "user_id": user_id, "kind": kind, "connections": affected}


def _arm(faults: UserFaults, kind: str, seconds: float | None) -> None:
    """A fault that waits in the seller's state for the next call it applies to."""
    if kind == "token_expired":
        faults.token_expired_once = True
    elif kind == "captcha":
        faults.captcha_until = time.monotonic() + (
            DEFAULT_CAPTCHA_S if seconds is None else seconds
        )
    elif kind == "slow_handshake":
        faults.slow_handshake_s = DEFAULT_SLOW_HANDSHAKE_S if seconds is None else seconds
    elif kind == "renew_error":
        duration = DEFAULT_CAPTCHA_S if seconds is None else seconds
        faults.renew_error_until = time.monotonic() + duration
    elif kind == "renew_slow":
        faults.renew_slow_s = DEFAULT_SLOW_HANDSHAKE_S if seconds is None else seconds
    elif kind == "slow_switch":
        faults.slow_switch_s = DEFAULT_SLOW_SWITCH_S if seconds is None else seconds
