"""Cluster mode (docs/cluster.md): nodes and account leases, PostgreSQL only.

A lease is a row of ``account_lease``: ``node_id`` (NULL = free), ``epoch`` (bumped on
every claim, so a write checked against it can tell a new owner from an old one) and
``expires_at``. Every time that decides ownership is the database's (``now()``), never a
node's clock; a node keeps its own, earlier local deadline (``actors``/``cluster``).

Claims take free or expired rows with ``FOR UPDATE SKIP LOCKED``: two nodes claiming at
once get disjoint sets without waiting for each other. Written as SQL (``?`` placeholders)
like ``storage.outbox``: the tables belong to this module and ``storage.cluster_ops``.

``ClusterOps`` is what ``Store`` mixes in: these, the operations and snapshots
(``storage.cluster_ops``) and the fencing (``storage.fencing``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from common.errors import NodeIdInUseError
from storage.clock import from_ms
from storage.cluster_ops import OperationOps
from storage.core import account_not_found
from storage.fencing import FencingOps
from storage.records import Lease, NodeRecord

LEASES_CHANNEL = "xianyu_leases"  # payload: an account id ('' = several)


_NEW_NODE = (
    "INSERT INTO cluster_node "
    "(node_id, host, pid, data_dir, version, started_ms, heartbeat_at, accounts) "
    "VALUES (?, ?, ?, ?, ?, CAST(EXTRACT(EPOCH FROM now()) * 1000 AS BIGINT), now(), 0) "
    "ON CONFLICT (node_id) DO NOTHING"
)
_NODE_ROW = (
    "SELECT host, pid, data_dir, EXTRACT(EPOCH FROM now() - heartbeat_at) FROM cluster_node "
    "WHERE node_id = ? FOR UPDATE"
)
_REPLACE_NODE = (
    "UPDATE cluster_node SET host = ?, pid = ?, data_dir = ?, version = ?, "
    "started_ms = CAST(EXTRACT(EPOCH FROM now()) * 1000 AS BIGINT), heartbeat_at = now(), "
    "accounts = 0 WHERE node_id = ?"
)
_RELEASE_NODE = "UPDATE account_lease SET node_id = NULL, expires_at = NULL WHERE node_id = ?"
_HEARTBEAT = "UPDATE cluster_node SET heartbeat_at = now(), accounts = ? WHERE node_id = ?"
_DELETE_NODE = "DELETE FROM cluster_node WHERE node_id = ?"
_NODES = (
    "SELECT node_id, host, pid, data_dir, version, started_ms, "
    "EXTRACT(EPOCH FROM now() - heartbeat_at), accounts FROM cluster_node"
)
_LIVE = " WHERE heartbeat_at > now() - make_interval(secs => ?)"
_NOTIFY = "SELECT pg_notify('xianyu_leases', ?)"

_CLAIM = (
    "UPDATE account_lease SET node_id = ?, epoch = epoch + 1, "
    "expires_at = now() + make_interval(secs => ?) "
    "WHERE account_id IN (SELECT account_id FROM account_lease "
    "WHERE (node_id IS NULL OR expires_at < now()) AND (pinned_node IS NULL OR pinned_node = ?) "
    "ORDER BY account_id LIMIT ? FOR UPDATE SKIP LOCKED) "
    "RETURNING account_id, epoch"
)
_CLAIM_ONE = (
    "UPDATE account_lease SET node_id = ?, epoch = epoch + 1, "
    "expires_at = now() + make_interval(secs => ?) "
    "WHERE account_id = ? AND (node_id IS NULL OR expires_at < now()) "
    "AND (pinned_node IS NULL OR pinned_node = ?) RETURNING epoch"
)
_RENEW = (
    "UPDATE account_lease AS l SET expires_at = now() + make_interval(secs => ?) "
    "FROM unnest(CAST(? AS TEXT[]), CAST(? AS BIGINT[])) AS h(account_id, epoch) "
    "WHERE l.account_id = h.account_id AND l.epoch = h.epoch AND l.node_id = ? "
    "RETURNING l.account_id"
)
# one statement: the NOTIFY goes out only for a row that really was released
_RELEASE = (
    "WITH r AS (UPDATE account_lease SET node_id = NULL, expires_at = NULL "
    "WHERE account_id = ? AND node_id = ? AND epoch = ? RETURNING account_id) "
    "SELECT pg_notify('xianyu_leases', account_id) FROM r"
)
_LEASES = (
    "SELECT account_id, node_id, epoch, EXTRACT(EPOCH FROM expires_at - now()), pinned_node "
    "FROM account_lease"
)
_PIN = (
    "WITH r AS (UPDATE account_lease SET pinned_node = ? WHERE account_id = ? "
    "RETURNING account_id) SELECT pg_notify('xianyu_leases', account_id) FROM r"
)


def _node(row: Sequence[Any]) -> NodeRecord:
    node_id, host, pid, data_dir, version, started_ms, age, accounts = row
    return NodeRecord(
        node_id=node_id,
        host=host,
        pid=int(pid),
        data_dir=data_dir,
        version=version,
        started_at=from_ms(int(started_ms)),
        heartbeat_age_s=float(age),
        accounts=int(accounts),
    )


class NodeLeaseOps(FencingOps):
    # --- nodes ------------------------------------------------------------------------------

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
        """Register this node; a live node (heartbeat within ``ttl_s``) with the same id is
        refused with ``NodeIdInUseError`` unless ``replace``. Leases still naming ``node_id``
        belonged to a previous, dead incarnation: released (their epochs stay)."""
        what = f"registering node {node_id!r}"
        self._cluster_only(what)
        with self._write(what):
            # INSERT first: of two processes registering one new id at once, the second
            # waits for the first's row, then finds it live
            fresh = self._execute(_NEW_NODE, (node_id, host, pid, data_dir, version)) > 0
            if not fresh:
                row = self._db.execute_sql(self._sql(_NODE_ROW), (node_id,)).fetchone()
                other_host, other_pid, other_dir, age = row
                if float(age) < ttl_s and not replace:
                    raise NodeIdInUseError(
                        node_id,
                        host=other_host,
                        pid=int(other_pid),
                        data_dir=other_dir,
                        heartbeat_age_s=float(age),
                    )
                self._execute(_REPLACE_NODE, (host, pid, data_dir, version, node_id))
            if self._execute(_RELEASE_NODE, (node_id,)):
                self._execute(_NOTIFY, ("",))

    def node_heartbeat(self, node_id: str, *, accounts: int) -> bool:
        """Beat (database clock) and publish how many accounts it serves; False when the
        row is gone (another process took the id over with ``replace``, or deregistered)."""
        what = f"recording the heartbeat of node {node_id!r}"
        self._cluster_only(what)
        with self._locked(what):
            return self._execute(_HEARTBEAT, (accounts, node_id)) > 0

    def deregister_node(self, node_id: str) -> None:
        """A graceful stop: the row goes and every lease it held is released at once."""
        what = f"deregistering node {node_id!r}"
        self._cluster_only(what)
        with self._write(what):
            self._execute(_DELETE_NODE, (node_id,))
            self._execute(_RELEASE_NODE, (node_id,))
            self._execute(_NOTIFY, ("",))

    def nodes(self, *, live_within_s: float | None = None) -> list[NodeRecord]:
        """The registered nodes by id; only those that beat within ``live_within_s`` if given."""
        what = "listing the cluster nodes"
        self._cluster_only(what)
        with self._locked(what):
            if live_within_s is None:
                rows = self._db.execute_sql(_NODES + " ORDER BY node_id").fetchall()
            else:
                sql = self._sql(_NODES + _LIVE + " ORDER BY node_id")
                rows = self._db.execute_sql(sql, (live_within_s,)).fetchall()
        return [_node(row) for row in rows]

    # --- leases -----------------------------------------------------------------------------

    def claim_leases(self, node_id: str, *, limit: int, ttl_s: float) -> list[tuple[str, int]]:
        """Take up to ``limit`` free or expired leases not pinned elsewhere, by account id;
        returns ``(account_id, new epoch)`` pairs."""
        what = f"claiming leases for node {node_id!r}"
        self._cluster_only(what)
        if limit <= 0:
            return []
        with self._locked(what):
            params = (node_id, ttl_s, node_id, limit)
            rows = self._db.execute_sql(self._sql(_CLAIM), params).fetchall()
        return sorted((account_id, int(epoch)) for account_id, epoch in rows)

    def claim_lease(self, node_id: str, account_id: str, *, ttl_s: float) -> int | None:
        """Take one account's lease if free or expired and not pinned elsewhere: its epoch."""
        what = f"claiming the lease of {account_id!r} for node {node_id!r}"
        self._cluster_only(what)
        with self._locked(what):
            params = (node_id, ttl_s, account_id, node_id)
            row = self._db.execute_sql(self._sql(_CLAIM_ONE), params).fetchone()
        return None if row is None else int(row[0])

    def renew_leases(self, node_id: str, held: Mapping[str, int], *, ttl_s: float) -> set[str]:
        """Extend the leases whose (account, node, epoch) still match; the renewed ids."""
        what = f"renewing {len(held)} leases of node {node_id!r}"
        self._cluster_only(what)
        if not held:
            return set()
        accounts = list(held)
        epochs = [held[account_id] for account_id in accounts]
        with self._locked(what):
            params = (ttl_s, accounts, epochs, node_id)
            rows = self._db.execute_sql(self._sql(_RENEW), params).fetchall()
        return {account_id for (account_id,) in rows}

    def release_lease(self, node_id: str, account_id: str, epoch: int) -> bool:
        """Give the lease up (a hand-off) if it is still this one; wakes the other nodes."""
        what = f"releasing the lease of {account_id!r} (node {node_id!r}, epoch {epoch})"
        self._cluster_only(what)
        with self._locked(what):
            rows = self._db.execute_sql(self._sql(_RELEASE), (account_id, node_id, epoch))
            return len(rows.fetchall()) > 0

    def leases(self) -> dict[str, Lease]:
        """Every account's lease (``expires_in_s`` on the database clock)."""
        what = "reading the leases"
        self._cluster_only(what)
        with self._locked(what):
            rows = self._db.execute_sql(_LEASES).fetchall()
        return {
            account_id: Lease(
                account_id=account_id,
                node_id=node,
                epoch=int(epoch),
                expires_in_s=None if expires_in is None else float(expires_in),
                pinned_node=pinned,
            )
            for account_id, node, epoch, expires_in, pinned in rows
        }

    def account_count(self) -> int:
        """How many accounts the cluster has (the fair share divides this)."""
        with self._locked("counting the accounts"):
            return int(self._db.execute_sql("SELECT COUNT(*) FROM account").fetchone()[0])

    def pin_account(self, account_id: str, node_id: str | None) -> None:
        """Only ``node_id`` may serve the account from now on (None or '': any node)."""
        what = f"pinning account {account_id!r} to node {node_id!r}"
        self._cluster_only(what)
        with self._locked(what):
            cursor = self._db.execute_sql(self._sql(_PIN), (node_id or None, account_id))
            if not cursor.fetchall():
                raise account_not_found(account_id)


class ClusterOps(NodeLeaseOps, OperationOps):
    """Everything cluster mode needs of the database (docs/cluster.md)."""
