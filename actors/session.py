"""One Goofish IM connection, run as a task on the shared IoLoop (no thread of its own).

A session fetches (or reuses) the IM token, opens the WebSocket with the cookie, registers
with ``/reg`` and waits for its code-200 reply, sends ackDiff, heartbeats, ACKs every push
and correlates request/response by mid. It never touches the store and never decides
anything about replies: it reports to its account actor with frozen dataclasses
(``actors/events.py``) through ``sink``, and the actor tells it what to send.

Liveness: the heartbeat rules of ``actors/liveness.py``; a token that changed (checked every
``token_refresh_s``) ends the session so the actor reconnects with the new token (PR #290);
and a sync probe every ``silence_intervals`` heartbeats asks for the newest conversation: a
conversation that moved on without any push reaching us, two probes in a row, is the
zombie of PR #290 (heartbeats answered, business pushes withheld) and ends the session too.

Fencing: every frame goes out through ``_send_frame``, which checks the generation's fence
on the loop thread, so a fenced actor waking up later cannot send or ACK through here.

``websockets``/``aiohttp`` exceptions stop here; what leaves is a ``SessionEnded`` with a
``FailureClass`` and a reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import structlog
import websockets
from websockets.asyncio.client import ClientConnection, connect

from actors.events import (
    BackfillFetched,
    CookieMerged,
    PushReceived,
    RequestAnswered,
    SessionEnded,
    SessionRegistered,
    TokenIssued,
)
from actors.failures import FailureClass, classify_token_failure
from actors.liveness import Liveness
from actors.messages import Fence
from common.errors import ProtocolError
from common.io_loop import IoLoop
from common.sentences import close_code_sentence, error_sentence
from common.settings import Timings
from goofish import frames
from goofish.constants import FIRST_PAGE_CURSOR
from goofish.cookies import Cookie
from goofish.decode import decode_push_items, is_push
from goofish.history import decode_history, is_flow_controlled, page_cursor, parse_conversations
from goofish.ids import new_mid
from goofish.messages import ChatMessage

log = structlog.get_logger(__name__)

Sink = Callable[[object], None]

# listNewestPagination / listUserMessages page sizes for backfill
CONVERSATION_PAGE = 20
MESSAGE_PAGE = 50
# flow control (body code 400600001): wait 2, 4, 6 s as the web client does (section 7.4)
FLOW_CONTROL_WAITS_S = (2.0, 4.0, 6.0)


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
    # the ORIGINAL project's start-up sequence, re-created for the benchmark (see AccountActor)
    naive: bool = False


@dataclass(frozen=True)
class _Ending:
    failure: FailureClass
    reason: str


class _Ended(Exception):
    """Unwinds the session's coroutine with the reason it is over."""

    def __init__(self, ending: _Ending) -> None:
        super().__init__(ending.reason)
        self.ending = ending


def _now_ms() -> int:
    return int(time.time() * 1000)


