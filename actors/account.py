"""The account actor: one per seller account, owning its live Goofish connection.

A thin pykka shell around plain parts: ``AccountMachine`` (actors/machine.py: connection and
swap states, which session serves, when to backfill, as effects), ``Session`` (socket I/O on
the shared IoLoop) and ``Delivery`` (what each message gets). Everything the sessions and
timers report is handled strictly serially, in order, and fed to the machine or to
``Delivery``; the effects the machine answers with are carried out in order. Pushes and the
answers to replies are handled on the IO loop itself while the actor is idle (``Turns``,
actors/turns.py: one lock per account, so still one thread at a time); the rest arrives here
as messages. Neither thread ever waits on the network.

Seams for subclasses (the benchmark's naive strategy, the test/demo ``Freeze`` hook):
``machine_class``, ``_make_session``, ``_handlers`` and ``_effect_handlers``.
"""

from __future__ import annotations

import contextlib
import queue
import random
import threading
import time
from collections.abc import Callable
from typing import Any, ClassVar

import pykka
import structlog

from actors import effects as fx
from actors import events, inputs
from actors.account_writes import AccountWrites
from actors.budget import LoginBudget, budgeted
from actors.delivery import Delivery, SendTag
from actors.inputs import Now
from actors.machine import AccountMachine
from actors.messages import (
    AccountSpec,
    AccountStatus,
    ChildCrashed,
    ChildStateChanged,
    ChildStopped,
    Fence,
    Notify,
    StatusCell,
    SwapCookie,
    SwapFinished,
)
from actors.session import Session, SessionPlan
from actors.sessions import SessionPool
from actors.timers import Timers
from actors.turns import HandlingFailed, Reported, Turns
from common.errors import StorageError
from common.io_loop import IoLoop
from common.sentences import error_sentence
from common.settings import Settings
from goofish import frames
from goofish.cookies import Cookie
from goofish.ids import new_did

log = structlog.get_logger(__name__)

# reports the IO loop may handle itself when the account is idle (``actors/turns.py``): their
# handlers touch only the account's state and the store, and never wait for the loop
INLINE_KINDS = frozenset({events.PushReceived, events.RequestAnswered})


