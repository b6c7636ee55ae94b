"""The supervisor actor: one account actor per account, kept alive, updated, restarted, killed.

A thin shell around ``supervisor.machine``: it turns child notices and its own deadline
messages into flow events, and carries out the effects the flows answer with. Its handlers
never wait on a child: a stop is ``ref.stop(block=False)`` plus a deadline message to itself;
a stuck child is cut off through its ``Fence``. Operations on one account are queued behind
each other; different accounts never wait on each other.
"""

from __future__ import annotations

import contextlib
import itertools
import random
import threading
import time
from collections.abc import Callable
from typing import Any

import pykka
import structlog

from actors.messages import (
    AccountSpec,
    AccountStatus,
    ChildCrashed,
    ChildState,
    ChildStateChanged,
    ChildStopped,
    Fence,
    Freeze,
    StatusCell,
    SwapCookie,
    SwapFinished,
)
from common.errors import ConflictError, NotFoundError, StorageError, XianyuSupervisorError
from common.io_loop import IoLoop
from common.settings import Settings
from goofish.cookies import Cookie
from storage import ROLLED_BACK, SOURCE_ADMIN, SUPERSEDED, CookieVersion, Store
from supervisor import machine as m
from supervisor.children import ChildFactory, NeverStarted
from supervisor.entry import AccountEntry, Child, ChildRef
from supervisor.requests import (
    Add,
    ChildAlreadyGone,
    Disable,
    Enable,
    FlowDeadline,
    FreezeChild,
    Kill,
    Ping,
    Reap,
    Remove,
    Request,
    Restart,
    RestartDue,
    Rollback,
    Shutdown,
    ShutdownDeadline,
    StartDue,
    Status,
    Sweep,
    Update,
)
from supervisor.restarts import GiveUp, RestartPolicy

log = structlog.get_logger(__name__)


# lifetime counters are stored every this many sweeps (a sweep runs every 0.05-1 s)
TOTALS_EVERY_SWEEPS = 30


def version_candidate(version: CookieVersion) -> m.Candidate:
    return m.Candidate(version.value, version.number, version.fingerprint)


def not_found(account_id: str) -> NotFoundError:
    return NotFoundError(f"account {account_id!r} not found; run 'ctl status' to list accounts")


