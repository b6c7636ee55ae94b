"""The lease keeper: the accounts this node serves, renewed, balanced, fenced (docs/cluster.md).

One thread per node. Each round (every ``lease_renew_s``, sooner when woken by a
``NOTIFY xianyu_leases`` or by a local add) it:

1. renews every lease it holds; a lease that no longer matches is lost at once;
2. fences the accounts whose local deadline passed (the renewal kept failing): their
   generations are cut off before the lease can have expired on the database's clock;
3. heartbeats, then balances towards the fair share ``ceil(accounts / live nodes)``: hands
   the excess off (a graceful ``Release`` through the supervisor's queue, the lease released
   once the generation stopped) and claims free or expired leases (``SKIP LOCKED``);
4. writes the status snapshot of its accounts (what ``status`` shows on the other nodes).

The local deadline of a lease is ``t0 + ttl - margin`` where ``t0`` is read *before* the
renewal (or claim) statement is sent: it always falls before the database's expiry, whatever
the network delay. ``valid(account)`` (read by every send through the account's ``Fence``)
compares it with the monotonic clock, so a node paused past its lease (SIGSTOP) cannot send
when it wakes, even before this thread has run again.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import math
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import structlog

from cluster.identity import NodeIdentity
from cluster.ports import KeeperStore, ListenerView, NodeSupervisor
from common.errors import NodeIdInUseError, NotRunningError, StorageError
from common.settings import Timings
from storage.cluster import Lease

log = structlog.get_logger(__name__)

LEASE_CHANNEL = "xianyu_leases"
# after a failed renewal the next try comes this soon (a restarted database is usually back
# within a second or two, and the deadline is only ttl - margin away)
RETRY_AFTER_FAILURE_S = 1.0


class LeaseKeeper:
    """Holds this node's leases; ``register`` before the supervisor starts, then ``attach``
    and ``start``; ``stop`` after the supervisor shut down (releases every lease)."""

    def __init__(
        self,
        store: KeeperStore,
        node: NodeIdentity,
        timings: Timings,
        *,
        listener: Callable[[], ListenerView] | None = None,
        lease_store: KeeperStore | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``lease_store``: a Store on its own connection for the lease statements, so that a
        renewal never queues behind the replies' writes on the shared one (a node under load
        must still renew in time); default ``store``."""
        self._store = store
        self._leases_db = lease_store or store
        self._node = node
        self._ttl = timings.lease_ttl_s
        self._renew_s = timings.lease_renew_s
        self._margin = min(timings.lease_margin_s, self._ttl / 2)
        self._start_rate = max(timings.start_rate_per_s, 1e-3)
        self._per_round = max(1, int(timings.start_rate_per_s * timings.lease_renew_s))
        self._listener_factory = listener
        self._clock = clock
        self._lock = threading.Lock()
        self._held: dict[str, int] = {}  # account -> epoch
        self._deadline: dict[str, float] = {}  # account -> monotonic local deadline
        self._releasing: dict[str, concurrent.futures.Future[Any]] = {}
        self._supervisor: NodeSupervisor | None = None
        self._on_claimed: Callable[[], None] | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._db_down_since: float | None = None
        # when the next lease held elsewhere expires: a round then claims it at once (a dead
        # node's accounts move within the lease's time, not up to a renewal period later)
        self._next_expiry: float | None = None
        self._due = 0.0  # when the next round should start (for the "late" warning)
        self._rows_asked: concurrent.futures.Future[dict[str, Any]] | None = None

    @property
    def node_id(self) -> str:
        return self._node.node_id

    # --- start and stop -------------------------------------------------------------------

    def register(self) -> None:
        """Join the cluster under this node's id; ``NodeIdInUseError`` when a live node has it.

        A row left by a dead process of this host under the same id (a restart after a crash,
        within the lease time) is taken over: the id is ours, its pid is gone."""
        node = self._node
        register = functools.partial(
            self._leases_db.register_node,
            node.node_id,
            host=node.host,
            pid=node.pid,
            data_dir=node.data_dir,
            version=node.version,
            ttl_s=self._ttl,
        )
        try:
            register()
        except NodeIdInUseError as exc:
            if not node.is_dead_incarnation(exc.host, exc.pid):
                raise
            log.info("node_id_taken_over", node=node.node_id, previous_pid=exc.pid)
            register(replace=True)
        self._store.bind_node(node.node_id, self._lost_by_write)
        # the others rebalance now rather than at their next round: a fair share just shrank
        self._leases_db.notify(LEASE_CHANNEL, node.node_id)
        log.info("node_registered", node=node.node_id, host=node.host, pid=node.pid)

    def attach(
        self, supervisor: NodeSupervisor, *, on_claimed: Callable[[], None] | None = None
    ) -> None:
        """The supervisor that serves what this node holds; ``on_claimed``: called after a
        round claimed accounts (the operation runner looks for their pending commands)."""
        self._supervisor = supervisor
        self._on_claimed = on_claimed

    def start(self) -> LeaseKeeper:
        self._spawn(self._run, "lease-keeper")
        if self._listener_factory is not None:
            self._spawn(self._listen, "lease-listener")
        return self

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def pause(self) -> None:
        """Stop claiming and renewing (the service is stopping: the supervisor shuts down next)."""
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout=self._renew_s + 5.0)
        self._threads.clear()

    def stop(self) -> None:
        """Leave the cluster: release every lease (the others claim at once) and the node row."""
        self.pause()
        with self._lock:
            held, self._held = self._held, {}
            self._deadline.clear()
        try:
            for account_id, epoch in held.items():
                self._leases_db.release_lease(self.node_id, account_id, epoch)
                self._store.unhold(account_id)
            self._leases_db.deregister_node(self.node_id)
        except StorageError as exc:  # the leases expire on their own: nothing is stuck
            log.warning("node_leave_failed", node=self.node_id, error=str(exc))
        log.info("node_left", node=self.node_id, released=len(held))

    # --- what the rest of the node asks --------------------------------------------------------

    def valid(self, account_id: str) -> bool:
        """Is this node's lease on ``account_id`` still valid by the local deadline?"""
        return self._clock() < self._deadline.get(account_id, 0.0)

    def held(self) -> dict[str, int]:
        with self._lock:
            return dict(self._held)

    def wake(self, _account_id: str | None = None) -> None:
        """Run a round now (an account was added here; a lease was released somewhere)."""
        self._wake.set()

    # --- the loop ------------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            late = self._clock() - self._due if self._due else 0.0
            if late > 1.0:
                log.warning("lease_round_late", node=self.node_id, late_s=round(late, 2))
            try:
                ok = self.round()
            except Exception:  # noqa: BLE001 (survival boundary: the keeper must keep renewing)
                log.exception("lease_round_failed", node=self.node_id)
                ok = False
            wait = self._next_wait(ok)
            self._due = self._clock() + wait
            self._wake.wait(wait)
            self._wake.clear()

    def _next_wait(self, ok: bool) -> float:
        wait = self._renew_s if ok else min(RETRY_AFTER_FAILURE_S, self._renew_s)
        now = self._clock()
        with self._lock:
            if self._deadline:  # wake up to fence an account the moment its deadline passes
                wait = min(wait, max(0.0, min(self._deadline.values()) - now))
        if self._next_expiry is not None:
            wait = min(wait, max(0.0, self._next_expiry - now))
        return max(wait, 0.01)

    def _listen(self) -> None:
        assert self._listener_factory is not None
        listener = self._listener_factory()
        try:
            while not self._stop.is_set():
                if listener.wait(1.0):
                    self._wake.set()
        finally:
            listener.close()

    def round(self) -> bool:
        """One renew / fence / balance / snapshot round; False when the database failed."""
        started = self._clock()
        renewed = self._renew()
        renewed_at = self._clock()
        self._fence_expired()
        if not renewed:
            return False
        try:
            self._balance()
            self._snapshot()
            self._refresh_caches()
        except StorageError as exc:
            log.warning("lease_balance_failed", node=self.node_id, error=str(exc))
            return False
        took = self._clock() - started
        if took > self._renew_s / 2:  # an overloaded node: the margin is being eaten
            log.warning(
                "lease_round_slow",
                node=self.node_id,
                took_s=round(took, 2),
                renew_s=round(renewed_at - started, 2),
            )
        return True

    def _renew(self) -> bool:
        held = self.held()
        t0 = self._clock()
        try:
            renewed = self._leases_db.renew_leases(self.node_id, held, ttl_s=self._ttl)
            beating = self._leases_db.node_heartbeat(self.node_id, accounts=len(held))
        except StorageError as exc:
            if self._db_down_since is None:
                self._db_down_since = t0
                log.warning("lease_renewal_failed", node=self.node_id, error=str(exc))
            return False
        if self._db_down_since is not None:
            down_s = round(t0 - self._db_down_since, 1)
            log.info("lease_renewal_back", node=self.node_id, after_s=down_s)
            self._db_down_since = None
        if not beating:  # our row vanished (taken as dead by someone): join again
            self.register()
        # a deadline that passed before the renewal came back tripped that account's fence
        # for a moment: what it handled meanwhile was neither sent nor recorded, and a fenced
        # generation never retries, so it must be replaced (the next one backfills) even
        # though the lease itself was renewed
        after = self._clock()
        for account_id, epoch in held.items():
            with self._lock:
                current = self._held.get(account_id) == epoch
                lapsed = current and self._deadline.get(account_id, 0.0) <= after
                if current and not lapsed and account_id in renewed:
                    self._deadline[account_id] = t0 + self._ttl - self._margin
                    continue
            if lapsed:
                self._lose(account_id, "the lease could not be renewed in time")
                if account_id in renewed:  # still ours: free it so that it is claimed now
                    self._leases_db.release_lease(self.node_id, account_id, epoch)
                    self._wake.set()
            elif current:
                self._lose(account_id, "another node holds the lease now, or the account is gone")
        return True

    def _fence_expired(self) -> None:
        now = self._clock()
        with self._lock:
            expired = [a for a, deadline in self._deadline.items() if now >= deadline]
        for account_id in expired:
            self._lose(account_id, "the lease could not be renewed in time")

    def _balance(self) -> None:
        store = self._leases_db
        live = store.nodes(live_within_s=self._ttl)
        total = store.account_count()
        share = math.ceil(total / max(1, len(live)))
        leases = store.leases()
        self._note_next_expiry(leases)
        self._finish_releases()
        held = self.held()
        staying = [a for a in sorted(held) if a not in self._releasing]
        pinned_away = [a for a in staying if _pinned(leases, a) not in (None, self.node_id)]
        others = [a for a in staying if a not in pinned_away]
        excess = max(0, len(staying) - len(pinned_away) - share)
        handoff = pinned_away + (others[len(others) - excess :] if excess else [])
        for account_id in handoff[: self._per_round]:
            self._hand_off(account_id)
        pinned_here = sum(
            1 for a, lease in leases.items() if lease.pinned_node == self.node_id and a not in held
        )
        want = max(share - (len(staying) - len(handoff)), pinned_here, 0)
        if want > 0:
            self._claim(min(want, self._per_round))

    def _note_next_expiry(self, leases: Mapping[str, Lease]) -> None:
        others = [
            lease.expires_in_s
            for lease in leases.values()
            if lease.node_id not in (None, self.node_id) and lease.expires_in_s is not None
        ]
        # a little after the database's expiry, so that the claim finds it expired
        soonest = min((s for s in others if s > 0), default=None)
        self._next_expiry = None if soonest is None else self._clock() + soonest + 0.05

    def _claim(self, limit: int) -> None:
        t0 = self._clock()
        claimed = self._leases_db.claim_leases(self.node_id, limit=limit, ttl_s=self._ttl)
        supervisor = self._supervisor
        for index, (account_id, epoch) in enumerate(claimed):
            # what a dead previous owner was running is answered first, before ``held``
            # shows the account to the operation runner (or it would interrupt its own)
            self._leases_db.interrupt_operations(account_id)
            self._store.hold(account_id, epoch)
            with self._lock:
                self._held[account_id] = epoch
                self._deadline[account_id] = t0 + self._ttl - self._margin
            if supervisor is not None:
                supervisor.adopt(account_id, epoch, start_in_s=index / self._start_rate)
        if claimed:
            log.info("leases_claimed", node=self.node_id, count=len(claimed))
            if self._on_claimed is not None:
                self._on_claimed()

    def _hand_off(self, account_id: str) -> None:
        if self._supervisor is None or account_id in self._releasing:
            return
        log.info("lease_handing_off", node=self.node_id, account=account_id)
        future = self._releasing[account_id] = self._supervisor.release(account_id)
        future.add_done_callback(lambda _done: self._wake.set())  # release the lease at once

    def _finish_releases(self) -> None:
        """Release the leases whose generation has stopped (the hand-off is complete)."""
        for account_id, future in list(self._releasing.items()):
            if not future.done():
                continue
            del self._releasing[account_id]
            if future.exception() is not None:  # refused (e.g. shutting down): keep serving
                continue
            with self._lock:
                epoch = self._held.pop(account_id, None)
                self._deadline.pop(account_id, None)
            if epoch is None:  # lost meanwhile: nothing to release
                continue
            self._store.unhold(account_id)
            self._leases_db.release_lease(self.node_id, account_id, epoch)

    def _snapshot(self) -> None:
        """Store the rows the supervisor gave since the last round, and ask for fresh ones
        (never waited on: a busy supervisor must not delay the next renewal)."""
        supervisor = self._supervisor
        if supervisor is None:
            return
        asked, self._rows_asked = self._rows_asked, None
        if asked is not None and not asked.done():
            self._rows_asked = asked  # still busy: ask again once it answered
            return
        if asked is not None and asked.exception() is None:
            held = self.held()
            rows = {
                row["id"]: (held[row["id"]], row)
                for row in asked.result()["accounts"]
                if row.get("id") in held
            }
            if rows:
                self._leases_db.save_snapshots(self.node_id, rows)
        with contextlib.suppress(NotRunningError):
            self._rows_asked = supervisor.status_rows()

    def _refresh_caches(self) -> None:
        """The fallback of cache invalidation: rules changed without passing through this
        node (every command is routed to the owner, so this should find nothing) are read
        again from the next message on."""
        revisions = self._leases_db.rules_revisions(self.held())
        for account_id, revision in revisions.items():
            cached = self._store.cached_rules_revision(account_id)
            if cached is not None and cached != revision:
                log.info("rules_cache_stale", node=self.node_id, account=account_id)
                self._store.forget_cached(account_id)

    # --- losing a lease ------------------------------------------------------------------------

    def _lost_by_write(self, account_id: str) -> None:
        """The Store refused a fenced write: a newer epoch exists (called on a writer's thread)."""
        self._lose(account_id, "a write was refused: another node holds a newer lease")

    def _lose(self, account_id: str, reason: str) -> None:
        with self._lock:
            epoch = self._held.pop(account_id, None)
            self._deadline.pop(account_id, None)
        if epoch is None:
            return
        self._store.unhold(account_id)
        log.warning("lease_lost", node=self.node_id, account=account_id, epoch=epoch, reason=reason)
        if self._supervisor is not None:
            with contextlib.suppress(NotRunningError):  # stopped: nothing left to cut off
                self._supervisor.lease_lost(account_id, reason)


def _pinned(leases: Mapping[str, Lease], account_id: str) -> str | None:
    lease = leases.get(account_id)
    return None if lease is None else lease.pinned_node
