"""The socket side of one connection, for ``Session`` (``actors/session.py``).

``open_connection`` opens the WebSocket. ``Exchange`` is the asyncio side of its
``ImProtocol``: it writes what the protocol queued (checking the generation's fence before
every frame, so a fenced actor waking up later cannot send or ACK), hands each request a
future that the protocol's ``Answered`` or ``TimedOut`` settles, and keeps one timer per
connection armed for the protocol's next request deadline. ``SessionOver`` unwinds the
session's coroutines with the ``Ending`` that stopped them; ``websockets.ConnectionClosed``
on a write becomes one.
"""

from __future__ import annotations

import asyncio
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection, connect
from websockets.protocol import State

from actors.failures import FailureClass
from actors.messages import Fence
from actors.protocol import Answered, Ending, ImProtocol, ProtocolEvent, TimedOut
from common.proxy import connect_failed
from common.sentences import error_sentence
from common.settings import Timings
from goofish.cookies import Cookie

Response = dict[str, Any]


class SessionOver(Exception):
    """Unwinds a session's coroutines with the reason it is over."""

    def __init__(self, ending: Ending) -> None:
        super().__init__(ending.reason)
        self.ending = ending


async def open_connection(
    url: str, *, cookie: Cookie, timings: Timings, proxy: str = ""
) -> ClientConnection:
    """Open one IM WebSocket: the one place that knows the headers, timeouts and transport.

    Any failure to open (refused, timed out, bad handshake) is ``SessionOver`` (NETWORK).
    ``proxy``: the account's proxy URL ('' = direct, whatever the environment says).
    """
    try:
        return await connect(
            url,
            additional_headers={"Cookie": cookie.serialize()},
            open_timeout=timings.connect_timeout_s,
            # liveness is the application heartbeat's job; per-connection deflate state
            # would cost ~300 KB x 1,000 accounts
            ping_interval=None,
            compression=None,
            close_timeout=timings.request_timeout_s,
            proxy=proxy or None,
        )
    except (OSError, TimeoutError, websockets.WebSocketException) as exc:
        reason = connect_failed(exc, proxy) if proxy else f"connect failed: {error_sentence(exc)}"
        raise SessionOver(Ending(FailureClass.NETWORK, reason)) from exc


