"""The supervisor actor: one account actor per account, kept alive, updated, restarted, killed.

A thin shell: it routes operator requests, child notices and its own timer messages, and is
the survival boundary (one bad message or one failed step never stops supervision). What to
do is decided by pure code (``supervisor.preflow`` before a flow, the flows of
``supervisor.machine``, ``supervisor.shutdown``); ``supervisor.effects`` carries it out.
Its handlers never wait on a child: a stop is ``ref.stop(block=False)`` plus a deadline
message to itself; a stuck child is cut off through its ``Fence``. Operations on one account
are queued behind each other; different accounts never wait on each other.
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

from actors.budget import LoginBudget
from actors.messages import ChildCrashed, ChildState, ChildStateChanged, ChildStopped, SwapFinished
from common.errors import XianyuSupervisorError
from common.io_loop import IoLoop
from common.settings import Settings
from storage import Store
from supervisor import machine as m
from supervisor import shutdown as sd
from supervisor.book import AccountBook, not_found
from supervisor.children import ChildFactory
from supervisor.crashes import CrashRestarts
from supervisor.effects import Effects
from supervisor.entry import AccountEntry, Child
from supervisor.leases import ClusterHooks, LeaseSide
from supervisor.outcomes import as_project_error
from supervisor.preflow import accepted_answer, check_seller
from supervisor.renewals import Renewals
from supervisor.requests import (
    Add,
    Adopt,
    ChildAlreadyGone,
    FlowDeadline,
    LeaseLost,
    Observe,
    Ping,
    Reap,
    RenewalAnswered,
    RenewalDue,
    Request,
    Restart,
    RestartDue,
    SetProxy,
    Shutdown,
    ShutdownDeadline,
    StartDue,
    Status,
    Sweep,
    Update,
)
from supervisor.shutdown_effects import ShutdownEffects

log = structlog.get_logger(__name__)

# lifetime counters are stored every this many sweeps (a sweep runs every 0.05-1 s)
TOTALS_EVERY_SWEEPS = 30


class SupervisorActor(pykka.ThreadingActor):
    """Owns ``account id -> AccountEntry`` and every child generation's life."""

    def __init__(
        self,
        *,
        store: Store,
        io: IoLoop,
        settings: Settings,
        child_factory: ChildFactory,
        passport: Any = None,  # a goofish PassportClient: renew login sessions (None: never)
        login_budget: LoginBudget | None = None,  # automatic renewals count and wait on it
        cluster: ClusterHooks | None = None,  # a cluster node: accounts come and go by lease
        clock: Callable[[], float] = time.monotonic,
        rand: Callable[[], float] = random.random,
    ) -> None:
        super().__init__()
        self._book = AccountBook(store)
        self._io = io
        self._timings = settings.timings
        self._clock = clock
        self._rand = rand
        self._entries: dict[str, AccountEntry] = {}
        self._renewals = Renewals(
            passport,
            io=io,
            timings=self._timings,
            book=self._book,
            tell_self=self._tell_self,
            budget=login_budget,
        )
        self._effects = Effects(
            book=self._book,
            entries=self._entries,
            factory=child_factory,
            io=io,
            timings=self._timings,
            tell_self=self._tell_self,
            renewals=self._renewals,
            fence_for=None if cluster is None else cluster.fence_for,
            on_added=None if cluster is None else cluster.on_added,
        )
        self._cluster = cluster is not None
        self._leases = LeaseSide(
            book=self._book,
            effects=self._effects,
            entries=self._entries,
            renewals=self._renewals,
            start_later=lambda account_id, delay_s: io.call_later(
                delay_s, self._tell_self, StartDue(account_id)
            ),
        )
        self._stopping = ShutdownEffects(self._effects, self._entries, io, self._tell_self)
        self._crashes = CrashRestarts(
            self._book, self._effects, io, self._tell_self, clock=clock, rand=rand
        )
        self._flow_ids = itertools.count(1)
        self._cancel_sweep: Callable[[], None] | None = None
        self._sweeps = 0
        self._handlers: dict[type, Callable[[Any], None]] = {
            Ping: lambda _message: None,
            Status: self._on_status,
            Observe: self._on_status,
            SetProxy: self._on_set_proxy,
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
            RenewalDue: self._on_renewal,
            RenewalAnswered: self._on_renewal,
            Adopt: self._leases.adopt,
            LeaseLost: self._leases.lost,
        }

    # --- pykka hooks ------------------------------------------------------------------------

    def on_start(self) -> None:
        threading.current_thread().name = "supervisor"
        if self._cluster:  # no boot: the lease keeper hands accounts in (docs/cluster.md)
            self._arm_sweep()
            log.info("supervisor_started", cluster=True)
            return
        self._book.fail_interrupted()
        records = self._book.accounts()
        for record in records:
            self._entries[record.account_id] = entry = self._effects.new_entry(record)
            self._renewals.track(entry)
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
        self._stopping.abandon()

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
        except Exception as exc:  # noqa: BLE001 (survival boundary: one bad message must not stop supervision)
            log.exception("supervisor_handler_failed", message=type(message).__name__)
            self._reply_error(message, exc)

    def _reply_error(self, message: Any, exc: BaseException) -> None:
        reply = getattr(message, "reply", None)
        if reply is not None and not reply.done():
            reply.set_exception(as_project_error(exc))

    # --- operator requests ------------------------------------------------------------------

    def _on_status(self, message: Status | Observe) -> None:
        """Status rows (``Observe``: the metrics' rows), of every account or of one."""
        account_id = message.account_id if isinstance(message, Status) else None
        if account_id is not None and account_id not in self._entries:
            raise not_found(account_id)
        entries = [self._entries[account_id]] if account_id is not None else self._sorted()
        row = AccountEntry.status if isinstance(message, Status) else AccountEntry.metrics_row
        message.reply.set_result({"accounts": [row(entry) for entry in entries]})

    def _sorted(self) -> list[AccountEntry]:
        return sorted(self._entries.values(), key=lambda e: e.account_id)

    def _on_set_proxy(self, request: SetProxy) -> None:
        entry = self._entries.get(request.account_id)
        if entry is None:
            raise not_found(request.account_id)
        if self._effects.set_proxy(entry, request):
            # the live sessions use the old route: a fresh generation takes the new one
            self._on_request(Restart(entry.account_id, wait=False))

    def _on_add(self, request: Add) -> None:
        self._refuse_while_shutting_down()
        self._effects.add(request)

    def _on_request(self, request: Request) -> None:
        self._refuse_while_shutting_down()
        entry = self._entries.get(request.account_id)
        if entry is None:
            raise not_found(request.account_id)
        if isinstance(request, Update):
            check_seller(request, entry.view(), self._book.seller_accounts)
        if (accepted := accepted_answer(request)) is not None:
            request.reply.set_result(accepted)  # wait=False: answered once it is queued
        entry.queue.append(request)
        self._pump(entry)

    def _pump(self, entry: AccountEntry) -> None:
        """Begin queued operations on ``entry`` until one stays in flight."""
        while entry.flow is None and entry.queue and self._entries.get(entry.account_id) is entry:
            request = entry.queue.popleft()
            try:
                flow = self._effects.prepare(entry, request)
            except XianyuSupervisorError as exc:  # refused, or the store failed: the caller hears
                self._effects.fail_request(request, exc)
                continue
            except Exception as exc:  # noqa: BLE001 (survival boundary: the requests queued behind it still run)
                log.exception("operation_prepare_failed", account=entry.account_id)
                self._effects.fail_request(request, exc)
                continue
            if flow is None:
                continue
            entry.flow, entry.request, entry.flow_id = flow, request, next(self._flow_ids)
            self._run(entry, flow.begin(entry.condition(), now=self._clock()))

    def _run(self, entry: AccountEntry, effects: list[m.Effect]) -> None:
        flow = entry.flow
        effect: m.Effect | None = None
        try:
            for effect in effects:
                self._effects.carry_out(entry, effect)
        except Exception as exc:  # noqa: BLE001 (survival boundary: a failed step ends the operation, not the supervisor)
            log.exception("operation_step_failed", account=entry.account_id)
            request = entry.request
            self._effects.end_flow(entry)
            if isinstance(effect, m.Commit) and entry.enabled:
                self._back_to_stored_cookie(entry)
            if request is not None:
                self._effects.fail_request(request, exc)
        else:
            if flow is not None and flow.done:
                self._effects.end_flow(entry)
                self._enqueue(entry, self._renewals.after_flow(entry))
        self._pump(entry)

    def _enqueue(self, entry: AccountEntry, request: Request | None) -> None:
        if request is not None and not self._stopping.in_progress:  # a renewal it decided on itself
            entry.queue.append(request)
            self._pump(entry)

    def _back_to_stored_cookie(self, entry: AccountEntry) -> None:
        """The new cookie passed probation but could not be made active (database down):
        the child runs a cookie the store does not know as active, so restart it on the one
        it does, keeping memory, store and child in agreement."""
        log.warning("commit_failed_restarting_on_previous", account=entry.account_id)
        try:
            self._effects.start_child(entry, entry.current, cause="commit_failed")
        except Exception:  # noqa: BLE001 (survival boundary: the crash policy takes it from here)
            log.exception("restart_after_failed_commit_failed", account=entry.account_id)

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
            self._renewals.online(entry)
            if entry.flow is None:
                self._effects.refresh_current(entry)
            self._feed(entry, m.Online())
        elif message.state is ChildState.NEEDS_COOKIE:
            reason = message.error or "the login session expired; update the cookie"
            if entry.flow is None:
                # renew the session first; ``needs_cookie`` is recorded if that cannot help
                self._enqueue(entry, self._renewals.session_expired(entry, reason))
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
        if self._stopping.in_progress:
            self._feed_shutdown(sd.ChildGone(entry.account_id))
            return
        if error is None and not child.stopping:
            error = "stopped without being asked"
        if entry.flow is not None:
            self._feed(entry, m.Stopped() if error is None else m.ChildDied(error))
        elif error is not None:
            self._crashes.crashed(entry, child.generation, error)

    def _on_restart_due(self, message: RestartDue) -> None:
        if (entry := self._entries.get(message.account_id)) is not None:
            self._crashes.restart_due(entry, message)

    def _on_start_due(self, message: StartDue) -> None:
        entry = self._entries.get(message.account_id)
        if entry is None or self._stopping.in_progress:
            return
        if entry.enabled and entry.child is None and entry.flow is None and not entry.generations:
            self._effects.start_child(entry, entry.current)

    def _on_renewal(self, message: RenewalDue | RenewalAnswered) -> None:
        """A renewal timer fired, or the passport answered (supervisor.renewals decides)."""
        if (entry := self._entries.get(message.account_id)) is None:
            return
        if isinstance(message, RenewalDue):
            self._enqueue(entry, self._renewals.due(entry, message))
        else:
            self._run(entry, self._renewals.answered(entry, message, now=self._clock()))

    # --- generations that die without a word ---------------------------------------------

    def _arm_sweep(self) -> None:
        interval = max(0.05, min(1.0, self._timings.stop_timeout_s / 2))
        self._cancel_sweep = self._io.call_later(interval, self._tell_self, Sweep())

    def _on_sweep(self, _message: Sweep) -> None:
        self._sweeps += 1
        if self._sweeps % TOTALS_EVERY_SWEEPS == 0:
            self._effects.save_totals()
        for entry in self._entries.values():
            if entry.child is not None and not entry.child.ref.is_alive():
                # behind any ChildStopped/ChildCrashed it already queued, so those win
                self._tell_self(Reap(entry.account_id, entry.child.generation))
        if not self._stopping.in_progress:
            self._arm_sweep()

    def _on_child_already_gone(self, message: ChildAlreadyGone) -> None:
        entry = self._entries.get(message.account_id)
        if entry is not None and entry.flow_id == message.flow_id and entry.child is None:
            self._feed(entry, m.Stopped())

    def _on_reap(self, message: Reap) -> None:
        found = self._current(message.account_id, message.generation)
        if found is not None and not found[1].ref.is_alive():
            error = None if found[1].stopping else "exited without notice"
            self._child_gone(found[0], found[1], error=error)

    # --- shutdown (supervisor.shutdown decides) ----------------------------------------------

    def _refuse_while_shutting_down(self) -> None:
        if self._stopping.in_progress:
            raise XianyuSupervisorError(
                "the supervisor is shutting down; try again once the service is back"
            )

    def _on_shutdown(self, message: Shutdown) -> None:
        if self._stopping.in_progress:
            message.reply.set_exception(XianyuSupervisorError("shutdown already in progress"))
            return
        if self._cancel_sweep is not None:
            self._cancel_sweep()
        if self._stopping.begin(message, now=self._clock()):
            self.stop()

    def _on_shutdown_deadline(self, _message: ShutdownDeadline) -> None:
        self._feed_shutdown(m.DeadlinePassed(m.DeadlineKind.STOP))

    def _feed_shutdown(self, event: sd.ShutdownEvent) -> None:
        if self._stopping.feed(event, now=self._clock()):
            self.stop()

    # --- helpers -----------------------------------------------------------------------------

    def _tell_self(self, message: object) -> None:
        """Also what children call to report upward; never raises into a child."""
        with contextlib.suppress(pykka.ActorDeadError):  # a timer firing after the stop
            self.actor_ref.tell(message)
