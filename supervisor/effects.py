"""Carrying out what the pure halves decided: pre-flow plans, flow effects, shutdown effects.

``supervisor.preflow``, ``supervisor.machine`` and ``supervisor.shutdown`` decide, as data;
``Effects`` does: it starts, stops, fences and tells child generations, arms deadlines on the
IoLoop, writes through the ``AccountBook`` and completes the callers' futures. It runs on the
supervisor's thread only and never waits on a child: a stop is ``ref.stop(block=False)`` and
what follows arrives later as a notice or a deadline message. A step that fails raises; the
supervisor actor (the survival boundary) ends the operation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pykka
import structlog

from actors.messages import (
    AccountSpec,
    AccountStatus,
    ChildCrashed,
    ChildState,
    Fence,
    Freeze,
    StatusCell,
    SwapCookie,
)
from common import metrics_sink
from common.errors import ConflictError
from common.io_loop import IoLoop
from common.proxy import proxy_label
from common.settings import Timings
from goofish.cookies import Cookie
from storage import SOURCE_RENEWAL, AccountRecord
from supervisor import machine as m
from supervisor import preflow as pf
from supervisor.book import AccountBook, not_found
from supervisor.children import ChildFactory, NeverStarted
from supervisor.entry import AccountEntry, Child, ChildRef
from supervisor.outcomes import (
    as_project_error,
    observe_outcome,
    operation_of,
    relay,
    restart_cause,
)
from supervisor.renew_flow import RenewFlow
from supervisor.renewals import Renewals
from supervisor.requests import (
    Add,
    ChildAlreadyGone,
    FlowDeadline,
    Reap,
    Request,
    Rollback,
    SetProxy,
    Update,
)
from supervisor.restarts import RestartPolicy

log = structlog.get_logger(__name__)


class Effects:
    """The supervisor's hands: every change to children, timers, the Store and replies."""

    def __init__(
        self,
        *,
        book: AccountBook,
        entries: dict[str, AccountEntry],
        factory: ChildFactory,
        io: IoLoop,
        timings: Timings,
        tell_self: Callable[[object], None],
        renewals: Renewals,
        fence_for: Callable[[str], Fence] | None = None,
        on_added: Callable[[str], None] | None = None,
    ) -> None:
        # cluster mode (docs/cluster.md): fences that also honour the account's lease, and
        # added accounts left to whichever node's keeper claims them
        self._fence_for = fence_for or (lambda _account_id: Fence())
        self._on_added = on_added
        self._book = book
        self._entries = entries  # the supervisor's own table: DeleteAccount drops a row
        self._factory = factory
        self._io = io
        self._timings = timings
        self._tell_self = tell_self  # also what children call to notify upward
        self._renewals = renewals

    # --- accounts -------------------------------------------------------------------------

    def new_entry(self, record: AccountRecord) -> AccountEntry:
        """The bookkeeping for a stored account, starting from its active cookie."""
        active = self._book.active(record.account_id)
        if active is None:
            raise not_found(record.account_id)
        policy = RestartPolicy(
            self._timings.restart_backoff,
            intensity=self._timings.restart_intensity,
            window_s=self._timings.restart_window_s,
        )
        entry = AccountEntry(record.account_id, record.user_id, record.enabled, active, policy)
        entry.proxy = record.proxy
        entry.stored = self._book.totals(record.account_id)
        return entry

    def add(self, request: Add) -> None:
        """Store a new account, start it if enabled, answer ``added``."""
        cookie = Cookie.parse(request.cookie)
        pf.check_one_account(cookie.unb, request.account_id, self._book.seller_accounts(cookie.unb))
        record = self._book.add(request, cookie)
        entry = self._entries[record.account_id] = self.new_entry(record)
        self._book.record(
            "added", record.account_id, fingerprint=cookie.fingerprint, enabled=record.enabled
        )
        log.info("account_added", account=record.account_id, unb=cookie.unb, enabled=record.enabled)
        if self._on_added is not None:  # cluster: served by the node that claims its lease
            del self._entries[record.account_id]
            self._on_added(record.account_id)
        elif entry.enabled:
            self.start_child(entry, entry.current, operator=True)
        self._renewals.track(entry)
        request.reply.set_result({"outcome": "added", "account": record.account_id})

    def set_proxy(self, entry: AccountEntry, request: SetProxy) -> bool:
        """Store the account's proxy and answer; True when a running generation must restart."""
        record = self._book.set_proxy(request.account_id, request.proxy)
        entry.proxy = record.proxy
        log.info("proxy_set", account=entry.account_id, proxy=proxy_label(record.proxy) or None)
        request.reply.set_result({"outcome": "proxy_set"})
        return entry.enabled and (entry.child is not None or entry.flow is not None)

    # --- before a flow: a pre-flow plan -------------------------------------------------------

    def prepare(self, entry: AccountEntry, request: Request) -> m.Flow | None:
        """Decide ``request`` and do its bookkeeping: the flow to begin, or None (answered)."""
        self.refresh_current(entry)
        target = None
        if isinstance(request, Rollback):
            target = self._book.rollback_target(entry.account_id, request.to_version)
        plan = pf.plan(request, entry.view(), target=target)
        if plan.enabled is not None:
            self._book.set_enabled(entry.account_id, enabled=plan.enabled)
            entry.enabled = plan.enabled
        if plan.operator_acted:
            # an operator took the account in hand: lift ``failed`` and forget earlier crashes
            entry.failed = None
            entry.policy.reset()
            self._renewals.operator_acted(entry)
        if plan.operator_acted or plan.cancel_restart:
            entry.cancel_pending_restart()
        return self._act(entry, request, plan.action)

    def _act(self, entry: AccountEntry, request: Request, action: pf.Action) -> m.Flow | None:
        if isinstance(action, pf.Refuse):
            raise action.error
        if isinstance(action, pf.TryCookie):
            return self._apply_flow(entry, action)
        if isinstance(action, pf.RenewNow):
            return self._renew_flow(entry, action)
        if isinstance(action, pf.StopFirst):
            timeout = self._timings.stop_timeout_s
            return m.StopFlow(then=action.then, current=entry.current, stop_timeout_s=timeout)
        if isinstance(action, pf.KillNow):
            return m.KillFlow(current=entry.current, restart=action.restart)
        if isinstance(action, pf.Answer):
            self.answer(entry, request, action.event, dict(action.result))
        elif isinstance(action, pf.StoreCookie):
            self._store_now(entry, request, action)
        elif isinstance(action, pf.EnableNow):
            if action.start_child:
                self.start_child(entry, entry.current, operator=True)
            self.answer(entry, request, "enabled", {"outcome": "enabled"})
        else:  # FreezeNow: the child is told, nobody waits for it to thaw
            child = entry.child
            assert child is not None  # planned on this entry's own snapshot
            child.ref.tell(Freeze(action.seconds))
            request.reply.set_result({"outcome": "frozen", "generation": child.generation})
        return None

    def _store_now(self, entry: AccountEntry, request: Request, action: pf.StoreCookie) -> None:
        """Make the cookie the account's own without a live try-out, then answer."""
        previous = entry.current
        candidate = action.candidate
        if action.save:
            candidate = self._book.propose(entry.account_id, candidate.cookie)
        self.commit(entry, candidate, operation=action.operation)
        result = pf.update_result(action.outcome, candidate, previous=previous)
        self.answer(entry, request, f"{action.operation}_{action.outcome}", result)

    def _apply_flow(self, entry: AccountEntry, action: pf.TryCookie) -> m.ApplyFlow:
        candidate = action.candidate
        if action.save:
            candidate = self._book.propose(entry.account_id, candidate.cookie, source=action.source)
        log.info(
            f"{action.operation}_started",
            account=entry.account_id,
            version=candidate.version,
            fingerprint=candidate.fingerprint,
        )
        return m.ApplyFlow(
            operation=action.operation,
            candidate=candidate,
            previous=entry.current,
            probation_s=self._timings.probation_s,
            stop_timeout_s=self._timings.stop_timeout_s,
            swap_grace_s=self._timings.stop_timeout_s,
        )

    def _renew_flow(self, entry: AccountEntry, action: pf.RenewNow) -> RenewFlow:
        if not self._renewals.enabled:
            raise ConflictError(
                "session renewal is not configured in this service (no passport client)"
            )
        if action.trigger == "operator":
            self._renewals.operator_acted(entry)  # an operator may try what gave up before
        dead = entry.child is not None and entry.child.read().state is ChildState.NEEDS_COOKIE
        return RenewFlow(
            current=entry.current,
            trigger=action.trigger,
            deadline_s=self._renewals.deadline_s,
            session_expired=dead,
        )

    def _renewal_step(self, entry: AccountEntry, effect: m.AskPassport | m.ApplyRenewal) -> None:
        """Ask the passport; or put the renewed cookie next, through the update path (the
        renewal's caller hears the update's answer)."""
        if isinstance(effect, m.AskPassport):
            self._renewals.ask(entry, effect)
            return
        renew = entry.request
        if entry.condition() is not m.ChildCondition.SWAPPABLE:
            # a fresh generation will start on the renewed cookie: not with the dead one's token
            self._book.expire_token(entry.account_id)
        update = Update(entry.account_id, cookie=effect.cookie, source=SOURCE_RENEWAL)
        if renew is not None:
            update.reply.add_done_callback(lambda done: relay(done, renew.reply))
        entry.queue.appendleft(update)

    # --- a flow's effects -------------------------------------------------------------------

    def carry_out(self, entry: AccountEntry, effect: m.Effect) -> None:
        if isinstance(effect, m.TellSwap):
            self._tell_swap(entry, effect)
        elif isinstance(effect, m.StopChild):
            self._stop_child(entry)
        elif isinstance(effect, m.KillChild):
            self.kill_child(entry, effect.reason)
        elif isinstance(effect, m.StartChild):  # every flow is an operator's
            self.start_child(entry, effect.candidate, operator=True)
        elif isinstance(effect, m.ArmDeadline):
            self._arm_deadline(entry, effect)
        elif isinstance(effect, m.Commit):
            self.commit(entry, effect.candidate, operation=operation_of(entry))
        elif isinstance(effect, m.Reject):
            # a rollback target stays as it was: it served before and may again
            if effect.candidate.version is not None and operation_of(entry) != "rollback":
                self._book.fail(entry.account_id, effect.candidate.version, effect.reason)
        elif isinstance(effect, m.DeleteAccount | m.ForgetAccount):
            self.drop(entry, delete=isinstance(effect, m.DeleteAccount))
        elif isinstance(effect, m.AskPassport | m.ApplyRenewal):
            self._renewal_step(entry, effect)
        elif isinstance(effect, m.Finish) and entry.request is not None:
            if operation_of(entry) == "renewal" and effect.event:
                self._renewals.finished(entry, effect.event, dict(effect.result))
            self.answer(entry, entry.request, effect.event, dict(effect.result))

    def _tell_swap(self, entry: AccountEntry, effect: m.TellSwap) -> None:
        child = entry.child
        if child is None:
            self._tell_self(ChildAlreadyGone(entry.account_id, entry.flow_id))
            return
        try:
            child.ref.tell(SwapCookie(entry.flow_id, effect.cookie))
        except pykka.ActorDeadError:
            self._tell_self(Reap(entry.account_id, child.generation))

    def _stop_child(self, entry: AccountEntry) -> None:
        child = entry.child
        if child is None:
            # nothing to wait for: let the flow see "stopped" through the mailbox
            self._tell_self(ChildAlreadyGone(entry.account_id, entry.flow_id))
            return
        child.stopping = True
        child.ref.stop(block=False)
        if not child.ref.is_alive():
            self._tell_self(Reap(entry.account_id, child.generation))

    def kill_child(self, entry: AccountEntry, reason: str) -> None:
        child = entry.retire_child()
        if child is None:
            return
        if reason != "operator kill":  # a stop cut off at its deadline: counted like a crash
            entry.crashes += 1
        child.fence.trip()  # cuts its sockets; the generation never sends, ACKs or writes again
        child.ref.stop(block=False)
        if not isinstance(entry.flow, m.KillFlow):  # a stop or swap cut off at its deadline
            entry.restart_cause = "timeout"
        generation = child.generation
        self._book.record("killed", entry.account_id, generation=generation, reason=reason)
        log.info("child_killed", account=entry.account_id, generation=generation, reason=reason)

    def start_child(
        self,
        entry: AccountEntry,
        candidate: m.Candidate,
        *,
        operator: bool = False,
        cause: str | None = None,
    ) -> None:
        """A new generation; ``operator``: an operator's command started it (the login
        budget lets its first login through); ``cause`` names why it replaces one, when it
        is not a flow's (a crash)."""
        if candidate is entry.current:
            self.refresh_current(entry)
            candidate = entry.current
        old = entry.retire_child()
        if old is not None:  # never two live generations: fence the one being replaced
            old.fence.trip()
            old.ref.stop(block=False)
        entry.cancel_pending_restart()
        if entry.generations:
            entry.restarts += 1
            entry.count_restart(cause or entry.restart_cause or restart_cause(entry))
        entry.restart_cause = None
        entry.generations += 1
        generation = entry.generations
        spec = AccountSpec(
            account_id=entry.account_id,
            user_id=entry.user_id,
            cookie=candidate.cookie,
            cookie_version=candidate.version,
            generation=generation,
            proxy=entry.proxy,
            operator=operator,
            supervisor_renews=self._renewals.enabled,
        )
        fence = self._fence_for(entry.account_id)
        cell = StatusCell(AccountStatus(entry.account_id, generation, ChildState.CONNECTING))
        try:
            ref: ChildRef = self._factory(spec, fence=fence, status=cell, notify=self._tell_self)
        except Exception as exc:  # noqa: BLE001 (a child's constructor that raises is a crash like any other)
            log.exception("child_start_failed", account=entry.account_id, generation=generation)
            ref = NeverStarted()
            self._tell_self(ChildCrashed(entry.account_id, generation, f"start failed: {exc}"))
        entry.child = Child(ref, generation, fence, cell, candidate)
        log.debug("child_started", account=entry.account_id, generation=generation)

    def _arm_deadline(self, entry: AccountEntry, effect: m.ArmDeadline) -> None:
        if entry.cancel_deadline is not None:
            entry.cancel_deadline()
        entry.deadline_seq += 1
        deadline = FlowDeadline(entry.account_id, entry.flow_id, entry.deadline_seq, effect.kind)
        entry.cancel_deadline = self._io.call_later(effect.seconds, self._tell_self, deadline)

    def commit(self, entry: AccountEntry, candidate: m.Candidate, *, operation: str) -> None:
        if candidate.version is not None:
            candidate = self._book.activate(
                entry.account_id, candidate.version, operation=operation
            )
        entry.current = candidate
        entry.unsaved = candidate.version is None

    def refresh_current(self, entry: AccountEntry) -> None:
        """Follow token refreshes: a child's Set-Cookie merge makes a new active version."""
        if entry.unsaved:
            return
        active = self._book.active(entry.account_id)
        if active is not None:
            entry.current = active

    def drop(self, entry: AccountEntry, *, delete: bool, why: Exception | None = None) -> None:
        """Forget the account here (its generation is gone or fenced); ``delete``: its data too.
        Requests queued behind hear ``why`` (default: not found)."""
        if delete:
            self._book.remove(entry.account_id)
        if self._entries.get(entry.account_id) is entry:
            del self._entries[entry.account_id]
        for request in entry.queue:
            self.fail_request(request, why or not_found(entry.account_id))
        entry.queue.clear()

    # --- answers ----------------------------------------------------------------------------

    def answer(
        self, entry: AccountEntry, request: Request, event: str | None, result: dict[str, Any]
    ) -> None:
        """Record the outcome, then tell the caller (persisted before anyone hears ``ok``)."""
        if event is not None:
            # the cookie the operation was about: the candidate of an update or rollback
            flow = entry.flow
            subject = flow.candidate if isinstance(flow, m.ApplyFlow) else entry.current
            fingerprint = subject.fingerprint
            if subject.version is not None and isinstance(flow, m.ApplyFlow):
                # a Set-Cookie merge may have changed the stored value: name what history shows
                stored = self._book.stored_fingerprint(entry.account_id, subject.version)
                fingerprint = stored or fingerprint
            self._book.record(event, entry.account_id, fingerprint=fingerprint, **result)
            # a rollback is something an operator should see
            level = log.warning if result.get("outcome") == "rolled_back" else log.info
            level(event, account=entry.account_id, **result)
            observe_outcome(event, result)
        if not request.reply.done():
            request.reply.set_result(result)

    def fail_request(self, request: Request, exc: BaseException) -> None:
        if isinstance(request, Update | Rollback):
            metrics_sink.operation_finished(type(request).__name__.lower(), "error", None)
        if not request.reply.done():
            request.reply.set_exception(as_project_error(exc))
            return
        # the caller was told "accepted" and went away: the failure must land in the events
        operation = type(request).__name__.lower()
        log.warning(
            "operation_failed", account=request.account_id, operation=operation, error=str(exc)
        )
        self._book.record(
            "operation_failed", request.account_id, operation=operation, error=str(exc)
        )

    def save_totals(self) -> None:
        """Add what each account counted since the last save to its stored lifetime totals."""
        for entry in self._entries.values():
            delta = entry.unsaved_totals()
            if delta and self._book.add_totals(entry.account_id, delta):
                entry.saved = entry.saved + delta

    def end_flow(self, entry: AccountEntry) -> None:
        if entry.cancel_deadline is not None:
            entry.cancel_deadline()
        entry.flow = entry.request = entry.cancel_deadline = None
