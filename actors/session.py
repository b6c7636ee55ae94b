"""One Goofish IM connection, run as a task on the shared IoLoop (no thread of its own).

A thin asyncio shell around parts with one job each: ``ImProtocol`` (``actors/protocol.py``,
no I/O: frames in; ACKs, pushes, answers by mid and timeouts out), its socket side
``Exchange`` (``actors/exchange.py``), the token calls ``TokenKeeper``
(``actors/tokens.py``), ``History`` (``actors/history.py``: backfill pagination over a
roundtrip) and ``Liveness`` / ``ZombieProbe`` (``actors/liveness.py``). The shell runs the
steps and the tasks: token, connect, register (``/reg``, its code-200 reply, ackDiff), then
the background duties (heartbeat, token check, sync probe) until the connection ends. It
never touches the store nor decides about replies: it reports to its account actor with the
frozen dataclasses of ``actors/events.py`` through ``sink``; the actor says what to send.

Two steps are meant to be overridden (``bench/harness/naive_session.py`` re-creates the
original project's start-up that way): ``_register`` (the registration exchange) and
``_background_tasks`` (the duties of a registered session). The socket is opened in one
place, ``_connect`` (``exchange.open_connection``: headers, timeouts, transport).

Fencing: every frame goes out through ``Exchange.flush``, which checks the generation's
fence on the loop thread, so a fenced actor waking up later cannot send or ACK through here.
``websockets`` exceptions and token-call timeouts stop in these modules; what leaves is a
``SessionEnded`` with a ``FailureClass`` and a reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import structlog
import websockets
from websockets.asyncio.client import ClientConnection

from actors.events import (
    BackfillFetched,
    PushReceived,
    RequestAnswered,
    SessionEnded,
    SessionRegistered,
)
from actors.exchange import Exchange, SessionOver, open_connection
from actors.failures import FailureClass
from actors.history import History
from actors.liveness import Liveness, ZombieProbe
from actors.messages import Fence
from actors.protocol import (
    Ending,
    FrameUnreadable,
    ImProtocol,
    ProtocolEvent,
    Pushed,
    PushItemUnreadable,
    closed_ending,
    registration_refused,
)
from actors.tokens import TokenKeeper, TokenSource
from common.errors import ProtocolError
from common.io_loop import IoLoop
from common.sentences import error_sentence
from common.settings import Timings
from goofish import frames
from goofish.constants import FIRST_PAGE_CURSOR
from goofish.cookies import Cookie
from goofish.messages import ChatMessage

log = structlog.get_logger(__name__)

Sink = Callable[[object], None]

# endings logged at INFO; every other one (a lost connection, a refused token) is a WARNING
_QUIET_ENDINGS = frozenset(
    {FailureClass.CLOSED_BY_US, FailureClass.NORMAL_CLOSE, FailureClass.TOKEN_CHANGED}
)


@dataclass(frozen=True)
class SessionPlan:
    """What one connection attempt needs. ``token`` is a cached token to reuse, or None."""

    session_id: int
    account_id: str
    user_id: str
    cookie: Cookie
    did: str
    token: str | None = field(default=None, repr=False)
    # how old the reused token is, so the periodic token check runs on the token's schedule
    token_age_s: float = 0.0
    proxy: str = field(default="", repr=False)  # the account's proxy ('' = direct): a secret


def now_ms() -> int:
    """Wall-clock epoch milliseconds (the server's clock for ackDiff and message times)."""
    return int(time.time() * 1000)


class Session:
    """One WebSocket connection of one account. Thread-safe entry points: ``start``,
    ``request``, ``backfill``, ``close``, ``abort``; everything else runs on the loop."""

    def __init__(
        self,
        plan: SessionPlan,
        *,
        io: IoLoop,
        token_client: TokenSource,
        ws_url: str,
        timings: Timings,
        fence: Fence,
        sink: Sink,
    ) -> None:
        self.plan = plan
        self.session_id = plan.session_id
        self._io = io
        self._ws_url = ws_url
        self._timings = timings
        self._fence = fence
        self._sink = sink
        self._log = log.bind(account=plan.account_id, session=plan.session_id)
        self._tokens = TokenKeeper(
            token_client,
            cookie=plan.cookie,
            did=plan.did,
            session_id=plan.session_id,
            timings=timings,
            report=self._report,
            logger=self._log,
            proxy=plan.proxy,
        )
        self._task: asyncio.Task[None] | None = None
        self._helpers: set[asyncio.Task[Any]] = set()
        liveness = Liveness(
            timings.heartbeat_s, timings.heartbeat_misses, timings.silence_intervals
        )
        protocol = ImProtocol(
            self_id=plan.user_id, request_timeout_s=timings.request_timeout_s, liveness=liveness
        )
        self._exchange = Exchange(protocol, fence=fence)
        self._probe = ZombieProbe()
        self._history = History(self._exchange.roundtrip, self_id=plan.user_id, logger=self._log)
        self._ending: Ending | None = None
        self._registered_at: float | None = None
        self.ended = asyncio.Event()

    # --- thread-safe entry points -----------------------------------------------------

    def start(self) -> None:
        self._io.call_soon(self._start_on_loop)

    def request(self, frame: dict[str, Any], *, tag: object) -> None:
        """Send a request; its response comes back as ``RequestAnswered(tag=tag)``."""
        if self._fence.tripped:
            self._report(RequestAnswered(self.session_id, tag, error="fenced"))
            return
        if self._io.in_loop_thread():
            # an account handled on the loop: written now, with the ACK of the push it answers
            self._spawn_request(frame, tag)
            return
        self._call_soon(self._spawn_request, frame, tag)

    def backfill(self, since_ms: int) -> None:
        """Fetch messages of conversations modified since ``since_ms`` (``BackfillFetched``)."""
        self._call_soon(self._spawn_backfill, since_ms)

    def close(self) -> None:
        """Close gracefully (code 1000); ends with ``CLOSED_BY_US``."""
        self._call_soon(self._close_on_loop)

    def abort(self) -> None:
        """Cut the connection at once (the fence's closer); ends with ``CLOSED_BY_US``."""
        self._call_soon(self._abort_on_loop)

    async def wait_closed(self) -> None:
        """Await the end of the session (on the loop)."""
        await self.ended.wait()

    # --- lifecycle (on the loop) ------------------------------------------------------

    def _call_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        # the loop is gone when the whole process is shutting down: nothing left to do
        with contextlib.suppress(RuntimeError):
            self._io.call_soon(fn, *args)

    def _start_on_loop(self) -> None:
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name=f"session-{self.plan.account_id}-{self.session_id}"
        )

    async def _run(self) -> None:
        ending = Ending(FailureClass.NETWORK, "ended without a reason")
        try:
            await self._lifecycle()
        except SessionOver as ended:
            ending = ended.ending
        except asyncio.CancelledError:
            if self._ending is None:  # the loop is shutting down: not ours to swallow
                self._finish(Ending(FailureClass.CLOSED_BY_US, "cancelled"))
                raise
            asyncio.current_task().uncancel()  # type: ignore[union-attr]
        # survival boundary: a bug in a session must not take the shared loop down; it is
        # logged with its traceback and the session ends (the actor reconnects)
        except Exception as exc:  # noqa: BLE001 (survival boundary, see above)
            self._log.exception("session_crashed")
            ending = Ending(FailureClass.NETWORK, f"session error: {error_sentence(exc)}")
        self._finish(self._ending or ending)

    def _finish(self, ending: Ending) -> None:
        self._ending = self._ending or ending
        for task in self._helpers:
            task.cancel()
        self._exchange.close(self._ending)
        registered_for = (
            None if self._registered_at is None else time.monotonic() - self._registered_at
        )
        # a lost connection (or a refused token ...) is worth a warning; our own close is not
        quiet = self._ending.failure in _QUIET_ENDINGS
        (self._log.info if quiet else self._log.warning)(
            "session_ended", failure=str(self._ending.failure), reason=self._ending.reason
        )
        self.ended.set()
        self._report(
            SessionEnded(self.session_id, self._ending.reason, self._ending.failure, registered_for)
        )

    def _end(self, failure: FailureClass, reason: str) -> None:
        """Decide the session is over (first reason wins) and stop the main task."""
        if self._ending is None:
            self._ending = Ending(failure, reason)
        if self._task is not None and not self._task.done():
            self._task.cancel()

    def _close_on_loop(self) -> None:
        if self._ending is None:
            self._ending = Ending(FailureClass.CLOSED_BY_US, "closed")
        if self._exchange.ws is not None:
            self._spawn(self._exchange.ws.close(1000, "bye"))
        elif self._task is not None:
            self._task.cancel()

    def _abort_on_loop(self) -> None:
        self._end(FailureClass.CLOSED_BY_US, "aborted")
        if self._exchange.ws is not None:
            self._exchange.ws.transport.abort()

    async def _lifecycle(self) -> None:
        if self._ending is not None:  # closed or aborted before it even started
            raise SessionOver(self._ending)
        token = await self._tokens.obtain(self.plan.token)
        ws = await self._connect()
        self._exchange.attach(ws)
        reader = self._spawn(self._read_loop(ws))
        await self._register(token)
        self._report(SessionRegistered(self.session_id))
        for duty in self._background_tasks():
            self._spawn(duty)
        await reader

    async def _connect(self) -> ClientConnection:
        """Open the WebSocket with the current cookie (how: ``exchange.open_connection``)."""
        cookie = self._tokens.cookie  # with what the token call's Set-Cookie merged in
        ws = await open_connection(
            self._ws_url, cookie=cookie, timings=self._timings, proxy=self.plan.proxy
        )
        self._log.info("connected", fingerprint=cookie.fingerprint, unb=cookie.unb)
        return ws

    async def _register(self, token: str) -> None:
        """Register the connection (overridable): send ``/reg``, wait for its code-200
        answer, then ackDiff with pts = now, so the server pushes from here on."""
        self._accept_registration(await self._exchange.roundtrip(frames.reg(token, self.plan.did)))
        await self._exchange.send(frames.ack_diff(now_ms=now_ms()))

    def _accept_registration(self, reply: dict[str, Any]) -> None:
        """Judge ``/reg``'s answer: registered from now on, or the session ends (AUTH)."""
        refused = registration_refused(reply)
        if refused is not None:
            raise SessionOver(refused)
        self._registered_at = time.monotonic()
        # the probe's baseline: nothing older than the registration can be "withheld"
        self._probe.saw(now_ms())
        self._log.debug("reg_answered")

    def _background_tasks(self) -> list[Coroutine[Any, Any, None]]:
        """The duties of a registered session, each run as its own task (overridable)."""
        return [self._heartbeat_loop(), self._token_refresh_loop(), self._probe_loop()]

    # --- frames -----------------------------------------------------------------------

    async def _read_loop(self, ws: ClientConnection) -> None:
        try:
            async for text in ws:
                events = self._exchange.received(text)
                # the news is handled (or handed on) before the ACKs are written, but the ACKs
                # go out first (section 5): a reply decided on the loop now is queued behind
                # them, and both leave in one socket write
                self._dispatch(events)
                await self._exchange.flush()
        except websockets.ConnectionClosed as exc:
            self._closed(exc.rcvd.code if exc.rcvd else None)
            return
        self._closed(ws.close_code)

    def _closed(self, code: int | None) -> None:
        ending = closed_ending(code, registered=self._registered_at is not None)
        self._end(ending.failure, ending.reason)

    def _dispatch(self, events: list[ProtocolEvent]) -> None:
        """Report what a frame brought (the answers to requests are settled already)."""
        for event in events:
            if isinstance(event, Pushed):
                for message in event.messages:
                    if isinstance(message, ChatMessage):
                        self._probe.saw(message.created_at_ms)
                self._report(PushReceived(self.session_id, event.messages))
            elif isinstance(event, PushItemUnreadable):
                self._log.warning("push_item_undecodable", error=str(event.error))
            elif isinstance(event, FrameUnreadable):
                self._log.warning("frame_not_json", size=event.size)

    # --- requests from the actor ------------------------------------------------------

    def _spawn_request(self, frame: dict[str, Any], tag: object) -> None:
        # Every request gets exactly one RequestAnswered: a reply left "in flight" for good
        # is a message never answered (issue 15). Sent at once, without a task: its future
        # is settled by the answer, the timeout or the session's end (``Exchange.close``
        # fails every waiting one), and answers from its done callback.
        if self._registered_at is None or self._ending is not None:
            self._report(RequestAnswered(self.session_id, tag, error="session not registered"))
            return
        try:
            future, written = self._exchange.request_nowait(frame)
        except SessionOver as ended:
            self._report(RequestAnswered(self.session_id, tag, error=ended.ending.reason))
            return
        future.add_done_callback(functools.partial(self._request_settled, tag))
        if not written:
            self._spawn(self._exchange.flush())  # a failure ends the session, failing the future

    def _request_settled(self, tag: object, future: asyncio.Future[dict[str, Any]]) -> None:
        if future.cancelled():
            self._report(RequestAnswered(self.session_id, tag, error="session ended"))
            return
        error = future.exception()
        if isinstance(error, SessionOver):
            self._report(RequestAnswered(self.session_id, tag, error=error.ending.reason))
        elif error is not None:
            self._report(RequestAnswered(self.session_id, tag, error="session ended"))
        else:
            self._report(RequestAnswered(self.session_id, tag, response=future.result()))

    # --- periodic duties --------------------------------------------------------------

    async def _heartbeat_loop(self) -> None:
        interval = self._timings.heartbeat_s
        while True:
            verdict = self._exchange.protocol.heartbeat(self._exchange.now())
            if verdict is not None:
                self._end(FailureClass.NETWORK, f"liveness: {verdict}")
                return
            await self._exchange.flush()
            await asyncio.sleep(interval)

    async def _token_refresh_loop(self) -> None:
        """A changed token (the socket is stale) or a dead login ends the session."""
        first = self._timings.token_refresh_s - self.plan.token_age_s
        ending = await self._tokens.watch(first_check_in_s=first)
        self._end(ending.failure, ending.reason)

    async def _probe_loop(self) -> None:
        """Zombie probe: does the newest conversation know of messages no push brought us?"""
        interval = self._timings.heartbeat_s * self._timings.silence_intervals
        while True:
            await asyncio.sleep(interval)
            response = await self._exchange.roundtrip(frames.list_newest(FIRST_PAGE_CURSOR, 1))
            verdict = self._probe.answered(response)
            if verdict is not None:
                self._end(FailureClass.NETWORK, verdict)
                return

    # --- backfill ---------------------------------------------------------------------

    def _spawn_backfill(self, since_ms: int) -> None:
        self._spawn(self._backfill(since_ms))

    async def _backfill(self, since_ms: int) -> None:
        # a cancelled backfill reports nothing: its session is over, and the actor backfills
        # again on the next one
        try:
            messages = await self._history.fetch_since(since_ms)
        except SessionOver as ended:
            self._report(BackfillFetched(self.session_id, since_ms, (), error=ended.ending.reason))
        except ProtocolError as exc:
            self._report(BackfillFetched(self.session_id, since_ms, (), error=str(exc)))
        else:
            for message in messages:
                self._probe.saw(message.created_at_ms)
            self._report(BackfillFetched(self.session_id, since_ms, tuple(messages)))

    # --- plumbing ---------------------------------------------------------------------

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._helpers.add(task)
        task.add_done_callback(self._helper_done)
        return task

    def _helper_done(self, task: asyncio.Task[Any]) -> None:
        self._helpers.discard(task)
        if task.cancelled():
            return
        error = task.exception()
        if isinstance(error, SessionOver):
            self._end(error.ending.failure, error.ending.reason)
        elif error is not None:
            # a bug in one of the session's tasks: say where, then end the session (the
            # actor reconnects) rather than leave it half alive
            self._log.error("session_task_failed", exc_info=error)
            self._end(FailureClass.NETWORK, f"session error: {error_sentence(error)}")

    def _report(self, event: object) -> None:
        self._sink(event)
