"""The simulated IM WebSocket server (fact sheet sections 1, 3, 4, 5, 6, 7).

One ``ImServer`` serves every connection on the simulator's event loop with the
``websockets`` asyncio server. Frames from one connection are handled in order (like the
real server, a slow ``/reg`` holds up the frames behind it); pushes come from the admin API.

One registered session per seller by default: a new ``/reg`` for a seller closes that
seller's previously registered connection with code 1000. This is a conservative model: the
real server's arbitration between two live sessions is not documented (section 10.4), and
assuming the harsher behaviour keeps clients honest. The knob ``sessions_per_seller`` (2+)
models a multi-device login instead: that many registered connections of one seller all
receive every push, and a ``/reg`` beyond it closes the oldest.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import weakref
from collections.abc import Callable, Coroutine
from typing import Any

import structlog
from websockets.asyncio.server import Request, ServerConnection
from websockets.exceptions import ConnectionClosed

from common.errors import CookieError
from goofish.constants import (
    LWP_ACK_DIFF,
    LWP_CREATE_CHAT,
    LWP_HEARTBEAT,
    LWP_LIST_MESSAGES,
    LWP_LIST_NEWEST,
    LWP_REG,
    LWP_SEND,
)
from goofish.cookies import Cookie
from simulator import wire
from simulator.im_conn import BadRequest, Conn
from simulator.im_requests import ConversationRequests
from simulator.knobs import Knobs
from simulator.world import Chat, StoredMessage, User, World, now_ms

log = structlog.get_logger(__name__)

# most recent chats announced in the /s/vulcan batch after /reg
_VULCAN_CHATS = 3


class ImServer(ConversationRequests):
    """Handles IM connections and delivers pushes to registered sellers."""

    def __init__(self, world: World, knobs: Knobs) -> None:
        self._world = world
        self._knobs = knobs
        self._random = random.Random()  # whether a read receipt goes with a buyer message
        self._conns: dict[str, set[Conn]] = {}
        # seller -> registered connections, oldest first (at most sessions_per_seller)
        self._registered: dict[str, list[Conn]] = {}
        self._all: set[Conn] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        # set by shutdown: a fault's delay (slow handshake, slow /reg) ends at once, so that no
        # handshake is left sleeping past the loop's end
        self._stopping = asyncio.Event()
        self._handshaking: set[ServerConnection] = set()
        self._cookie_users: weakref.WeakKeyDictionary[ServerConnection, str] = (
            weakref.WeakKeyDictionary()
        )
        self._reg_delays: weakref.WeakKeyDictionary[ServerConnection, float] = (
            weakref.WeakKeyDictionary()
        )
        self._routes: dict[str, Callable[[Conn, str, Any], Coroutine[Any, Any, None]]] = {
            LWP_ACK_DIFF: self._on_ack_diff,
            LWP_SEND: self._on_send,
            LWP_CREATE_CHAT: self._on_create,
            LWP_LIST_NEWEST: self._on_list_newest,
            LWP_LIST_MESSAGES: self._on_list_messages,
        }

    # counts for the admin state ---------------------------------------------------------------

    def connections(self, user_id: str) -> int:
        return len(self._conns.get(user_id, ()))

    def registered(self, user_id: str) -> int:
        return len(self._registered.get(user_id, ()))

    # handshake and connection loop ------------------------------------------------------------

    async def process_request(self, connection: ServerConnection, request: Request) -> None:
        """Note the seller named by the Cookie header; apply an armed slow_handshake."""
        try:
            unb = Cookie.parse(request.headers.get("Cookie", "")).unb
        except CookieError:
            return  # the Cookie header is optional: /reg's token is what authenticates
        user = self._world.users.get(unb)
        if user is None:
            return
        self._cookie_users[connection] = unb
        delay = user.faults.slow_handshake_s
        if delay > 0:
            user.faults.slow_handshake_s = 0.0
            self._handshaking.add(connection)
            try:
                await self._delay(delay)
            finally:
                self._handshaking.discard(connection)
            # the same connection's /reg answer is delayed too
            self._reg_delays[connection] = delay

    async def handler(self, ws: ServerConnection) -> None:
        conn = Conn(ws)
        self._all.add(conn)
        conn.reg_delay_s = self._reg_delays.pop(ws, 0.0)
        unb = self._cookie_users.pop(ws, None)
        if unb is not None:
            self._attach(conn, unb)
        try:
            async for raw in ws:
                if isinstance(raw, str):
                    await self._on_frame_safely(conn, raw)
        except ConnectionClosed:
            pass
        finally:
            self._detach(conn)

    def _attach(self, conn: Conn, user_id: str) -> None:
        conn.user_id = user_id
        self._conns.setdefault(user_id, set()).add(conn)

    def _detach(self, conn: Conn) -> None:
        self._all.discard(conn)
        if conn.user_id is None:
            return
        self._conns.get(conn.user_id, set()).discard(conn)
        self._unregister(conn)
        log.debug("sim_connection_closed", account=conn.user_id)

    async def _on_frame_safely(self, conn: Conn, raw: str) -> None:
        # survival boundary: a bug in one request must not take the connection down
        try:
            await self._on_frame(conn, raw)
        except ConnectionClosed:
            raise
        except Exception:
            log.exception("sim_frame_failed", account=conn.user_id)

    async def _on_frame(self, conn: Conn, raw: str) -> None:
        try:
            frame = json.loads(raw)
        except ValueError:
            return
        if not isinstance(frame, dict):
            return
        lwp = frame.get("lwp")
        raw_headers = frame.get("headers")
        headers = raw_headers if isinstance(raw_headers, dict) else {}
        if lwp is None:
            if "code" in frame:
                self._count_ack(conn)
            return
        mid = str(headers.get("mid", ""))
        if lwp == LWP_HEARTBEAT:
            await self._send(conn, wire.response(mid, sid=conn.sid))
        elif lwp == LWP_REG:
            await self._on_reg(conn, mid, headers)
        elif not conn.registered:
            await self._send(conn, wire.response(mid, {"reason": "not registered"}, code=401))
        else:
            await self._on_request(conn, str(lwp), mid, frame.get("body"))

    async def _on_request(self, conn: Conn, lwp: str, mid: str, body: Any) -> None:
        route = self._routes.get(lwp)
        if route is None:  # e.g. recallMessage: answered, not modelled
            await self._send(conn, wire.response(mid, {}, sid=conn.sid))
            return
        try:
            await route(conn, mid, body)
        except BadRequest as exc:
            answer = wire.response(mid, {"reason": str(exc)}, code=400, sid=conn.sid)
            await self._send(conn, answer)

    def _count_ack(self, conn: Conn) -> None:
        user = self._world.users.get(conn.user_id or "")
        if user is not None:
            user.stats.acks += 1

    # /reg -------------------------------------------------------------------------------------

    async def _on_reg(self, conn: Conn, mid: str, headers: dict[str, Any]) -> None:
        grant = self._world.check_token(
            str(headers.get("token", "")), str(headers.get("did", "")), self._knobs.token_lifetime_s
        )
        delay = conn.reg_delay_s
        conn.reg_delay_s = 0.0
        if grant is not None and conn.user_id is None:
            user = self._world.users[grant.user_id]
            delay, user.faults.slow_handshake_s = max(delay, user.faults.slow_handshake_s), 0.0
        if delay > 0:
            await self._delay(delay)
        if grant is None or conn.user_id not in (None, grant.user_id):
            await self._send(conn, wire.reg_refused(mid, "token invalid or expired"))
            await conn.ws.close(1000, "token invalid")
            return
        if conn.user_id is None:
            self._attach(conn, grant.user_id)
        user = self._world.users[grant.user_id]
        # the slow_switch fault: the switch-over takes a while on the server's side
        switch_s, user.faults.slow_switch_s = user.faults.slow_switch_s, 0.0
        registered = self._registered.setdefault(user.user_id, [])
        if conn not in registered:
            registered.append(conn)
        while len(registered) > max(1, self._knobs.sessions_per_seller):
            self._evict(registered[0], "replaced by a newer registration", linger_s=switch_s)
        conn.registered = True
        conn.cookie2 = grant.cookie2
        conn.sid = wire.new_sid()
        conn.ua = str(headers.get("ua", ""))
        if switch_s > 0:
            # registered (pushes come here already) but not yet told so
            await asyncio.sleep(switch_s)
        now = now_ms()
        await self._send(
            conn, wire.reg_reply(mid, sid=conn.sid, user_id=user.user_id, ip=conn.ip, now=now)
        )
        log.debug("sim_registered", account=user.user_id)
        await self._after_reg(conn, user, now)

    async def _after_reg(self, conn: Conn, user: User, now: int) -> None:
        if self._knobs.vulcan_after_reg:
            chats = sorted(self._world.chats_of(user.user_id), key=lambda c: -c.modify_time)
            frame = wire.vulcan_push(
                user.user_id, chats[:_VULCAN_CHATS], sid=conn.sid, ua=conn.ua, now=now
            )
            await self._send(conn, frame)
        if user.faults.garbage_pending:
            user.faults.garbage_pending = False
            await self._push_items(conn, [wire.garbage_item()])

    def _unregister(self, conn: Conn) -> None:
        registered = self._registered.get(conn.user_id or "", [])
        if conn in registered:
            registered.remove(conn)
        if not registered:
            self._registered.pop(conn.user_id or "", None)

    def _pushable(self, user_id: str) -> list[Conn]:
        return [c for c in self._registered.get(user_id, ()) if c.pushable]

    def _evict(self, conn: Conn, reason: str, *, linger_s: float = 0.0) -> None:
        conn.registered = False
        self._unregister(conn)  # at once: the close handshake may take a while
        if conn.blackholed:  # it reads nothing, so a close handshake would never finish
            conn.ws.transport.abort()
        elif linger_s > 0:  # slow_switch: still open, requests answered 401 until then
            self._spawn(self._close_later(conn, reason, linger_s))
        else:
            self._spawn(conn.ws.close(1000, reason))

    async def _close_later(self, conn: Conn, reason: str, delay_s: float) -> None:
        await asyncio.sleep(delay_s)
        await conn.ws.close(1000, reason)

    # pushes -----------------------------------------------------------------------------------

    async def deliver(
        self, user_id: str, message: StoredMessage, chat: Chat, *, counter: str
    ) -> bool:
        """Push ``message`` to ``user_id``'s registered connections; count it under ``counter``.

        Own messages go with needPush "false". A buyer's message to the seller is preceded by
        a read receipt for the seller's last unread message (one frame, two items) and, when
        the knob says so, by a typing signal. Returns False (and counts ``withheld``) when no
        connection takes pushes now; the message stays in history either way.
        """
        user = self._world.users[user_id]
        conns = self._pushable(user_id)
        if not conns:
            user.stats.withheld += 1
            return False
        own = message.sender_id == user_id
        items = []
        buyer_to_seller = not own and user_id == chat.seller_id
        if buyer_to_seller:
            read = chat.unread_by_buyer
            if read is not None and self._random.random() < self._knobs.read_receipts:
                chat.unread_by_buyer = None
                items.append(wire.read_item(read, at_ms=message.created_at_ms))
        items.append(wire.chat_item(message, need_push=not own))
        delivered = False
        for conn in conns:  # every registered connection gets the same items
            if buyer_to_seller and self._knobs.typing_before_message:
                await self._send(
                    conn,
                    wire.typing_push(chat.chat_id, message.sender_id, sid=conn.sid, ua=conn.ua),
                )
            delivered = await self._push_items(conn, items) or delivered
        if not delivered:
            user.stats.withheld += 1
            return False
        setattr(user.stats, counter, getattr(user.stats, counter) + 1)
        return True

    async def _push_items(self, conn: Conn, items: list[dict[str, Any]]) -> bool:
        frame = wire.sync_push(items, sid=conn.sid, ua=conn.ua, seq=conn.seq, now=now_ms())
        conn.seq += len(items)
        return await self._send(conn, frame)

    async def push_garbage(self, user_id: str) -> bool:
        """One malformed push now, or after the next /reg when nobody is registered."""
        conns = self._pushable(user_id)
        if not conns:
            self._world.users[user_id].faults.garbage_pending = True
            return False
        return await self._push_items(conns[-1], [wire.garbage_item()])

    async def _send(self, conn: Conn, frame: dict[str, Any]) -> bool:
        try:
            await conn.ws.send(wire.dumps(frame))
        except ConnectionClosed:
            return False
        return True

    # faults and revocation --------------------------------------------------------------------

    def _user_conns(self, user_id: str) -> list[Conn]:
        return list(self._conns.get(user_id, ()))

    def close_user(self, user_id: str) -> int:
        conns = self._user_conns(user_id)
        for conn in conns:
            self._evict(conn, "closed by the server")
        return len(conns)

    def drop_user(self, user_id: str) -> int:
        conns = self._user_conns(user_id)
        for conn in conns:
            conn.ws.transport.abort()  # no close frame: the client sees a dead TCP stream
        return len(conns)

    def zombify_user(self, user_id: str) -> int:
        conns = self._user_conns(user_id)
        for conn in conns:
            conn.zombie = True
        return len(conns)

    def blackhole_user(self, user_id: str) -> int:
        conns = self._user_conns(user_id)
        for conn in conns:
            conn.blackholed = True
            # nothing is read any more, so not even protocol PINGs get their PONG
            conn.ws.transport.pause_reading()
        return len(conns)

    def close_sessions(self, cookie2s: set[str]) -> int:
        conns = [c for c in self._all if c.registered and c.cookie2 in cookie2s]
        for conn in conns:
            self._evict(conn, "session revoked")
        return len(conns)

    # lifecycle --------------------------------------------------------------------------------

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _delay(self, seconds: float) -> None:
        """A fault's delay, cut short by ``shutdown``."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def shutdown(self) -> None:
        """Cut every connection at once (a close handshake could wait on a blackholed peer)."""
        self._stopping.set()
        for connection in list(self._handshaking):
            connection.transport.abort()
        for task in list(self._tasks):
            task.cancel()
        for conn in list(self._all):
            conn.ws.transport.abort()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*self._tasks, return_exceptions=True)