class AccountActor(AccountWrites, pykka.ThreadingActor):
    """Keeps one seller account online and auto-replying."""

    # A fenced generation may still be stuck in a handler when the service exits;
    # it can no longer send or write, so it must not keep the process alive either.
    use_daemon_thread = True
    machine_class: ClassVar[type[AccountMachine]] = AccountMachine

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
        login_budget: LoginBudget | None = None,
    ) -> None:
        super().__init__()
        self._spec = spec
        self._store = store
        self._io = io
        # shared by every generation (a crash restart must not refill it); each fetch counts
        self._budget = login_budget
        self._token_client = budgeted(token_client, login_budget, spec.account_id)
        self._settings = settings
        self._timings = settings.timings
        self._fence = fence
        self._status = status
        self._notify_supervisor = notify
        self._log = log.bind(account=spec.account_id, generation=spec.generation)
        self._machine = self.machine_class(settings.timings)
        self._user_id = spec.user_id
        self._did = ""
        self._sessions = SessionPool()
        # SQLite only: a statement is a local call of microseconds; a PostgreSQL round trip
        # (or its outage) must not hold up every connection on the loop
        inline = INLINE_KINDS if getattr(store, "inline_safe", False) else frozenset()
        self._turns = Turns(io, tell=self._tell_self, handle=self._receive, inline_kinds=inline)
        # timers report through the turns too, so they keep their place among the reports
        self._timers = Timers(io, self._turns.report)
        self._delivery: Delivery | None = None
        # what the sessions report: handled on the loop, or per loop iteration one message
        self._session_sink = self._turns.report

    # --- pykka hooks ------------------------------------------------------------------

    def on_start(self) -> None:
        with self._turns.held():
            self._begin()
            self._turns.open(True)

    def _begin(self) -> None:
        # pykka reports neither to on_failure nor on_stop when on_start raises: do it here
        try:
            threading.current_thread().name = f"account-{self._spec.account_id}"
            cookie = Cookie.parse(self._spec.cookie)
            self._user_id = self._spec.user_id or cookie.unb
            self._delivery = Delivery(
                account_id=self._spec.account_id,
                user_id=self._user_id,
                store=self._store,
                fence=self._fence,
                send=self._send_reply,
                can_send=lambda: self._machine.serving is not None and not self._fence.tripped,
                pause_minutes=self._pause_minutes,
            )
            token = self._load_token(cookie)
            self._fence.add_closer(self._sessions.abort_all)
            self._log.info("account_starting", fingerprint=cookie.fingerprint)
            start = self._machine.start(cookie, token, self._now(), operator=self._spec.operator)
            self._carry_out(start)
        except Exception as exc:
            self._crashed(exc)
            raise

    def on_stop(self) -> None:
        with self._turns.held():
            self._turns.open(False)
            self._wind_down()

    def _wind_down(self) -> None:
        self._feed(inputs.Stopping())
        self._log.info("account_stopped")
        self._notify(ChildStopped(self._spec.account_id, self._spec.generation))

    def on_failure(self, exception_type: Any, exception_value: Any, traceback: Any) -> None:
        with self._turns.held():
            self._turns.open(False)
            self._crashed(exception_value)

    def on_receive(self, message: Any) -> Any:
        with self._turns.held():
            return self._receive(message)

    def _receive(self, message: Any) -> Any:
        handler = self._handlers.get(type(message))
        if handler is None:
            self._log.warning("unknown_message", kind=type(message).__name__)
            return None
        return handler(self, message)

    # --- messages ---------------------------------------------------------------------

    def _on_swap(self, message: SwapCookie) -> None:
        seen_ms = self._require_delivery().newest_seen_ms
        self._feed(inputs.SwapRequested(message.op_id, message.cookie, seen_ms))

    def _on_ended(self, event: events.SessionEnded) -> None:
        self._sessions.forget(event.session_id)
        self._feed(event)

    def _on_push(self, event: events.PushReceived) -> None:
        # also from a session already let go: the push was ACKed, so it is ours to handle
        # (duplicates are harmless, the message id decides)
        delivery = self._require_delivery()
        delivery.on_push(event.messages)
        self._feed(inputs.PushHandled(delivery.has_deferred))

    def _on_backfill(self, event: events.BackfillFetched) -> None:
        if event.error is not None:
            self._log.warning("backfill_failed", error=event.error)
            return
        self._log.debug("backfill_fetched", messages=len(event.messages))
        delivery = self._require_delivery()
        delivery.on_backfill(event.messages)
        self._feed(inputs.BackfillSettled(event.session_id, delivery.has_deferred))

    def _on_answer(self, event: events.RequestAnswered) -> None:
        if not isinstance(event.tag, SendTag):
            return
        delivery = self._require_delivery()
        if event.response is not None:
            delivery.reply_sent(event.tag, event.response)
        else:
            delivery.reply_failed(event.tag, event.error or "no answer")
        # no answer, or one about its session (401: replaced by a swap's new /reg): the message
        # waits, deferred, and a backfill on the serving session settles it against the history
        self._feed(inputs.ReplySettled(confirmed=not delivery.has_deferred))

    def _on_reported(self, message: Reported) -> None:
        for event in message.events:
            self._receive(event)
        self._turns.handled(message)

    def _on_handling_failed(self, message: HandlingFailed) -> None:
        raise message.error  # as if it had been raised here: the actor fails, pykka logs it

    def _on_machine_event(self, event: object) -> None:
        self._feed(event)

    _handlers: ClassVar[dict[type, Callable[[AccountActor, Any], None]]] = {
        SwapCookie: _on_swap,
        events.SessionRegistered: _on_machine_event,
        events.SessionEnded: _on_ended,
        events.Reconnect: _on_machine_event,
        events.BackfillDue: _on_machine_event,
        events.TokenIssued: _on_machine_event,
        events.CookieMerged: _on_machine_event,
        events.PushReceived: _on_push,
        events.BackfillFetched: _on_backfill,
        events.RequestAnswered: _on_answer,
        events.ProbationExpired: _on_machine_event,
        Reported: _on_reported,
        HandlingFailed: _on_handling_failed,
    }

    # --- the machine and its effects --------------------------------------------------

    def _now(self) -> Now:
        budget = self._budget.view(self._spec.account_id) if self._budget else None
        return Now(time.time(), time.monotonic(), random.random(), self._fence.tripped, budget)

    def _feed(self, event: object) -> None:
        self._carry_out(self._machine.handle(event, self._now()))

    def _carry_out(self, effects: list[fx.Effect]) -> None:
        for effect in effects:
            self._effect_handlers[type(effect)](self, effect)

    def _open_session(self, effect: fx.OpenSession) -> None:
        plan = SessionPlan(
            session_id=effect.session_id,
            account_id=self._spec.account_id,
            user_id=self._user_id,
            cookie=effect.cookie,
            did=self._did,
            token=effect.token,
            token_age_s=effect.token_age_s,
            proxy=self._spec.proxy,
        )
        session = self._make_session(plan, for_swap=effect.for_swap)
        self._sessions.add(session)
        session.start()

    def _make_session(
        self, plan: SessionPlan, *, for_swap: bool, cls: type[Session] = Session
    ) -> Session:
        """The one place sessions are created; ``for_swap``: a swap's candidate session.
        A subclass may create another kind (``cls``, same constructor)."""
        return cls(
            plan,
            io=self._io,
            token_client=self._token_client,
            ws_url=self._settings.ws_url,
            timings=self._timings,
            fence=self._fence,
            sink=self._session_sink,
        )

    def _close_session(self, effect: fx.CloseSession) -> None:
        self._sessions.retire(effect.session_id, abort=effect.abort)

    def _close_all(self, _effect: fx.CloseAll) -> None:
        self._sessions.close_all(self._io, timeout=self._timings.stop_timeout_s / 2)

    def _abort_all(self, _effect: fx.AbortAll) -> None:
        self._sessions.abort_all()

    def _start_backfill(self, effect: fx.StartBackfill) -> None:
        session = self._sessions.get(effect.session_id)
        delivery = self._require_delivery()
        try:
            if effect.swap_seen_ms is None:
                since = delivery.backfill_since()
            else:
                since = delivery.swap_backfill_since(effect.swap_seen_ms)
        except StorageError as exc:
            # the cursor is unreadable for now (database locked): try again a little later
            self._log.warning("backfill_postponed", error=str(exc))
            self._feed(inputs.BackfillPostponed())
            return
        self._feed(inputs.BackfillBegun(effect.session_id))
        if session is not None:
            session.backfill(since)

    def _arm_reconnect(self, effect: fx.ArmReconnect) -> None:
        self._timers.arm("reconnect", effect.delay_s, events.Reconnect(effect.attempt))

    def _cancel_reconnect_timer(self, _effect: fx.CancelReconnect) -> None:
        self._timers.cancel("reconnect")

    def _arm_probation(self, effect: fx.ArmProbation) -> None:
        expired = events.ProbationExpired(effect.op_id)
        self._timers.arm(("probation", effect.op_id), effect.seconds, expired)

    def _cancel_probation_timer(self, effect: fx.CancelProbation) -> None:
        self._timers.cancel(("probation", effect.op_id))

    def _arm_backfill(self, effect: fx.ArmBackfill) -> None:
        self._timers.arm("backfill", effect.delay_s, events.BackfillDue())  # one at a time

    def _publish(self, effect: fx.Publish) -> None:
        view = effect.view
        counters = self._delivery.counters if self._delivery else None
        self._status.publish(
            AccountStatus(
                account_id=self._spec.account_id,
                generation=self._spec.generation,
                state=view.state,
                online_since=view.online_since,
                last_error=view.last_error,
                received=counters.received if counters else 0,
                replied=counters.replied if counters else 0,
                reconnects=view.reconnects,
                cookie_fingerprint=view.cookie_fingerprint,
                swapping=view.swapping,
                reconnect_reasons=view.reconnect_reasons,
            )
        )

    def _report_state(self, effect: fx.ReportState) -> None:
        spec = self._spec
        self._notify(
            ChildStateChanged(spec.account_id, spec.generation, effect.state, effect.error)
        )

    def _report_swap(self, effect: fx.ReportSwap) -> None:
        spec = self._spec
        self._notify(
            SwapFinished(
                spec.account_id,
                spec.generation,
                effect.op_id,
                effect.ok,
                effect.reason,
                effect.swap_ms,
            )
        )

    def _note(self, effect: fx.Note) -> None:
        getattr(self._log, effect.level)(effect.event, **effect.fields)

    _effect_handlers: ClassVar[dict[type, Callable[[AccountActor, Any], None]]] = {
        fx.OpenSession: _open_session,
        fx.CloseSession: _close_session,
        fx.CloseAll: _close_all,
        fx.AbortAll: _abort_all,
        fx.StartBackfill: _start_backfill,
        fx.ArmReconnect: _arm_reconnect,
        fx.CancelReconnect: _cancel_reconnect_timer,
        fx.ArmProbation: _arm_probation,
        fx.CancelProbation: _cancel_probation_timer,
        fx.ArmBackfill: _arm_backfill,
        fx.SaveToken: AccountWrites._save_token,
        fx.RecordCookieRefresh: AccountWrites._record_cookie_refresh,
        fx.RecordNeedsCookie: AccountWrites._record_needs_cookie,
        fx.BudgetExhausted: AccountWrites._budget_exhausted,
        fx.Publish: _publish,
        fx.ReportState: _report_state,
        fx.ReportSwap: _report_swap,
        fx.Note: _note,
    }

    # --- sending, token cache, reporting ----------------------------------------------

    def _send_reply(self, chat_id: str, peer_id: str, text: str, tag: SendTag) -> bool:
        session = self._sessions.get(self._machine.serving)
        if session is None or self._fence.tripped:
            return False
        session.request(frames.send_text(chat_id, peer_id, self._user_id, text), tag=tag)
        return True

    def _load_token(self, cookie: Cookie) -> fx.CachedToken | None:
        record = self._store.load_token(self._spec.account_id)
        if record is not None and record.did.endswith(cookie.unb):
            self._did = record.did
            return fx.CachedToken(record.token, record.did, record.issued_at.timestamp())
        self._did = new_did(cookie.unb)
        return None

    def _crashed(self, error: BaseException | None) -> None:
        self._log.error("account_crashed", error=repr(error))
        sentence = error_sentence(error)
        self._carry_out(self._machine.handle(inputs.Crashed(f"crashed: {sentence}"), self._now()))
        self._notify(ChildCrashed(self._spec.account_id, self._spec.generation, sentence))

    def _notify(self, message: object) -> None:
        # a fenced generation still reports (every message names its generation, so the
        # supervisor can tell it from the current one); it only stops acting on the world
        try:
            self._notify_supervisor(message)
        except Exception:  # noqa: BLE001 (survival boundary: the supervisor may be gone at shutdown)
            self._log.exception("notify_failed", kind=type(message).__name__)

    def _tell_self(self, event: object) -> None:
        with contextlib.suppress(pykka.ActorDeadError):
            self.actor_ref.tell(event)

    def _require_delivery(self) -> Delivery:
        assert self._delivery is not None
        return self._delivery


__all__ = ["AccountActor"]