class Exchange:
    """Frames and requests of one connection, on the loop. ``ws`` is set once it is open."""

    def __init__(self, protocol: ImProtocol, *, fence: Fence) -> None:
        self.protocol = protocol
        self.ws: ClientConnection | None = None
        self._fence = fence
        # mid -> the future its answer resolves (the protocol matches answers to mids)
        self._waiting: dict[str, asyncio.Future[Response]] = {}
        self._expiry: asyncio.TimerHandle | None = None
        # frames taken from the protocol that wait for a slow send (``flush``)
        self._unsent: list[str] = []

    @staticmethod
    def now() -> float:
        # the loop's clock: the expiry timer is armed on it too
        return asyncio.get_running_loop().time()

    def attach(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.protocol.connected(self.now())

    def received(self, text: str | bytes) -> list[ProtocolEvent]:
        """Feed one frame read from the socket; settles the requests it answers and returns
        what else it brought (pushes, unreadable frames). Call ``flush`` next: its ACK."""
        self.protocol.receive_text(text, self.now())
        return self._settle_requests()

    async def flush(self) -> None:
        """Write what the protocol queued, in order; nothing goes out once fenced."""
        if self.write_now():
            return
        ws = self._open_ws()
        while self._unsent:
            await self._send_slowly(ws, self._unsent.pop(0))

    def write_now(self) -> bool:
        """Write what the protocol queued at once, if the connection takes it as it is: True.
        False when a slow send is needed (closing, a full buffer): ``flush`` does it.

        An open connection gets the frames straight from websockets' Sans-I/O protocol, all
        of them in one socket write: ``ClientConnection.send`` costs an async context manager
        and a write per frame (~18 % of the loop's time at 500 replies/s, issue 15 §3). A
        full write buffer (above its high-water mark) takes ``send``, which drains it, and
        anything unusual (closing, a fragmented send) takes ``send``, which knows how to fail.
        """
        self._unsent += self.protocol.data_to_send()
        if not self._unsent:
            return True
        ws = self._open_ws()
        if ws.protocol.state is not State.OPEN or ws.send_in_progress is not None or ws.paused:
            return False
        for text in self._unsent:
            ws.protocol.send_text(text.encode())
        self._unsent.clear()
        ws.transport.write(b"".join(ws.protocol.data_to_send()))
        return True

    def _open_ws(self) -> ClientConnection:
        if self._fence.tripped:
            raise SessionOver(Ending(FailureClass.CLOSED_BY_US, "fenced"))
        if self.ws is None:
            raise SessionOver(Ending(FailureClass.NETWORK, "not connected"))
        return self.ws

    async def _send_slowly(self, ws: ClientConnection, text: str) -> None:
        if self._fence.tripped:
            raise SessionOver(Ending(FailureClass.CLOSED_BY_US, "fenced"))
        try:
            await ws.send(text)
        except websockets.ConnectionClosed as exc:
            ending = Ending(FailureClass.NETWORK, "send on a closed connection")
            raise SessionOver(ending) from exc

    async def send(self, frame: dict[str, Any]) -> None:
        """Send a frame that expects no answer."""
        self.protocol.send(frame)
        await self.flush()

    async def send_request(
        self, frame: dict[str, Any], *, timeout_s: float | None = None
    ) -> asyncio.Future[Response]:
        """Send a request now; the future it returns gets the answer, or ``SessionOver``
        when it is not answered within ``timeout_s`` (default: the protocol's)."""
        future = self._expect_answer(frame, timeout_s)
        try:
            await self.flush()
        except BaseException:
            future.cancel()  # never sent: nobody will wait for it
            raise
        return future

    def request_nowait(self, frame: dict[str, Any]) -> tuple[asyncio.Future[Response], bool]:
        """``send_request`` without awaiting: the future, and whether the frame is written
        already (False: await ``flush``). Raises ``SessionOver`` (fenced, not connected)
        with nothing left waiting."""
        future = self._expect_answer(frame, None)
        try:
            return future, self.write_now()
        except SessionOver:
            future.cancel()
            raise

    def _expect_answer(
        self, frame: dict[str, Any], timeout_s: float | None
    ) -> asyncio.Future[Response]:
        mid = self.protocol.send_request(frame, self.now(), timeout_s=timeout_s)
        future: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        self._waiting[mid] = future
        future.add_done_callback(lambda done: self._request_done(mid, done))
        self._arm_expiry()
        return future

    async def roundtrip(self, frame: dict[str, Any]) -> Response:
        """Send a request and wait for its answer."""
        return await (await self.send_request(frame))

    def close(self, ending: Ending) -> None:
        """The session is over: fail every waiting request, cut the socket."""
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None
        waiting, self._waiting = self._waiting, {}
        for future in waiting.values():
            if not future.done():
                future.set_exception(SessionOver(ending))
        if self.ws is not None:
            self.ws.transport.abort()

    # --- inside -----------------------------------------------------------------------

    def _settle_requests(self) -> list[ProtocolEvent]:
        others: list[ProtocolEvent] = []
        for event in self.protocol.events_received():
            if not isinstance(event, Answered | TimedOut):
                others.append(event)
                continue
            future = self._waiting.pop(event.mid, None)
            if future is None or future.done():
                continue
            if isinstance(event, Answered):
                future.set_result(event.frame)
            else:
                ending = Ending(FailureClass.NETWORK, f"{event.lwp} not answered in time")
                future.set_exception(SessionOver(ending))
        return others

    def _request_done(self, mid: str, future: asyncio.Future[Response]) -> None:
        if future.cancelled():  # its waiter was cancelled: stop tracking the request
            self._waiting.pop(mid, None)
            self.protocol.forget(mid)
        else:
            # marks a failure as seen even if its waiter is gone by now (no "never
            # retrieved" noise); a waiter still gets it when it awaits the future
            future.exception()

    def _arm_expiry(self) -> None:
        deadline = self.protocol.next_deadline()
        if self._expiry is not None:
            if deadline is not None and self._expiry.when() <= deadline:
                return
            self._expiry.cancel()
            self._expiry = None
        if deadline is not None:
            self._expiry = asyncio.get_running_loop().call_at(deadline, self._on_expiry)

    def _on_expiry(self) -> None:
        self._expiry = None
        self.protocol.expire(self.now())
        # only timeouts come out of an expiry (``received`` drains everything else at once)
        self._settle_requests()
        self._arm_expiry()
