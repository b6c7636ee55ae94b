"""The account actor: one per seller account, owning its live Goofish connection.

A thin pykka shell around three plain parts: ``Session`` (socket I/O on the shared IoLoop),
``Delivery`` (what each message gets) and ``RetryPolicy`` (how long to wait after a
failure). Everything the sessions report arrives as a message and is handled strictly
serially here; the actor thread never waits on the network.

States (``ChildState``)::

    connecting --registered--> online --session ended--> backoff --timer--> connecting
         |                                  |  (normal close / token changed: at once)
         +------ token API: session expired +--> needs_cookie (an event; no retry loop)

Swap (``SwapCookie``) is make-before-break: a second session with the new cookie registers
while the current one keeps serving; then it becomes current and the old one is closed.
If it fails (token refused, session expired, not registered within ``probation_s``) it is
closed and the old one keeps serving. ``settings.swap_strategy == "naive"`` instead
re-creates the ORIGINAL project's restart sequence, for the benchmark's side-by-side figure.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import queue
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pykka
import structlog

from actors.delivery import Delivery, SendTag
from actors.events import (
    BackfillDue,
    BackfillFetched,
    CookieMerged,
    ProbationExpired,
    PushReceived,
    Reconnect,
    RequestAnswered,
    SessionEnded,
    SessionEvents,
    SessionRegistered,
    TokenIssued,
)
from actors.failures import FailureClass, RetryPolicy
from actors.messages import (
    AccountSpec,
    AccountStatus,
    ChildCrashed,
    ChildState,
    ChildStateChanged,
    ChildStopped,
    Fence,
    Freeze,
    Notify,
    StatusCell,
    SwapCookie,
    SwapFinished,
)
from actors.session import Session, SessionPlan
from common.errors import CookieError, StorageError
from common.io_loop import IoLoop
from common.settings import Settings
from goofish import frames
from goofish.cookies import Cookie
from goofish.ids import new_did

log = structlog.get_logger(__name__)

# the naive strategy's sleeps, as in the original: 0.5 s before reconnecting, 1 s after /reg
NAIVE_RESTART_PAUSE_S = 0.5
# after an unconfirmed reply: long enough for a swap's new session to take over serving
RETRY_BACKFILL_DELAY_S = 0.2
RETRY_BACKFILL_MAX_S = 30.0


@dataclass
class _Token:
    token: str = field(repr=False)
    did: str
    issued_at: float  # epoch seconds


@dataclass
class _Swap:
    op_id: int
    cookie: Cookie
    session: Session
    started: float  # monotonic, when SwapCookie arrived
    naive: bool
    cancel_probation: Callable[[], None]
    # Delivery.newest_seen_ms when the swap started: where its backfill needs to look from
    seen_ms: int = 0
    token: _Token | None = None


class AccountActor(pykka.ThreadingActor):
    """Keeps one seller account online and auto-replying."""

    # A fenced generation may still be stuck in a handler when the service exits;
    # it can no longer send or write, so it must not keep the process alive either.
    use_daemon_thread = True
    # the session class of a naive swap: benchmarks set bench/harness/naive_session.py's
    # NaiveSession (a bridge until the naive account actor of issue 11 lives in bench/)
    naive_session_class: type[Session] = Session

    @staticmethod
    def _create_actor_inbox() -> queue.SimpleQueue[Any]:
        # pykka's hook for the inbox (ThreadingActor uses a queue.Queue): the C SimpleQueue
        # puts and wakes without Python-level Condition work, on the IoLoop thread's
        # every report to this actor
        return queue.SimpleQueue()

    def __init__(
        self,
        spec: AccountSpec,
        *,
        store: Any,
        io: IoLoop,
        token_client: Any,
        settings: Settings,
        fence: Fence,
        status: StatusCell,
        notify: Notify,
    ) -> None:
        super().__init__()
        self._spec = spec
        self._store = store
        self._io = io
        self._token_client = token_client
        self._settings = settings
        self._timings = settings.timings
        self._fence = fence
        self._status = status
        self._notify_supervisor = notify
        self._log = log.bind(account=spec.account_id, generation=spec.generation)
        self._state = ChildState.CONNECTING
        self._last_error: str | None = None
        self._online_since: float | None = None
        self._reconnects = 0
        self._cookie: Cookie | None = None
        self._user_id = spec.user_id
        self._token: _Token | None = None
        self._did = ""
        self._current: Session | None = None
        self._swap: _Swap | None = None
        self._sessions: dict[int, Session] = {}
        self._sessions_lock = threading.Lock()
        self._next_session_id = 0
        self._retry = RetryPolicy(self._timings)
        self._reconnect_attempt = 0
        self._cancel_reconnect: Callable[[], None] | None = None
        self._last_failure: FailureClass | None = None
        self._delivery: Delivery | None = None
        self._backfill_due = False
        # the session whose backfill ran last, and whether it came back (without an error)
        self._backfill_session: int | None = None
        self._caught_up = False
        # what the sessions report in one loop iteration reaches this actor as one message
        self._session_sink = io.batched(self._tell_events)
        self._backfill_retries = 0

    # --- pykka hooks ------------------------------------------------------------------

    def on_start(self) -> None:
        # pykka reports neither to on_failure nor on_stop when on_start raises: do it here
        try:
            threading.current_thread().name = f"account-{self._spec.account_id}"
            self._cookie = Cookie.parse(self._spec.cookie)
            self._user_id = self._spec.user_id or self._cookie.unb
            self._delivery = Delivery(
                account_id=self._spec.account_id,
                user_id=self._user_id,
                store=self._store,
                fence=self._fence,
                send=self._send_reply,
                can_send=lambda: self._serving() is not None and not self._fence.tripped,
                pause_minutes=self._pause_minutes,
            )
            self._load_token()
            self._fence.add_closer(self._abort_all)
            self._log.info("account_starting", fingerprint=self._cookie.fingerprint)
            self._connect()
        except Exception as exc:
            self._crashed(exc)
            raise

    def on_stop(self) -> None:
        self._cancel_timers()
        self._close_all(timeout=self._timings.stop_timeout_s / 2)
        self._set_state(ChildState.STOPPED)
        self._log.info("account_stopped")
        self._notify(ChildStopped(self._spec.account_id, self._spec.generation))

    def on_failure(self, exception_type: Any, exception_value: Any, traceback: Any) -> None:
        self._crashed(exception_value)

    def on_receive(self, message: Any) -> Any:
        handler = self._handlers.get(type(message))
        if handler is None:
            self._log.warning("unknown_message", kind=type(message).__name__)
            return None
        return handler(self, message)

    # --- supervisor messages ----------------------------------------------------------

    def _on_swap(self, message: SwapCookie) -> None:
        started = time.monotonic()
        try:
            cookie = Cookie.parse(message.cookie)
        except CookieError as exc:
            self._swap_finished(message.op_id, ok=False, reason=str(exc))
            return
        if self._swap is not None:
            self._fail_swap(f"superseded by swap {message.op_id}")
        self._log.info("swap_started", op=message.op_id, fingerprint=cookie.fingerprint)
        naive = self._settings.swap_strategy == "naive"
        if naive:
            self._naive_release_current()
        elif self._current is not None and self._state is not ChildState.ONLINE:
            # nothing is being served yet: the new cookie simply takes over the attempt
            self._retire(self._current, abort=True)
        self._cancel_timers()
        session = self._new_session(cookie, token=None, naive=naive)
        cancel = self._io.call_later(
            self._timings.probation_s, self._tell_self, ProbationExpired(message.op_id)
        )
        seen_ms = self._require_delivery().newest_seen_ms
        self._swap = _Swap(message.op_id, cookie, session, started, naive, cancel, seen_ms)
        self._publish()
        session.start()

    def _naive_release_current(self) -> None:
        """RE-CREATION of the original restart: stop the old connection, wait for it to close,
        then sleep 0.5 s before connecting again (blocking this actor, as the original did)."""
        old = self._current
        if old is not None:
            self._retire(old, abort=False)
            with contextlib.suppress(concurrent.futures.TimeoutError, RuntimeError):
                self._io.submit(old.wait_closed()).result(timeout=self._timings.stop_timeout_s)
        self._set_state(ChildState.CONNECTING)
        time.sleep(NAIVE_RESTART_PAUSE_S)

    def _on_freeze(self, message: Freeze) -> None:
        self._log.warning("frozen", seconds=message.seconds)
        time.sleep(message.seconds)

    # --- session events ---------------------------------------------------------------

    def _on_registered(self, event: SessionRegistered) -> None:
        if self._swap is not None and event.session_id == self._swap.session.session_id:
            self._commit_swap()
        elif self._is_current(event.session_id):
            self._retry.reset()
            self._online()
            self._log.info("registered")
            self._start_backfill()

    def _on_ended(self, event: SessionEnded) -> None:
        with self._sessions_lock:
            self._sessions.pop(event.session_id, None)
        if self._swap is not None and event.session_id == self._swap.session.session_id:
            self._fail_swap(event.reason, failure=event.failure)
        elif self._is_current(event.session_id):
            self._current = None
            self._online_since = None
            if self._swap is None:
                self._after_session(event)
            else:
                # a swap is under way (the new /reg may have closed this one): its outcome
                # decides what comes next
                self._log.info("session_ended_during_swap", reason=event.reason)

    def _after_session(self, event: SessionEnded) -> None:
        if self._fence.tripped or event.failure is FailureClass.CLOSED_BY_US:
            # fenced or stopping: this generation opens no more connections
            self._set_state(self._state, error=event.reason)
            return
        if event.failure is FailureClass.AUTH:
            self._token = None  # a refused token must not be reused
        self._last_failure = event.failure
        delay = self._retry.delay(
            event.failure, rand=random.random(), registered_for_s=event.registered_for_s
        )
        if delay is None:
            self._needs_cookie(event.reason)
        elif delay <= 0:
            self._reconnects += 1
            self._connect(error=event.reason)
        else:
            self._back_off(delay, event.failure, event.reason)

    def _back_off(self, delay: float, failure: FailureClass, reason: str | None) -> None:
        self._reconnect_attempt += 1
        self._log.info("backoff", failure=str(failure), delay_s=round(delay, 3))
        self._set_state(ChildState.BACKOFF, error=reason)
        self._cancel_reconnect = self._io.call_later(
            delay, self._tell_self, Reconnect(self._reconnect_attempt)
        )

    def _on_reconnect(self, event: Reconnect) -> None:
        if event.attempt == self._reconnect_attempt and self._state is ChildState.BACKOFF:
            self._cancel_reconnect = None
            self._reconnects += 1
            self._connect(error=self._last_error)

    def _on_token(self, event: TokenIssued) -> None:
        token = _Token(event.token, event.did, time.time())
        if self._swap is not None and event.session_id == self._swap.session.session_id:
            self._swap.token = token  # kept only if the swap commits
        elif self._is_current(event.session_id):
            self._keep_token(token)

    def _on_cookie_merged(self, event: CookieMerged) -> None:
        self._write(
            self._store.record_token_refresh,
            self._spec.account_id,
            event.old_value,
            event.new_value,
        )
        merged = Cookie.parse(event.new_value)
        self._log.info("cookie_merged", fingerprint=merged.fingerprint)
        if self._swap is not None and event.session_id == self._swap.session.session_id:
            self._swap.cookie = merged
        elif self._is_current(event.session_id):
            self._cookie = merged
            self._publish()

    def _on_push(self, event: PushReceived) -> None:
        # also from a session already let go: the push was ACKed, so it is ours to handle
        # (duplicates are harmless, the message id decides)
        delivery = self._require_delivery()
        delivery.on_push(event.messages)
        if delivery.has_deferred and self._serving() is not None:
            self._backfill_soon()  # e.g. the database failed for a moment
        self._publish()

    def _on_backfill(self, event: BackfillFetched) -> None:
        if event.error is not None:
            self._log.warning("backfill_failed", error=event.error)
            return
        self._log.debug("backfill_fetched", messages=len(event.messages))
        delivery = self._require_delivery()
        delivery.on_backfill(event.messages)
        if event.session_id == self._backfill_session:
            self._caught_up = True
        if not delivery.has_deferred:
            self._backfill_retries = 0
        elif self._serving() is not None:
            self._backfill_soon()
        self._publish()

    def _on_answer(self, event: RequestAnswered) -> None:
        if not isinstance(event.tag, SendTag):
            return
        if event.response is not None:
            self._require_delivery().reply_sent(event.tag, event.response)
        else:
            self._require_delivery().reply_failed(event.tag, event.error or "no answer")
            self._backfill_soon()
        self._publish()

    def _backfill_soon(self) -> None:
        """A reply's session went away unanswered (e.g. released by a swap): the message is
        deferred, and a backfill on the serving session settles it against the history."""
        if self._settings.swap_strategy == "naive":
            return  # the re-created original never looked back for what it missed
        if not self._backfill_due:
            self._backfill_due = True
            # growing waits: a message the history does not bring back must not spin
            delay = min(RETRY_BACKFILL_MAX_S, RETRY_BACKFILL_DELAY_S * 2**self._backfill_retries)
            self._backfill_retries = min(self._backfill_retries + 1, 16)
            self._io.call_later(delay, self._tell_self, BackfillDue())

    def _on_backfill_due(self, _event: BackfillDue) -> None:
        self._backfill_due = False
        self._start_backfill()

    def _on_session_events(self, message: SessionEvents) -> None:
        for event in message.events:
            self.on_receive(event)

    def _on_probation_expired(self, event: ProbationExpired) -> None:
        if self._swap is not None and self._swap.op_id == event.op_id:
            self._fail_swap(f"not registered within {self._timings.probation_s}s")

    _handlers: ClassVar[dict[type, Callable[[AccountActor, Any], None]]] = {
        SwapCookie: _on_swap,
        Freeze: _on_freeze,
        SessionRegistered: _on_registered,
        SessionEnded: _on_ended,
        Reconnect: _on_reconnect,
        BackfillDue: _on_backfill_due,
        TokenIssued: _on_token,
        CookieMerged: _on_cookie_merged,
        PushReceived: _on_push,
        BackfillFetched: _on_backfill,
        RequestAnswered: _on_answer,
        ProbationExpired: _on_probation_expired,
        SessionEvents: _on_session_events,
    }

    # --- swap outcome -----------------------------------------------------------------

    def _commit_swap(self) -> None:
        swap = self._swap
        assert swap is not None
        self._swap = None
        swap.cancel_probation()
        swap_ms = (time.monotonic() - swap.started) * 1000
        old = self._current
        self._current = swap.session
        self._cookie = swap.cookie
        if swap.token is not None:
            self._keep_token(swap.token)
        if old is not None:
            self._retire(old, abort=False)
        self._cancel_timers()
        self._retry.reset()
        self._online()
        self._log.info("swap_ok", op=swap.op_id, swap_ms=round(swap_ms, 1))
        self._swap_finished(swap.op_id, ok=True, swap_ms=swap_ms)
        if not swap.naive:  # the original never looked back for what it missed
            # the old session served throughout: only the switch itself can have lost
            # something, so look back from the swap's start rather than from the cursor
            # (unless the old session's own backfill had not come back yet)
            served = old is not None and self._caught_up
            self._start_backfill(swap_seen_ms=swap.seen_ms if served else None)

    def _fail_swap(self, reason: str, *, failure: FailureClass | None = None) -> None:
        swap = self._swap
        assert swap is not None
        self._swap = None
        swap.cancel_probation()
        self._retire(swap.session, abort=True)
        self._log.info(
            "swap_failed", op=swap.op_id, reason=reason, failure=str(failure) if failure else None
        )
        self._swap_finished(swap.op_id, ok=False, reason=reason)
        if self._current is not None or self._state is ChildState.NEEDS_COOKIE:
            self._publish()
        elif self._state is ChildState.BACKOFF:
            # the swap interrupted a back-off: wait again rather than hammer (risk control)
            failure = self._last_failure or FailureClass.NETWORK
            delay = self._retry.delay(failure, rand=random.random(), registered_for_s=None)
            self._back_off(delay or 0.0, failure, reason)
        else:
            # the old session is gone (closed by the new /reg, or by the naive restart):
            # go back to the cookie that worked
            self._reconnects += 1
            self._connect(error=reason)

    def _swap_finished(
        self, op_id: int, *, ok: bool, reason: str | None = None, swap_ms: float | None = None
    ) -> None:
        self._notify(
            SwapFinished(self._spec.account_id, self._spec.generation, op_id, ok, reason, swap_ms)
        )

    # --- connection management --------------------------------------------------------

    def _connect(self, *, error: str | None = None) -> None:
        assert self._cookie is not None
        if self._fence.tripped:
            return
        token = self._token if self._token_fresh() else None
        self._current = self._new_session(self._cookie, token=token, naive=False)
        self._set_state(ChildState.CONNECTING, error=error)
        self._current.start()

    def _new_session(self, cookie: Cookie, *, token: _Token | None, naive: bool) -> Session:
        self._next_session_id += 1
        plan = SessionPlan(
            session_id=self._next_session_id,
            account_id=self._spec.account_id,
            user_id=self._user_id,
            cookie=cookie,
            did=self._did,
            token=token.token if token else None,
            token_age_s=time.time() - token.issued_at if token else 0.0,
        )
        session_class = self.naive_session_class if naive else Session
        session = session_class(
            plan,
            io=self._io,
            token_client=self._token_client,
            ws_url=self._settings.ws_url,
            timings=self._timings,
            fence=self._fence,
            sink=self._session_sink,
        )
        with self._sessions_lock:
            self._sessions[session.session_id] = session
        return session

    def _retire(self, session: Session, *, abort: bool) -> None:
        """Let a session go; its SessionEnded will be ignored."""
        if self._current is session:
            self._current = None
        with self._sessions_lock:
            self._sessions.pop(session.session_id, None)
        if abort:
            session.abort()
        else:
            session.close()

    def _abort_all(self) -> None:
        """The fence's closer: cut every connection now (runs on the supervisor's thread)."""
        with self._sessions_lock:
            sessions = list(self._sessions.values())
        for session in sessions:
            session.abort()

    def _close_all(self, *, timeout: float) -> None:
        with self._sessions_lock:
            sessions = list(self._sessions.values())
            self._sessions.clear()
        self._current = None
        self._swap = None
        for session in sessions:
            session.close()

        async def all_closed() -> None:
            await asyncio.gather(*(s.wait_closed() for s in sessions))

        if sessions:
            # the loop may be shutting down under us (service stop): closing is best effort
            with contextlib.suppress(
                concurrent.futures.TimeoutError, concurrent.futures.CancelledError, RuntimeError
            ):
                self._io.submit(asyncio.wait_for(all_closed(), timeout)).result(timeout + 1)

    def _cancel_timers(self) -> None:
        if self._cancel_reconnect is not None:
            self._cancel_reconnect()
            self._cancel_reconnect = None
        self._reconnect_attempt += 1  # a timer that already fired is ignored too

    def _serving(self) -> Session | None:
        """The registered session replies go out on (the old one while a swap is pending)."""
        if self._current is not None and self._state is ChildState.ONLINE:
            return self._current
        return None

    def _send_reply(self, chat_id: str, peer_id: str, text: str, tag: SendTag) -> bool:
        session = self._serving()
        if session is None or self._fence.tripped:
            return False
        session.request(frames.send_text(chat_id, peer_id, self._user_id, text), tag=tag)
        return True

    def _start_backfill(self, *, swap_seen_ms: int | None = None) -> None:
        if self._current is None or self._fence.tripped:
            return
        delivery = self._require_delivery()
        try:
            if swap_seen_ms is None:
                since = delivery.backfill_since()
            else:
                since = delivery.swap_backfill_since(swap_seen_ms)
        except StorageError as exc:
            # the cursor is unreadable for now (database locked): try again a little later
            self._log.warning("backfill_postponed", error=str(exc))
            self._backfill_soon()
            return
        self._backfill_session = self._current.session_id
        self._caught_up = False
        self._current.backfill(since)

    def _is_current(self, session_id: int) -> bool:
        return self._current is not None and self._current.session_id == session_id

    # --- token cache ------------------------------------------------------------------

    def _load_token(self) -> None:
        assert self._cookie is not None
        record = self._store.load_token(self._spec.account_id)
        if record is not None and record.did.endswith(self._cookie.unb):
            self._did = record.did
            self._token = _Token(record.token, record.did, record.issued_at.timestamp())
        else:
            self._did = new_did(self._cookie.unb)

    def _token_fresh(self) -> bool:
        return (
            self._token is not None
            and time.time() - self._token.issued_at < self._timings.token_refresh_s
        )

    def _keep_token(self, token: _Token) -> None:
        self._token = token
        self._write(
            self._store.save_token,
            self._spec.account_id,
            token.token,
            token.did,
            issued_at=token.issued_at,
        )

    # --- state and reporting ----------------------------------------------------------

    def _online(self) -> None:
        self._online_since = time.time()
        self._set_state(ChildState.ONLINE)

    def _needs_cookie(self, reason: str) -> None:
        self._log.info("needs_cookie", reason=reason)
        try:
            self._write(
                self._store.record_event, "needs_cookie", self._spec.account_id, reason=reason
            )
        except StorageError:  # the audit log failing must not turn this into a crash loop
            self._log.exception("event_write_failed", kind="needs_cookie")
        self._set_state(ChildState.NEEDS_COOKIE, error=reason)

    def _set_state(self, state: ChildState, *, error: str | None = None) -> None:
        changed = state is not self._state
        self._state = state
        if error is not None:
            self._last_error = error
        self._publish()
        if changed:
            self._notify(
                ChildStateChanged(self._spec.account_id, self._spec.generation, state, error)
            )

    def _publish(self) -> None:
        counters = self._delivery.counters if self._delivery else None
        self._status.publish(
            AccountStatus(
                account_id=self._spec.account_id,
                generation=self._spec.generation,
                state=self._state,
                online_since=self._online_since if self._state is ChildState.ONLINE else None,
                last_error=self._last_error,
                received=counters.received if counters else 0,
                replied=counters.replied if counters else 0,
                reconnects=self._reconnects,
                cookie_fingerprint=self._cookie.fingerprint if self._cookie else None,
                swapping=self._swap is not None,
            )
        )

    def _crashed(self, error: BaseException | None) -> None:
        self._log.error("account_crashed", error=repr(error))
        self._cancel_timers()
        self._abort_all()
        self._state = ChildState.STOPPED
        self._last_error = repr(error)
        self._publish()
        self._notify(ChildCrashed(self._spec.account_id, self._spec.generation, repr(error)))

    def _notify(self, message: object) -> None:
        # a fenced generation still reports (every message names its generation, so the
        # supervisor can tell it from the current one); it only stops acting on the world
        try:
            self._notify_supervisor(message)
        except Exception:  # survival boundary: the supervisor may be gone at shutdown
            self._log.exception("notify_failed", kind=type(message).__name__)

    def _tell_self(self, event: object) -> None:
        with contextlib.suppress(pykka.ActorDeadError):
            self.actor_ref.tell(event)

    def _tell_events(self, events: list[object]) -> None:
        self._tell_self(events[0] if len(events) == 1 else SessionEvents(tuple(events)))

    def _pause_minutes(self) -> int:
        try:
            return self._store.get_account(self._spec.account_id).pause_minutes
        except StorageError:
            return 0

    def _write(self, write: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call a store write, unless this generation is fenced."""
        if self._fence.tripped:
            return None
        return write(*args, **kwargs)

    def _require_delivery(self) -> Delivery:
        assert self._delivery is not None
        return self._delivery


__all__ = ["AccountActor"]