class SupervisorActor(pykka.ThreadingActor):
    """Owns ``account id -> AccountEntry`` and every child generation's life."""

    def __init__(
        self,
        *,
        store: Store,
        io: IoLoop,
        settings: Settings,
        child_factory: ChildFactory,
        clock: Callable[[], float] = time.monotonic,
        rand: Callable[[], float] = random.random,
    ) -> None:
        super().__init__()
        self._store = store
        self._io = io
        self._timings = settings.timings
        self._factory = child_factory
        self._clock = clock
        self._rand = rand
        self._entries: dict[str, AccountEntry] = {}
        self._flow_ids = itertools.count(1)
        self._cancel_sweep: Callable[[], None] | None = None
        self._sweeps = 0
        self._shutdown: Shutdown | None = None
        self._shutdown_waiting: set[str] = set()
        self._shutdown_started = 0.0
        self._handlers: dict[type, Callable[[Any], None]] = {
            Ping: lambda _message: None,
            Status: self._on_status,
            Add: self._on_add,
            Shutdown: self._on_shutdown,
            ShutdownDeadline: self._on_shutdown_deadline,
            StartDue: self._on_start_due,
            RestartDue: self._on_restart_due,
            FlowDeadline: self._on_flow_deadline,
            Sweep: self._on_sweep,
            Reap: self._on_reap,
            ChildAlreadyGone: self._on_child_already_gone,
            ChildStateChanged: self._on_child_state,
            SwapFinished: self._on_swap_finished,
            ChildStopped: self._on_child_stopped,
            ChildCrashed: self._on_child_crashed,
        }

    # --- pykka hooks ------------------------------------------------------------------------

    def on_start(self) -> None:
        threading.current_thread().name = "supervisor"
        pending = self._store.pending_accounts()
        interrupted = self._store.fail_pending_versions()
        if interrupted:
            self._record("pending_versions_failed", count=interrupted, accounts=pending)
            log.warning(
                "pending_versions_failed", count=interrupted, accounts=pending, reason="interrupted"
            )
        records = self._store.list_accounts()
        for record in records:
            self._entries[record.account_id] = self._new_entry(
                record.account_id, record.user_id, enabled=record.enabled
            )
        enabled = [r.account_id for r in records if r.enabled]
        rate = max(self._timings.start_rate_per_s, 1e-3)
        for index, account_id in enumerate(enabled):
            # spread the starts so a thousand accounts do not stampede the token API
            self._io.call_later(index / rate, self._tell_self, StartDue(account_id))
        self._arm_sweep()
        log.info("supervisor_started", accounts=len(records), enabled=len(enabled))

    def on_stop(self) -> None:
        if self._cancel_sweep is not None:
            self._cancel_sweep()
        for entry in self._entries.values():
            entry.cancel_pending_restart()
            if entry.cancel_deadline is not None:
                entry.cancel_deadline()
            if entry.child is not None:
                entry.child.ref.stop(block=False)
            for request in [entry.request, *entry.queue]:
                if request is not None and not request.reply.done():
                    request.reply.set_exception(
                        XianyuSupervisorError("the supervisor stopped before finishing")
                    )

    def on_failure(self, exc_type: Any, exc: Any, tb: Any) -> None:
        log.error("supervisor_crashed", exc_info=(exc_type, exc, tb))

    def on_receive(self, message: Any) -> Any:
        handler = self._handlers.get(type(message))
        try:
            if handler is not None:
                handler(message)
            elif isinstance(message, Request):
                self._on_request(message)
            else:
                log.warning("supervisor_unknown_message", message=type(message).__name__)
        except XianyuSupervisorError as exc:  # an expected refusal: the caller hears why
            self._reply_error(message, exc)
        except Exception as exc:  # survival boundary: one bad message must not stop supervision
            log.exception("supervisor_handler_failed", message=type(message).__name__)
            self._reply_error(message, exc)

    def _reply_error(self, message: Any, exc: BaseException) -> None:
        reply = getattr(message, "reply", None)
        if reply is not None and not reply.done():
            reply.set_exception(_as_project_error(exc))

    def _record(self, kind: str, account_id: str | None = None, **data: Any) -> None:
        """Write an event; a failing audit log must not stop an operation or a restart."""
        try:
            self._store.record_event(kind, account_id, **data)
        except StorageError:
            log.exception("event_write_failed", kind=kind, account=account_id)

    # --- operator requests ------------------------------------------------------------------

    def _on_status(self, message: Status) -> None:
        if message.account_id is None:
            entries = sorted(self._entries.values(), key=lambda e: e.account_id)
        elif message.account_id in self._entries:
            entries = [self._entries[message.account_id]]
        else:
            raise not_found(message.account_id)
        message.reply.set_result({"accounts": [entry.status() for entry in entries]})

    def _on_add(self, request: Add) -> None:
        self._refuse_while_shutting_down()
        cookie = Cookie.parse(request.cookie)
        record = self._store.add_account(
            request.account_id,
            cookie.serialize(),
            cookie.unb,
            enabled=request.enabled,
            remark=request.remark,
        )
        entry = self._new_entry(record.account_id, record.user_id, enabled=record.enabled)
        self._entries[record.account_id] = entry
        self._record(
            "added", record.account_id, fingerprint=cookie.fingerprint, enabled=record.enabled
        )
        log.info("account_added", account=record.account_id, unb=cookie.unb, enabled=record.enabled)
        if entry.enabled:
            self._start_child(entry, entry.current)
        request.reply.set_result({"outcome": "added", "account": record.account_id})

    def _on_request(self, request: Request) -> None:
        self._refuse_while_shutting_down()
        entry = self._entries.get(request.account_id)
        if entry is None:
            raise not_found(request.account_id)
        if isinstance(request, Update):
            self._validate_cookie(entry, request)
            if not request.wait:
                request.reply.set_result(_accepted_update())
        if isinstance(request, Restart) and not request.wait:
            request.reply.set_result({"outcome": "accepted", "stop_ms": None})
        entry.queue.append(request)
        self._pump(entry)

    def _validate_cookie(self, entry: AccountEntry, request: Update) -> None:
        cookie = Cookie.parse(request.cookie)
        if cookie.unb != entry.user_id and not request.force:
            raise ConflictError(
                f"this cookie belongs to seller {cookie.unb}, but account {entry.account_id!r} "
                f"is seller {entry.user_id}; check you picked the right account, or pass "
                "--force (force: true) to use it anyway"
            )

    def _pump(self, entry: AccountEntry) -> None:
        """Begin queued operations on ``entry`` until one stays in flight."""
        while entry.flow is None and entry.queue and self._entries.get(entry.account_id) is entry:
            request = entry.queue.popleft()
            try:
                self._refresh_current(entry)
                flow = self._flow_for(entry, request)
            except Exception as exc:
                self._fail_request(request, exc)
                continue
            if flow is None:
                continue
            entry.flow, entry.request, entry.flow_id = flow, request, next(self._flow_ids)
            self._run(entry, flow.begin(entry.condition(), now=self._clock()))

    def _flow_for(self, entry: AccountEntry, request: Request) -> m.Flow | None:
        """A flow for ``request``, or None when it was answered at once."""
        builders: dict[type, Callable[[AccountEntry, Any], m.Flow | None]] = {
            Update: self._update_flow,
            Rollback: self._rollback_flow,
            Restart: self._restart_flow,
            Kill: self._kill_flow,
            Disable: self._disable_flow,
            Remove: self._remove_flow,
            Enable: self._enable,
            FreezeChild: self._freeze,
        }
        return builders[type(request)](entry, request)

    def _restart_flow(self, entry: AccountEntry, _request: Restart) -> m.Flow:
        if not entry.enabled:
            raise ConflictError(
                f"account {entry.account_id!r} is disabled; "
                f"run 'ctl enable {entry.account_id}' to start it"
            )
        self._operator_acted(entry)
        return self._stop_flow(entry, m.StopThen.RESTART)

    def _kill_flow(self, entry: AccountEntry, _request: Kill) -> m.Flow:
        self._operator_acted(entry)
        return m.KillFlow(current=entry.current, restart=entry.enabled)

    def _disable_flow(self, entry: AccountEntry, _request: Disable) -> m.Flow:
        self._set_enabled(entry, enabled=False)
        return self._stop_flow(entry, m.StopThen.DISABLE)

    def _remove_flow(self, entry: AccountEntry, _request: Remove) -> m.Flow:
        entry.cancel_pending_restart()
        return self._stop_flow(entry, m.StopThen.REMOVE)

    def _update_flow(self, entry: AccountEntry, request: Update) -> m.Flow | None:
        cookie = Cookie.parse(request.cookie)
        value = cookie.serialize()
        previous = entry.current
        if value == previous.cookie and not (request.save and entry.unsaved):
            self._answer(entry, request, "update_unchanged", _update_result("unchanged", previous))
            return None
        if value == previous.cookie or not entry.enabled:
            # nothing to try out: persist it as the cookie the next generation starts with
            candidate = self._store_now(entry, value, cookie.fingerprint, save=request.save)
            outcome = "applied" if entry.enabled else "stored"
            result = _update_result(outcome, candidate, previous=previous)
            self._answer(entry, request, f"update_{outcome}", result)
            return None
        self._operator_acted(entry)
        version = None
        if request.save:
            version = self._store.propose_cookie(entry.account_id, value, source=SOURCE_ADMIN)
        candidate = m.Candidate(value, version.number if version else None, cookie.fingerprint)
        return self._apply_flow(entry, "update", candidate)

    def _rollback_flow(self, entry: AccountEntry, request: Rollback) -> m.Flow | None:
        target = version_candidate(
            self._store.rollback_target(entry.account_id, request.to_version)
        )
        if not entry.enabled:
            self._commit(entry, target, operation="rollback")
            result = _update_result("stored", target, previous=entry.current)
            self._answer(entry, request, "rollback_stored", result)
            return None
        self._operator_acted(entry)
        return self._apply_flow(entry, "rollback", target)

    def _apply_flow(self, entry: AccountEntry, operation: str, candidate: m.Candidate) -> m.Flow:
        log.info(
            f"{operation}_started",
            account=entry.account_id,
            version=candidate.version,
            fingerprint=candidate.fingerprint,
        )
        return m.ApplyFlow(
            operation=operation,
            candidate=candidate,
            previous=entry.current,
            probation_s=self._timings.probation_s,
            stop_timeout_s=self._timings.stop_timeout_s,
            swap_grace_s=self._timings.stop_timeout_s,
        )

    def _stop_flow(self, entry: AccountEntry, then: m.StopThen) -> m.Flow:
        timeout = self._timings.stop_timeout_s
        return m.StopFlow(then=then, current=entry.current, stop_timeout_s=timeout)

    def _store_now(
        self, entry: AccountEntry, value: str, fingerprint: str, *, save: bool
    ) -> m.Candidate:
        """Make ``value`` the account's cookie without a live try-out (disabled account)."""
        if not save:
            candidate = m.Candidate(value, None, fingerprint)
        else:
            proposed = self._store.propose_cookie(entry.account_id, value, source=SOURCE_ADMIN)
            candidate = version_candidate(proposed)
        self._commit(entry, candidate, operation="update")
        return candidate

    def _enable(self, entry: AccountEntry, request: Enable) -> None:
        """Answered at once: nothing to wait for, a fresh generation starts."""
        self._set_enabled(entry, enabled=True)
        self._operator_acted(entry)
        if entry.child is None:
            self._start_child(entry, entry.current)
        self._answer(entry, request, "enabled", {"outcome": "enabled"})

    def _freeze(self, entry: AccountEntry, request: FreezeChild) -> None:
        """Answered at once: the child is told, nobody waits for it to thaw."""
        if entry.child is None:
            raise ConflictError(f"account {entry.account_id!r} has no running generation to freeze")
        entry.child.ref.tell(Freeze(request.seconds))
        request.reply.set_result({"outcome": "frozen", "generation": entry.child.generation})

    def _set_enabled(self, entry: AccountEntry, *, enabled: bool) -> None:
        self._store.update_account(entry.account_id, enabled=enabled)
        entry.enabled = enabled
        if not enabled:
            entry.cancel_pending_restart()

    def _operator_acted(self, entry: AccountEntry) -> None:
        """An operator took the account in hand: lift ``failed`` and forget earlier crashes."""
        entry.failed = None
        entry.policy.reset()
        entry.cancel_pending_restart()

    # --- carrying out effects ---------------------------------------------------------------

    def _run(self, entry: AccountEntry, effects: list[m.Effect]) -> None:
        flow = entry.flow
        effect: m.Effect | None = None
        try:
            for effect in effects:
                self._carry_out(entry, effect)
        except Exception as exc:  # a failed step ends the operation, not the supervisor
            log.exception("operation_step_failed", account=entry.account_id)
            request = entry.request
            self._end_flow(entry)
            if isinstance(effect, m.Commit) and entry.enabled:
                self._back_to_stored_cookie(entry)
            if request is not None:
                self._fail_request(request, exc)
        else:
            if flow is not None and flow.done:
                self._end_flow(entry)
        self._pump(entry)

    def _back_to_stored_cookie(self, entry: AccountEntry) -> None:
        """The new cookie passed probation but could not be made active (database down):
        the child runs a cookie the store does not know as active, so restart it on the one
        it does, keeping memory, store and child in agreement."""
        log.warning("commit_failed_restarting_on_previous", account=entry.account_id)
        try:
            self._start_child(entry, entry.current)
        except Exception:  # survival boundary: the crash policy takes it from here
            log.exception("restart_after_failed_commit_failed", account=entry.account_id)

    def _carry_out(self, entry: AccountEntry, effect: m.Effect) -> None:
        if isinstance(effect, m.TellSwap):
            self._tell_swap(entry, effect)
        elif isinstance(effect, m.StopChild):
            self._stop_child(entry)
        elif isinstance(effect, m.KillChild):
            self._kill_child(entry, effect.reason)
        elif isinstance(effect, m.StartChild):
            self._start_child(entry, effect.candidate)
        elif isinstance(effect, m.ArmDeadline):
            self._arm_deadline(entry, effect)
        elif isinstance(effect, m.Commit):
            self._commit(entry, effect.candidate, operation=_operation(entry))
        elif isinstance(effect, m.Reject):
            self._reject(entry, effect)
        elif isinstance(effect, m.DeleteAccount):
            self._delete(entry)
        elif isinstance(effect, m.Finish) and entry.request is not None:
            self._answer(entry, entry.request, effect.event, dict(effect.result))

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

    def _kill_child(self, entry: AccountEntry, reason: str) -> None:
        child = entry.retire_child()
        if child is None:
            return
        if reason != "operator kill":  # a stop cut off at its deadline: counted like a crash
            entry.crashes += 1
        child.fence.trip()  # cuts its sockets; the generation never sends, ACKs or writes again
        child.ref.stop(block=False)
        generation = child.generation
        self._record("killed", entry.account_id, generation=generation, reason=reason)
        log.info("child_killed", account=entry.account_id, generation=generation, reason=reason)

    def _start_child(self, entry: AccountEntry, candidate: m.Candidate) -> None:
        if candidate is entry.current:
            self._refresh_current(entry)
            candidate = entry.current
        old = entry.retire_child()
        if old is not None:  # never two live generations: fence the one being replaced
            old.fence.trip()
            old.ref.stop(block=False)
        entry.cancel_pending_restart()
        if entry.generations:
            entry.restarts += 1
        entry.generations += 1
        generation = entry.generations
        spec = AccountSpec(
            account_id=entry.account_id,
            user_id=entry.user_id,
            cookie=candidate.cookie,
            cookie_version=candidate.version,
            generation=generation,
        )
        fence = Fence()
        cell = StatusCell(AccountStatus(entry.account_id, generation, ChildState.CONNECTING))
        try:
            ref: ChildRef = self._factory(spec, fence=fence, status=cell, notify=self._notify)
        except Exception as exc:  # a constructor that raises is a crash like any other
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

    def _commit(self, entry: AccountEntry, candidate: m.Candidate, *, operation: str) -> None:
        if candidate.version is not None:
            demote_to = ROLLED_BACK if operation == "rollback" else SUPERSEDED
            active = self._store.activate_version(
                entry.account_id, candidate.version, demote_to=demote_to
            )
            # the child may have merged Set-Cookie into the pending row meanwhile: keep that
            candidate = version_candidate(active)
        entry.current = candidate
        entry.unsaved = candidate.version is None

    def _refresh_current(self, entry: AccountEntry) -> None:
        """Follow token refreshes: a child's Set-Cookie merge makes a new active version."""
        if entry.unsaved:
            return
        active = self._store.active_cookie(entry.account_id)
        if active is not None:
            entry.current = version_candidate(active)

    def _reject(self, entry: AccountEntry, effect: m.Reject) -> None:
        # a rollback target stays as it was: it served before and may again
        if effect.candidate.version is not None and _operation(entry) == "update":
            self._store.fail_version(entry.account_id, effect.candidate.version, effect.reason)

    def _delete(self, entry: AccountEntry) -> None:
        self._store.remove_account(entry.account_id)
        del self._entries[entry.account_id]
        for request in entry.queue:
            self._fail_request(request, not_found(entry.account_id))
        entry.queue.clear()

    def _answer(
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
                with contextlib.suppress(NotFoundError):
                    stored = self._store.get_version(entry.account_id, subject.version)
                    fingerprint = stored.fingerprint
            self._record(event, entry.account_id, fingerprint=fingerprint, **result)
            # a rollback is something an operator should see
            level = log.warning if result.get("outcome") == "rolled_back" else log.info
            level(event, account=entry.account_id, **result)
        if not request.reply.done():
            request.reply.set_result(result)

    def _end_flow(self, entry: AccountEntry) -> None:
        if entry.cancel_deadline is not None:
            entry.cancel_deadline()
        entry.flow = entry.request = entry.cancel_deadline = None

    def _fail_request(self, request: Request, exc: BaseException) -> None:
        if not request.reply.done():
            request.reply.set_exception(_as_project_error(exc))
            return
        # the caller was told "accepted" and went away: the failure must land in the events
        operation = type(request).__name__.lower()
        log.warning(
            "operation_failed", account=request.account_id, operation=operation, error=str(exc)
        )
        self._record("operation_failed", request.account_id, operation=operation, error=str(exc))

    # --- events into flows -------------------------------------------------------------------

    def _feed(self, entry: AccountEntry, event: m.Event) -> None:
        if entry.flow is not None:
            self._run(entry, entry.flow.handle(event, now=self._clock()))

    def _on_flow_deadline(self, message: FlowDeadline) -> None:
        entry = self._entries.get(message.account_id)
        if entry is None or entry.flow_id != message.flow_id or entry.deadline_seq != message.seq:
            return  # the flow moved on; this deadline is stale
        entry.cancel_deadline = None
        self._feed(entry, m.DeadlinePassed(message.kind))

    # --- child notices (generation-checked) --------------------------------------------------

    def _current(self, account_id: str, generation: int) -> tuple[AccountEntry, Child] | None:
        entry = self._entries.get(account_id)
        if entry is None or entry.child is None or entry.child.generation != generation:
            log.debug("stale_child_notice", account=account_id, generation=generation)
            return None
        return entry, entry.child

    def _on_child_state(self, message: ChildStateChanged) -> None:
        found = self._current(message.account_id, message.generation)
        if found is None:
            return
        entry, child = found
        if message.error:
            entry.last_error = message.error
        if message.state is ChildState.ONLINE:
            child.was_online = True
            if entry.flow is None:
                self._refresh_current(entry)
            self._feed(entry, m.Online())
        elif message.state is ChildState.NEEDS_COOKIE:
            reason = message.error or "the login session expired; update the cookie"
            if entry.flow is None:
                # the child wrote the `needs_cookie` event itself (with its reason)
                log.info("account_needs_cookie", account=entry.account_id, error=reason)
            self._feed(entry, m.LoginRejected(reason))

    def _on_swap_finished(self, message: SwapFinished) -> None:
        found = self._current(message.account_id, message.generation)
        if found is None or found[0].flow_id != message.op_id:
            return
        swap_ms = None if message.swap_ms is None else round(message.swap_ms, 1)
        self._feed(found[0], m.SwapDone(message.ok, message.reason, swap_ms))

    def _on_child_stopped(self, message: ChildStopped) -> None:
        found = self._current(message.account_id, message.generation)
        if found is not None:
            self._child_gone(found[0], found[1], error=None)

    def _on_child_crashed(self, message: ChildCrashed) -> None:
        found = self._current(message.account_id, message.generation)
        if found is not None:
            self._child_gone(found[0], found[1], error=message.error)

    def _child_gone(self, entry: AccountEntry, child: Child, *, error: str | None) -> None:
        """The current generation is dead: stopped when asked, else crashed."""
        entry.retire_child()
        if self._shutdown is not None:
            self._shutdown_progress(entry.account_id)
            return
        if error is None and not child.stopping:
            error = "stopped without being asked"
        if entry.flow is not None:
            self._feed(entry, m.Stopped() if error is None else m.ChildDied(error))
        elif error is not None:
            self._crashed(entry, child.generation, error)

    def _crashed(self, entry: AccountEntry, generation: int, error: str) -> None:
        """One-for-one restart with back-off, or ``failed`` past the intensity limit."""
        entry.last_error = error
        entry.crashes += 1
        self._record("crashed", entry.account_id, generation=generation, error=error)
        log.warning("child_crashed", account=entry.account_id, generation=generation, error=error)
        if not entry.enabled:
            return
        decision = entry.policy.on_crash(now=self._clock(), rand=self._rand())
        if isinstance(decision, GiveUp):
            entry.failed = decision.reason
            self._record("failed", entry.account_id, reason=decision.reason, error=error)
            log.warning("account_failed", account=entry.account_id, reason=decision.reason)
            return
        entry.cancel_pending_restart()
        due = RestartDue(entry.account_id, entry.restart_token)
        entry.cancel_restart = self._io.call_later(decision.delay_s, self._tell_self, due)
        log.info(
            "restart_scheduled",
            account=entry.account_id,
            delay_s=round(decision.delay_s, 3),
            attempt=decision.attempt,
        )

    def _on_restart_due(self, message: RestartDue) -> None:
        entry = self._entries.get(message.account_id)
        if entry is None or entry.restart_token != message.token:
            return
        entry.cancel_restart = None
        if entry.enabled and entry.failed is None and entry.child is None and entry.flow is None:
            self._start_child(entry, entry.current)
            log.info("child_restarted", account=entry.account_id, generation=entry.generations)

    def _on_start_due(self, message: StartDue) -> None:
        entry = self._entries.get(message.account_id)
        if entry is None or self._shutdown is not None:
            return
        if entry.enabled and entry.child is None and entry.flow is None and not entry.generations:
            self._start_child(entry, entry.current)

    # --- generations that die without a word ---------------------------------------------

    def _arm_sweep(self) -> None:
        interval = max(0.05, min(1.0, self._timings.stop_timeout_s / 2))
        self._cancel_sweep = self._io.call_later(interval, self._tell_self, Sweep())

    def _save_totals(self) -> None:
        """Add what each account counted since the last save to its stored lifetime totals."""
        for entry in self._entries.values():
            delta = entry.unsaved_totals()
            if not delta:
                continue
            try:
                self._store.add_totals(entry.account_id, delta)
            except StorageError as exc:  # counters are not worth failing anything: next time
                log.warning("totals_not_saved", account=entry.account_id, error=str(exc))
                continue
            entry.saved = entry.saved + delta

    def _on_sweep(self, _message: Sweep) -> None:
        self._sweeps += 1
        if self._sweeps % TOTALS_EVERY_SWEEPS == 0:
            self._save_totals()
        for entry in self._entries.values():
            if entry.child is not None and not entry.child.ref.is_alive():
                # behind any ChildStopped/ChildCrashed it already queued, so those win
                self._tell_self(Reap(entry.account_id, entry.child.generation))
        if self._shutdown is None:
            self._arm_sweep()

    def _on_child_already_gone(self, message: ChildAlreadyGone) -> None:
        entry = self._entries.get(message.account_id)
        if entry is not None and entry.flow_id == message.flow_id and entry.child is None:
            self._feed(entry, m.Stopped())

    def _on_reap(self, message: Reap) -> None:
        entry = self._entries.get(message.account_id)
        if entry is None:
            return
        found = self._current(message.account_id, message.generation)
        if found is not None and not found[1].ref.is_alive():
            error = None if found[1].stopping else "exited without notice"
            self._child_gone(entry, found[1], error=error)

    # --- shutdown ----------------------------------------------------------------------------

    def _refuse_while_shutting_down(self) -> None:
        if self._shutdown is not None:
            raise XianyuSupervisorError(
                "the supervisor is shutting down; try again once the service is back"
            )

    def _on_shutdown(self, message: Shutdown) -> None:
        if self._shutdown is not None:
            message.reply.set_exception(XianyuSupervisorError("shutdown already in progress"))
            return
        self._shutdown = message
        self._shutdown_started = self._clock()
        if self._cancel_sweep is not None:
            self._cancel_sweep()
        interrupted = XianyuSupervisorError(
            "the supervisor shut down before the operation finished"
        )
        for entry in self._entries.values():
            entry.cancel_pending_restart()
            for request in [entry.request, *entry.queue]:
                if request is not None:
                    self._fail_request(request, interrupted)
            self._end_flow(entry)
            entry.queue.clear()
            if entry.child is not None:
                entry.child.stopping = True
                entry.child.ref.stop(block=False)
                self._shutdown_waiting.add(entry.account_id)
        log.info("supervisor_stopping", children=len(self._shutdown_waiting))
        if self._shutdown_waiting:
            self._io.call_later(message.timeout_s, self._tell_self, ShutdownDeadline())
            self._tell_self(Sweep())  # children already dead are reaped at once
        else:
            self._finish_shutdown(killed=0)

    def _shutdown_progress(self, account_id: str) -> None:
        self._shutdown_waiting.discard(account_id)
        if not self._shutdown_waiting and self._shutdown is not None:
            self._finish_shutdown(killed=0)

    def _on_shutdown_deadline(self, _message: ShutdownDeadline) -> None:
        if self._shutdown is None or self._shutdown.reply.done():
            return
        killed = 0
        for account_id in sorted(self._shutdown_waiting):
            entry = self._entries[account_id]
            if entry.child is not None:
                self._kill_child(entry, "did not stop within the shutdown deadline")
                killed += 1
        self._shutdown_waiting.clear()
        self._finish_shutdown(killed=killed)

    def _finish_shutdown(self, *, killed: int) -> None:
        assert self._shutdown is not None
        if self._shutdown.reply.done():
            return
        stop_ms = round((self._clock() - self._shutdown_started) * 1000.0, 1)
        self._save_totals()
        log.info("supervisor_stopped", killed=killed, stop_ms=stop_ms)
        result = {"outcome": "stopped", "killed": killed, "stop_ms": stop_ms}
        self._shutdown.reply.set_result(result)
        self.stop()

    # --- helpers -----------------------------------------------------------------------------

    def _new_entry(self, account_id: str, user_id: str, *, enabled: bool) -> AccountEntry:
        active = self._store.active_cookie(account_id)
        if active is None:
            raise not_found(account_id)
        policy = RestartPolicy(
            self._timings.restart_backoff,
            intensity=self._timings.restart_intensity,
            window_s=self._timings.restart_window_s,
        )
        entry = AccountEntry(account_id, user_id, enabled, version_candidate(active), policy)
        entry.stored = self._store.totals(account_id)
        return entry

    def _tell_self(self, message: object) -> None:
        with contextlib.suppress(pykka.ActorDeadError):  # a timer firing after the stop
            self.actor_ref.tell(message)

    def _notify(self, message: object) -> None:
        """What children call to report upward; never raises into a child."""
        self._tell_self(message)


def _operation(entry: AccountEntry) -> str:
    flow = entry.flow
    return flow.operation if isinstance(flow, m.ApplyFlow) else "update"


def _update_result(
    outcome: str, candidate: m.Candidate, *, previous: m.Candidate | None = None
) -> dict[str, Any]:
    return {
        "outcome": outcome,
        "version": candidate.version,
        "previous_version": previous.version if previous is not None else None,
        "reason": None,
        "swap_ms": None,
    }


def _accepted_update() -> dict[str, Any]:
    keys = ("version", "previous_version", "reason", "swap_ms")
    return {"outcome": "accepted", **dict.fromkeys(keys)}


def _as_project_error(exc: BaseException) -> BaseException:
    if isinstance(exc, XianyuSupervisorError | ValueError):
        return exc
    return XianyuSupervisorError(f"the supervisor failed: {type(exc).__name__}: {exc}")