class Session:
    """One WebSocket connection of one account. Thread-safe entry points: ``start``,
    ``request``, ``backfill``, ``close``, ``abort``; everything else runs on the loop."""

    def __init__(
        self,
        plan: SessionPlan,
        *,
        io: IoLoop,
        token_client: Any,
        ws_url: str,
        timings: Timings,
        fence: Fence,
        sink: Sink,
    ) -> None:
        self.plan = plan
        self.session_id = plan.session_id
        self._io = io
        self._token_client = token_client
        self._ws_url = ws_url
        self._timings = timings
        self._fence = fence
        self._sink = sink
        self._log = log.bind(account=plan.account_id, session=plan.session_id)
        self._cookie = plan.cookie
        self._token: str | None = None
        self._ws: ClientConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self._helpers: set[asyncio.Task[Any]] = set()
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._heartbeat_mids: set[str] = set()
        self._ending: _Ending | None = None
        self._registered_at: float | None = None
        self._liveness = Liveness(
            timings.heartbeat_s, timings.heartbeat_misses, timings.silence_intervals
        )
        # newest message time (server ms) this session knows of, for the zombie probe
        self._newest_seen_ms = 0
        self._probe_suspect_ms: int | None = None
        self.ended = asyncio.Event()

    # --- thread-safe entry points -----------------------------------------------------

    def start(self) -> None:
        self._io.call_soon(self._start_on_loop)

    def request(self, frame: dict[str, Any], *, tag: object) -> None:
        """Send a request; its response comes back as ``RequestAnswered(tag=tag)``."""
        if self._fence.tripped:
            self._report(RequestAnswered(self.session_id, tag, error="fenced"))
            return
        self._call_soon(self._spawn_request, frame, tag)

    def backfill(self, since_ms: int) -> None:
        """Fetch messages of conversations modified since ``since_ms`` (``BackfillFetched``)."""
        self._call_soon(self._spawn, self._backfill(since_ms))

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
        ending = _Ending(FailureClass.NETWORK, "ended without a reason")
        try:
            await self._lifecycle()
        except _Ended as ended:
            ending = ended.ending
        except asyncio.CancelledError:
            if self._ending is None:  # the loop is shutting down: not ours to swallow
                self._finish(_Ending(FailureClass.CLOSED_BY_US, "cancelled"))
                raise
            asyncio.current_task().uncancel()  # type: ignore[union-attr]
        except Exception as exc:  # survival boundary: a session bug must not kill the loop
            self._log.exception("session_crashed")
            ending = _Ending(FailureClass.NETWORK, f"session error: {error_sentence(exc)}")
        self._finish(self._ending or ending)

    def _finish(self, ending: _Ending) -> None:
        self._ending = self._ending or ending
        for task in self._helpers:
            task.cancel()
        for future in self._pending.values():
            if not future.done():
                future.set_exception(_Ended(self._ending))
                future.exception()  # retrieved: nobody may be waiting any more
        self._pending.clear()
        if self._ws is not None:
            self._ws.transport.abort()
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
            self._ending = _Ending(failure, reason)
        if self._task is not None and not self._task.done():
            self._task.cancel()

    def _close_on_loop(self) -> None:
        if self._ending is None:
            self._ending = _Ending(FailureClass.CLOSED_BY_US, "closed")
        if self._ws is not None:
            self._spawn(self._ws.close(1000, "bye"))
        elif self._task is not None:
            self._task.cancel()

    def _abort_on_loop(self) -> None:
        self._end(FailureClass.CLOSED_BY_US, "aborted")
        if self._ws is not None:
            self._ws.transport.abort()

    async def _lifecycle(self) -> None:
        if self._ending is not None:  # closed or aborted before it even started
            raise _Ended(self._ending)
        token = await self._obtain_token()
        self._ws = await self._connect()
        self._liveness.started(time.monotonic())
        reader = self._spawn(self._read_loop(self._ws))
        await self._register(token)
        self._spawn(self._heartbeat_loop())
        self._spawn(self._token_refresh_loop())
        if not self.plan.naive:
            self._spawn(self._probe_loop())
        await reader

    async def _obtain_token(self) -> str:
        if self.plan.token:
            self._token = self.plan.token
            return self.plan.token
        outcome = await asyncio.wait_for(
            self._token_client.fetch(self._cookie, self.plan.did),
            self._timings.token_timeout_s,
        )
        self._adopt_cookie(outcome.cookie)
        result = outcome.result
        if result.kind != "success" or not result.token:
            failure = classify_token_failure(result.kind, network=getattr(result, "network", False))
            raise _Ended(_Ending(failure, f"token refused ({result.kind}): {result.message}"))
        self._token = result.token
        self._report(TokenIssued(self.session_id, result.token, self.plan.did))
        return result.token

    def _adopt_cookie(self, cookie: Cookie) -> None:
        if cookie != self._cookie:
            self._report(
                CookieMerged(self.session_id, self._cookie.serialize(), cookie.serialize())
            )
            self._cookie = cookie

    async def _connect(self) -> ClientConnection:
        try:
            ws = await connect(
                self._ws_url,
                additional_headers={"Cookie": self._cookie.serialize()},
                open_timeout=self._timings.connect_timeout_s,
                # liveness is the application heartbeat's job; per-connection deflate state
                # would cost ~300 KB x 1,000 accounts
                ping_interval=None,
                compression=None,
                close_timeout=self._timings.request_timeout_s,
            )
        except (OSError, TimeoutError, websockets.InvalidHandshake, websockets.InvalidURI) as exc:
            raise _Ended(
                _Ending(FailureClass.NETWORK, f"connect failed: {error_sentence(exc)}")
            ) from exc
        self._log.info("connected", fingerprint=self._cookie.fingerprint, unb=self._cookie.unb)
        return ws

    async def _register(self, token: str) -> None:
        reg = frames.reg(token, self.plan.did)
        if self.plan.naive:
            # RE-CREATION of the original's start-up (XianyuLive.init): send /reg, sleep 1 s,
            # ackDiff with pts = now; only then do we look at /reg's reply.
            waiter = self._expect(reg)
            await self._send_frame(reg)
            await asyncio.sleep(1.0)
            await self._send_frame(frames.ack_diff(now_ms=_now_ms()))
            reply = await self._await_response(waiter, reg)
        else:
            reply = await self._roundtrip(reg)
        if reply.get("code") != 200:
            raise _Ended(_Ending(FailureClass.AUTH, f"/reg refused with code {reply.get('code')}"))
        self._registered_at = time.monotonic()
        self._newest_seen_ms = _now_ms()
        self._log.debug("reg_answered")
        if not self.plan.naive:
            await self._send_frame(frames.ack_diff(now_ms=_now_ms()))
        self._report(SessionRegistered(self.session_id))

    # --- frames -----------------------------------------------------------------------

    async def _read_loop(self, ws: ClientConnection) -> None:
        try:
            async for text in ws:
                self._liveness.frame_received(time.monotonic())
                await self._on_frame(text)
        except websockets.ConnectionClosed as exc:
            self._closed(exc.rcvd.code if exc.rcvd else None)
            return
        self._closed(ws.close_code)

    def _closed(self, code: int | None) -> None:
        if self._registered_at is None:
            # the server closing on us before /reg was answered: the token was most
            # likely refused (section 3.2: "bad token -> close within seconds")
            self._end(
                FailureClass.AUTH, f"closed before registration ({close_code_sentence(code)})"
            )
        elif code == 1000:
            self._end(FailureClass.NORMAL_CLOSE, "closed by the server (code 1000)")
        else:
            self._end(FailureClass.NETWORK, f"connection lost ({close_code_sentence(code)})")

    async def _on_frame(self, text: str | bytes) -> None:
        try:
            frame = json.loads(text)
        except ValueError:
            self._log.warning("frame_not_json", size=len(text))
            return
        if not isinstance(frame, dict):
            return
        lwp = frame.get("lwp")
        if isinstance(lwp, str) and lwp.startswith("/s/"):
            await self._on_push(frame)
        elif "code" in frame:
            self._on_response(frame)

    def _on_response(self, frame: dict[str, Any]) -> None:
        headers = frame.get("headers")
        mid = headers.get("mid") if isinstance(headers, dict) else None
        if mid in self._heartbeat_mids:
            self._heartbeat_mids.discard(mid)
            self._liveness.heartbeat_answered(time.monotonic())
            return
        future = self._pending.pop(mid, None) if isinstance(mid, str) else None
        if future is not None and not future.done():
            future.set_result(frame)

    async def _on_push(self, frame: dict[str, Any]) -> None:
        # every push is ACKed, before decoding and whatever it holds (section 5)
        await self._send_frame(frames.ack(frame))
        if not is_push(frame):
            return
        messages = []
        for result in decode_push_items(frame, self_id=self.plan.user_id):
            if isinstance(result, ProtocolError):
                self._log.warning("push_item_undecodable", error=str(result))
                continue
            messages.append(result)
            if isinstance(result, ChatMessage):
                self._newest_seen_ms = max(self._newest_seen_ms, result.created_at_ms)
        if messages:
            self._report(PushReceived(self.session_id, tuple(messages)))

    async def _send_frame(self, frame: dict[str, Any]) -> None:
        if self._fence.tripped:
            raise _Ended(_Ending(FailureClass.CLOSED_BY_US, "fenced"))
        if self._ws is None:
            raise _Ended(_Ending(FailureClass.NETWORK, "not connected"))
        try:
            await self._ws.send(frames.dumps(frame))
        except websockets.ConnectionClosed as exc:
            raise _Ended(
                self._ending or _Ending(FailureClass.NETWORK, "send on a closed connection")
            ) from exc

    def _expect(self, frame: dict[str, Any]) -> asyncio.Future[dict[str, Any]]:
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[self._unique_mid(frame)] = future
        return future

    def _unique_mid(self, frame: dict[str, Any]) -> str:
        """A mid is random 0-999 and the ms clock: two requests in one millisecond may get the
        same one, and the answer of one would settle the other (a list page taken for a
        send's answer: the reply counted as refused, its message lost). Re-drawn until
        unique among the ones waiting."""
        headers = frame["headers"]
        while headers["mid"] in self._pending or headers["mid"] in self._heartbeat_mids:
            headers["mid"] = new_mid()
        return str(headers["mid"])

    async def _await_response(
        self, future: asyncio.Future[dict[str, Any]], frame: dict[str, Any]
    ) -> dict[str, Any]:
        try:
            return await asyncio.wait_for(future, self._timings.request_timeout_s)
        except TimeoutError:
            self._pending.pop(frame["headers"]["mid"], None)
            raise _Ended(
                _Ending(FailureClass.NETWORK, f"{frame['lwp']} not answered in time")
            ) from None

    async def _roundtrip(self, frame: dict[str, Any]) -> dict[str, Any]:
        future = self._expect(frame)
        await self._send_frame(frame)
        return await self._await_response(future, frame)

    # --- requests from the actor ------------------------------------------------------

    def _spawn_request(self, frame: dict[str, Any], tag: object) -> None:
        task = self._spawn(self._answer_request(frame, tag))
        # Every request gets exactly one RequestAnswered, also when cancelled: a reply left
        # "in flight" for good is a message never answered (issue 15). The cancellation is
        # answered from the task's done callback, not from an ``except CancelledError`` in
        # the coroutine: a task cancelled before its first step (the session finishing in
        # the same loop iteration, e.g. the new /reg's close read as the actor sends a
        # reply) never runs its body at all.
        task.add_done_callback(functools.partial(self._request_cancelled, tag))

    def _request_cancelled(self, tag: object, task: asyncio.Task[Any]) -> None:
        if task.cancelled():
            self._report(RequestAnswered(self.session_id, tag, error="session ended"))

    async def _answer_request(self, frame: dict[str, Any], tag: object) -> None:
        try:
            if self._registered_at is None or self._ending is not None:
                raise _Ended(_Ending(FailureClass.NETWORK, "session not registered"))
            response = await self._roundtrip(frame)
        except _Ended as ended:
            self._report(RequestAnswered(self.session_id, tag, error=ended.ending.reason))
        else:
            self._report(RequestAnswered(self.session_id, tag, response=response))

    # --- periodic duties --------------------------------------------------------------

    async def _heartbeat_loop(self) -> None:
        interval = self._timings.heartbeat_s
        while True:
            verdict = self._liveness.verdict(time.monotonic())
            if verdict is not None:
                self._end(FailureClass.NETWORK, f"liveness: {verdict}")
                return
            beat = frames.heartbeat()
            self._heartbeat_mids.add(self._unique_mid(beat))
            self._liveness.heartbeat_sent(time.monotonic())
            await self._send_frame(beat)
            await asyncio.sleep(interval)

    async def _token_refresh_loop(self) -> None:
        """Re-ask for a token now and then; a different token means this socket is stale.

        A failed check (network, risk control) leaves the working session alone and tries
        again one period later: never hammer the token API.
        """
        wait = max(0.0, self._timings.token_refresh_s - self.plan.token_age_s)
        while True:
            await asyncio.sleep(wait)
            wait = self._timings.token_refresh_s
            try:
                outcome = await asyncio.wait_for(
                    self._token_client.fetch(self._cookie, self.plan.did),
                    self._timings.token_timeout_s,
                )
            except TimeoutError:
                self._log.warning("token_check_timed_out")
                continue
            self._adopt_cookie(outcome.cookie)
            result = outcome.result
            if result.kind != "success":
                self._log.warning("token_check_failed", kind=result.kind)
            if result.kind == "session_expired":
                self._end(FailureClass.SESSION_EXPIRED, f"token refresh: {result.message}")
                return
            if result.kind == "success" and result.token and result.token != self._token:
                self._report(TokenIssued(self.session_id, result.token, self.plan.did))
                self._log.info("token_changed")
                self._end(FailureClass.TOKEN_CHANGED, "a new token was issued")
                return

    async def _probe_loop(self) -> None:
        """Zombie probe: does the newest conversation know of messages no push brought us?"""
        interval = self._timings.heartbeat_s * self._timings.silence_intervals
        while True:
            await asyncio.sleep(interval)
            response = await self._roundtrip(frames.list_newest(FIRST_PAGE_CURSOR, 1))
            body = response.get("body")
            if response.get("code") != 200:
                self._end(FailureClass.NETWORK, f"sync probe refused (code {response.get('code')})")
                return
            if is_flow_controlled(body):
                continue
            refs = parse_conversations(body)
            newest = refs[0].modified_at_ms if refs else 0
            if newest <= self._newest_seen_ms:
                self._probe_suspect_ms = None
            elif self._probe_suspect_ms == newest:
                self._end(FailureClass.NETWORK, "zombie: conversations moved on without pushes")
                return
            else:
                self._probe_suspect_ms = newest

    # --- backfill ---------------------------------------------------------------------

    async def _backfill(self, since_ms: int) -> None:
        try:
            messages = await self._fetch_since(since_ms)
        except _Ended as ended:
            self._report(BackfillFetched(self.session_id, since_ms, (), error=ended.ending.reason))
        except ProtocolError as exc:
            self._report(BackfillFetched(self.session_id, since_ms, (), error=str(exc)))
        else:
            for message in messages:
                self._newest_seen_ms = max(self._newest_seen_ms, message.created_at_ms)
            self._report(BackfillFetched(self.session_id, since_ms, tuple(messages)))

    async def _list(self, build: Callable[[int], dict[str, Any]], cursor: int) -> object:
        """One page's body, after waiting out flow control; the page parsers check its shape."""
        for wait in (*FLOW_CONTROL_WAITS_S, None):
            response = await self._roundtrip(build(cursor))
            body = response.get("body")
            if response.get("code") != 200:
                raise ProtocolError(f"list request answered with code {response.get('code')}")
            if not is_flow_controlled(body):
                return body
            if wait is None:
                break
            await asyncio.sleep(wait)
        raise ProtocolError("list request still flow-controlled after retries")

    async def _fetch_since(self, since_ms: int) -> list[ChatMessage]:
        chats: list[str] = []
        cursor = FIRST_PAGE_CURSOR
        while True:
            body = await self._list(lambda c: frames.list_newest(c, CONVERSATION_PAGE), cursor)
            refs = parse_conversations(body)
            chats += [ref.chat_id for ref in refs if ref.modified_at_ms >= since_ms]
            has_more, cursor = page_cursor(body)
            if not has_more or not refs or refs[-1].modified_at_ms < since_ms:
                break
        messages: list[ChatMessage] = []
        for chat_id in chats:
            messages += await self._fetch_chat(chat_id, since_ms)
        return messages

    async def _fetch_chat(self, chat_id: str, since_ms: int) -> list[ChatMessage]:
        found: list[ChatMessage] = []
        cursor = FIRST_PAGE_CURSOR
        while True:
            body = await self._list(
                lambda c: frames.list_user_messages(chat_id, c, MESSAGE_PAGE), cursor
            )
            page = decode_history(body, self_id=self.plan.user_id)
            oldest = None
            for entry in page:
                if isinstance(entry, ProtocolError):
                    self._log.warning("history_entry_undecodable", error=str(entry))
                    continue
                oldest = entry.created_at_ms if oldest is None else min(oldest, entry.created_at_ms)
                if entry.created_at_ms >= since_ms:
                    found.append(entry)
            has_more, cursor = page_cursor(body)
            if not has_more or oldest is None or oldest < since_ms:
                return found

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
        if isinstance(error, _Ended):
            self._end(error.ending.failure, error.ending.reason)
        elif error is not None:
            self._log.error("session_task_failed", error=repr(error))
            self._end(FailureClass.NETWORK, f"session error: {error_sentence(error)}")

    def _report(self, event: object) -> None:
        self._sink(event)
