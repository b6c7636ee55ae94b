"""An in-memory stand-in for the cluster part of the ``Store`` (docs/cluster.md): exactly
the methods ``cluster/`` calls, plus the ones the cluster tests set a scene with (accounts,
nodes, lease claims, snapshots), with the Store's names and parameters, so the same tests
can run against the real Store on PostgreSQL (``cluster_store`` is the fixture to
parametrize). ``FakeClusterStore.listener(channels)`` stands for
``storage.listener.Listener``: ``notify`` reaches every listener of the channel.
"""

from __future__ import annotations

import copy
import itertools
import queue
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from cluster.operations import OperationRunner
from cluster.routing import ClusterSupervisor
from cluster.waiter import OperationWaiter
from common.errors import NotFoundError
from storage import AccountRecord, Lease, NodeRecord, Operation, Snapshot
from tests.plugins.control import FakeSupervisor


class FakeListener:
    def __init__(self, hub: FakeClusterStore, channels: Iterable[str]) -> None:
        self.channels = set(channels)
        self.notes: queue.Queue[tuple[str, str]] = queue.Queue()
        self._hub = hub

    def wait(self, timeout_s: float) -> list[tuple[str, str]]:
        try:
            notes = [self.notes.get(timeout=timeout_s)]
        except queue.Empty:
            return []
        while not self.notes.empty():
            notes.append(self.notes.get_nowait())
        return notes

    def close(self) -> None:
        self._hub.forget_listener(self)


def _unknown(account_id: str) -> NotFoundError:
    return NotFoundError(f"account {account_id!r} not found; run 'ctl status' to list accounts")


class FakeClusterStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._accounts: dict[str, AccountRecord] = {}
        self._leases: dict[str, Lease] = {}
        self._expiry: dict[str, float] = {}
        self._nodes: dict[str, tuple[NodeRecord, float]] = {}  # node → (record, heartbeat)
        self._ops: dict[int, Operation] = {}
        self._snapshots: dict[str, tuple[Snapshot, float]] = {}
        self._ids = itertools.count(1)
        self._listeners: list[FakeListener] = []
        self.notices: list[tuple[str, str]] = []

    # --- wake-ups ---------------------------------------------------------------------------

    def listener(self, channels: Iterable[str]) -> FakeListener:
        listener = FakeListener(self, channels)
        with self._lock:
            self._listeners.append(listener)
        return listener

    def forget_listener(self, listener: FakeListener) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def notify(self, channel: str, payload: str = "") -> None:
        with self._lock:
            self.notices.append((channel, payload))
            listeners = [li for li in self._listeners if channel in li.channels]
        for listener in listeners:
            listener.notes.put((channel, payload))

    # --- accounts ---------------------------------------------------------------------------

    def add_account(
        self, account_id: str, cookie: Any, user_id: str, *, enabled: bool = True, **_: Any
    ) -> AccountRecord:
        now = datetime.now(UTC)
        record = AccountRecord(account_id, user_id, "", enabled, "", 10, now, now, 1)
        with self._lock:
            self._accounts[account_id] = record
            self._leases[account_id] = Lease(account_id, None, 0, None, None)
        return record

    def get_account(self, account_id: str) -> AccountRecord:
        with self._lock:
            if account_id not in self._accounts:
                raise _unknown(account_id)
            return self._accounts[account_id]

    def list_accounts(self) -> list[AccountRecord]:
        with self._lock:
            return [self._accounts[k] for k in sorted(self._accounts)]

    # --- nodes and leases -------------------------------------------------------------------

    def register_node(
        self,
        node_id: str,
        *,
        host: str,
        pid: int,
        data_dir: str,
        version: str,
        ttl_s: float,
        replace: bool = False,
    ) -> None:
        record = NodeRecord(node_id, host, pid, data_dir, version, datetime.now(UTC), 0.0, 0)
        with self._lock:
            self._nodes[node_id] = (record, time.monotonic())

    def deregister_node(self, node_id: str) -> None:
        with self._lock:
            self._nodes.pop(node_id, None)
            for account_id, lease in list(self._leases.items()):
                if lease.node_id == node_id:
                    self._leases[account_id] = replace(lease, node_id=None, expires_in_s=None)

    def nodes(self, *, live_within_s: float | None = None) -> list[NodeRecord]:
        now = time.monotonic()
        with self._lock:
            rows = [
                replace(record, heartbeat_age_s=now - beat)
                for record, beat in self._nodes.values()
                if live_within_s is None or now - beat <= live_within_s
            ]
        return sorted(rows, key=lambda n: n.node_id)

    def claim_lease(self, node_id: str, account_id: str, *, ttl_s: float) -> int | None:
        now = time.monotonic()
        with self._lock:
            lease = self._leases[account_id]
            free = lease.node_id is None or self._expiry.get(account_id, 0.0) < now
            if not free or lease.pinned_node not in (None, node_id):
                return None
            self._leases[account_id] = replace(
                lease, node_id=node_id, epoch=lease.epoch + 1, expires_in_s=ttl_s
            )
            self._expiry[account_id] = now + ttl_s
            return lease.epoch + 1

    def leases(self) -> dict[str, Lease]:
        with self._lock:
            return dict(self._leases)

    def pin_account(self, account_id: str, node_id: str | None) -> None:
        with self._lock:
            if account_id not in self._leases:
                raise _unknown(account_id)
            self._leases[account_id] = replace(self._leases[account_id], pinned_node=node_id)
        self.notify("xianyu_leases", account_id)

    # --- snapshots --------------------------------------------------------------------------

    def save_snapshots(self, node_id: str, rows: Mapping[str, tuple[int, dict[str, Any]]]) -> None:
        now = time.monotonic()
        with self._lock:
            for account_id, (epoch, row) in rows.items():
                snap = Snapshot(account_id, node_id, epoch, copy.deepcopy(row), 0.0)
                self._snapshots[account_id] = (snap, now)

    def snapshots(self) -> dict[str, Snapshot]:
        now = time.monotonic()
        with self._lock:
            return {k: replace(s, age_s=now - at) for k, (s, at) in self._snapshots.items()}

    # --- operations -------------------------------------------------------------------------

    def enqueue_operation(
        self, account_id: str, *, caller_node: str, method: str, args: dict[str, Any]
    ) -> int:
        with self._lock:
            op_id = next(self._ids)
            self._ops[op_id] = Operation(
                op_id,
                account_id,
                caller_node,
                None,
                method,
                copy.deepcopy(args),
                "pending",
                None,
                None,
            )
        self.notify("xianyu_ops", account_id)
        return op_id

    def claim_operations(self, node_id: str, account_ids: Iterable[str]) -> list[Operation]:
        wanted = set(account_ids)
        with self._lock:
            claimed = [
                replace(op, state="running", owner_node=node_id)
                for op in sorted(self._ops.values(), key=lambda o: o.id)
                if op.state == "pending" and op.account_id in wanted
            ]
            for op in claimed:
                self._ops[op.id] = op
        return claimed

    def finish_operation(
        self,
        op_id: int,
        *,
        result: dict[str, Any] | None = None,
        error: dict[str, Any] | None = None,
    ) -> None:
        with self._lock:
            op = self._ops[op_id]
            state = "failed" if error is not None else "done"
            self._ops[op_id] = replace(op, state=state, result=result, error=error, args={})
        self.notify("xianyu_op_done", str(op_id))

    def cancel_operation(self, op_id: int, reason: str) -> bool:
        with self._lock:
            op = self._ops[op_id]
            if op.state != "pending":
                return False
            error = {"code": "unavailable", "message": reason}
            self._ops[op_id] = replace(op, state="failed", error=error, args={})
        return True

    def get_operation(self, op_id: int) -> Operation:
        with self._lock:
            if op_id not in self._ops:
                raise NotFoundError(f"operation {op_id} not found")
            return self._ops[op_id]

    def operations(self) -> list[Operation]:
        """Test helper (not a Store method): every row, oldest first."""
        with self._lock:
            return [self._ops[k] for k in sorted(self._ops)]


@pytest.fixture(params=["fake"])
def cluster_store(request: pytest.FixtureRequest) -> Iterator[FakeClusterStore]:
    """The store two "nodes" share. To run the cluster tests against the real Store, add a
    "postgres" param opening a fresh ``storage.Store`` on XIANYU_TEST_POSTGRES_URL (its
    ``listener`` being ``storage.listener.Listener(store.url, channels)``)."""
    yield FakeClusterStore()


class FakeNode:
    """One node of a cluster on a shared store: a ``FakeSupervisor`` as its local
    supervisor, the accounts it holds, its ``ClusterSupervisor`` and ``OperationRunner``.
    ``listen=False``: no NOTIFY listeners (the polling fallbacks only)."""

    def __init__(
        self, store: FakeClusterStore, node_id: str, *, timeout_s: float = 5.0, listen: bool = True
    ) -> None:
        self.store = store
        self.node_id = node_id
        self.local = FakeSupervisor()
        self.held: dict[str, int] = {}
        store.register_node(
            node_id,
            host=f"host-{node_id}",
            pid=4242,
            data_dir=f"/data/{node_id}",
            version="9.9",
            ttl_s=15.0,
        )
        done = (lambda: store.listener(["xianyu_op_done"])) if listen else None
        self.waiter = OperationWaiter(store, listener_factory=done)
        self.supervisor = ClusterSupervisor(
            self.local,
            store,
            node_id=node_id,
            held=self.held_now,
            timeout_s=timeout_s,
            wait_done=self.waiter.wait,
        )
        ops = (lambda: store.listener(["xianyu_ops"])) if listen else None
        self.runner = OperationRunner(
            store,
            self.local,
            node_id=node_id,
            held=self.held_now,
            poll_s=0.05 if not listen else 5.0,
            listener_factory=ops,
        ).start()

    def held_now(self) -> dict[str, int]:
        return dict(self.held)

    def take(self, account_id: str, cookie: str) -> int:
        """Claim the account's lease and start it on this node's supervisor."""
        epoch = self.store.claim_lease(self.node_id, account_id, ttl_s=15.0)
        assert epoch is not None, f"{account_id} is held elsewhere"
        self.local.add(account_id, cookie)
        self.held[account_id] = epoch
        self.runner.wake()
        return epoch

    def close(self) -> None:
        self.runner.stop()
        self.waiter.close()
        self.supervisor.close()
