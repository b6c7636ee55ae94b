"""Cluster mode (docs/cluster.md): forwarded account operations and status snapshots.

``cluster_operation``: a node that does not hold an account writes the command there
(``pending``) and NOTIFYs ``xianyu_ops``; the owner claims it (``running``, ``FOR UPDATE
SKIP LOCKED``), runs it and finishes it (``done`` / ``failed``, NOTIFY ``xianyu_op_done``).
``args`` may hold a cookie: it is emptied as soon as the row is finished or cancelled.

``account_snapshot``: the status row each owner publishes with its heartbeat, so that
``status`` on any node shows every account. PostgreSQL only; SQL as in ``storage.cluster``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from common.errors import NotFoundError
from storage.clock import to_ms
from storage.core import StoreCore
from storage.records import OP_DONE, OP_FAILED, Operation, Snapshot

OPS_CHANNEL = "xianyu_ops"  # payload: the account id
OP_DONE_CHANNEL = "xianyu_op_done"  # payload: str(operation id)
INTERRUPTED_ERROR = {"code": "internal", "message": "interrupted: the node running it stopped"}

_ENQUEUE = (
    "INSERT INTO cluster_operation (account_id, caller_node, method, args, state, created_at) "
    "VALUES (?, ?, ?, ?, 'pending', now()) RETURNING id"
)
_NOTIFY = "SELECT pg_notify(?, ?)"
_CLAIM = (
    "UPDATE cluster_operation SET state = 'running', owner_node = ? WHERE id IN "
    "(SELECT id FROM cluster_operation WHERE state = 'pending' "
    "AND account_id = ANY(CAST(? AS TEXT[])) ORDER BY id FOR UPDATE SKIP LOCKED) "
    "RETURNING id, account_id, caller_node, owner_node, method, args, state, result, error"
)
# only the row its owner claimed: a cancelled or interrupted one keeps its outcome
_FINISH = (
    "UPDATE cluster_operation SET state = ?, result = ?, error = ?, args = '{}', "
    "finished_at = now() WHERE id = ? AND state = 'running'"
)
_CANCEL = (
    "UPDATE cluster_operation SET state = 'failed', error = ?, args = '{}', "
    "finished_at = now() WHERE id = ? AND state = 'pending'"
)
_GET = (
    "SELECT id, account_id, caller_node, owner_node, method, args, state, result, error "
    "FROM cluster_operation WHERE id = ?"
)
_INTERRUPT = (
    "WITH r AS (UPDATE cluster_operation SET state = 'failed', error = ?, args = '{}', "
    "finished_at = now() WHERE account_id = ? AND state = 'running' RETURNING id) "
    "SELECT pg_notify('xianyu_op_done', CAST(id AS TEXT)) FROM r"
)
_PRUNE = (
    "DELETE FROM cluster_operation WHERE state IN ('done', 'failed') "
    "AND finished_at < to_timestamp(? / 1000.0)"
)
_SAVE_SNAPSHOTS = (
    'INSERT INTO account_snapshot (account_id, node_id, epoch, "row", at) '
    "SELECT h.account_id, ?, h.epoch, h.row_json, now() "
    "FROM unnest(CAST(? AS TEXT[]), CAST(? AS BIGINT[]), CAST(? AS TEXT[])) "
    "AS h(account_id, epoch, row_json) "
    # an account removed meanwhile has no snapshot to keep (and would break the batch)
    "WHERE h.account_id IN (SELECT id FROM account) "
    "ON CONFLICT (account_id) DO UPDATE SET node_id = excluded.node_id, "
    'epoch = excluded.epoch, "row" = excluded."row", at = excluded.at'
)
_SNAPSHOTS = (
    'SELECT account_id, node_id, epoch, "row", EXTRACT(EPOCH FROM now() - at) FROM account_snapshot'
)


def _json(text: str | None) -> dict[str, Any] | None:
    return None if text is None else json.loads(text)


def _operation(row: Sequence[Any]) -> Operation:
    op_id, account_id, caller, owner, method, args, state, result, error = row
    return Operation(
        id=int(op_id),
        account_id=account_id,
        caller_node=caller,
        owner_node=owner,
        method=method,
        args=json.loads(args),
        state=state,
        result=_json(result),
        error=_json(error),
    )


class OperationOps(StoreCore):
    # --- operations -------------------------------------------------------------------------

    def enqueue_operation(
        self, account_id: str, *, caller_node: str, method: str, args: dict[str, Any]
    ) -> int:
        """Ask the account's owner to run ``method(**args)``; wakes it. The new row's id."""
        what = f"forwarding {method!r} of {account_id!r}"
        self._cluster_only(what)
        with self._write(what):
            params = (account_id, caller_node, method, json.dumps(args))
            op_id = int(self._db.execute_sql(self._sql(_ENQUEUE), params).fetchone()[0])
            self._execute(_NOTIFY, (OPS_CHANNEL, account_id))
        return op_id

    def claim_operations(self, node_id: str, account_ids: Iterable[str]) -> list[Operation]:
        """The pending operations of these (held) accounts, oldest first, now ``running``."""
        accounts = list(account_ids)
        what = f"claiming the operations of {len(accounts)} accounts for node {node_id!r}"
        self._cluster_only(what)
        if not accounts:
            return []
        with self._locked(what):
            rows = self._db.execute_sql(self._sql(_CLAIM), (node_id, accounts)).fetchall()
        return sorted((_operation(row) for row in rows), key=lambda op: op.id)

    def finish_operation(
        self,
        op_id: int,
        *,
        result: dict[str, Any] | None = None,
        error: dict[str, Any] | None = None,
    ) -> None:
        """A running operation's outcome: ``done`` with ``result``, or ``failed`` with
        ``error = {"code", "message"}``; wakes the caller. A row no longer running (the
        caller cancelled it, a new owner interrupted it) keeps what it has."""
        what = f"finishing operation {op_id}"
        self._cluster_only(what)
        state = OP_DONE if error is None else OP_FAILED
        params = (
            state,
            None if error is not None else json.dumps(result or {}),
            None if error is None else json.dumps(error),
            op_id,
        )
        with self._write(what):
            if self._execute(_FINISH, params):
                self._execute(_NOTIFY, (OP_DONE_CHANNEL, str(op_id)))

    def cancel_operation(self, op_id: int, reason: str) -> bool:
        """The caller gave up: a still-pending row fails (it must never run later)."""
        what = f"cancelling operation {op_id}"
        self._cluster_only(what)
        error = json.dumps({"code": "unavailable", "message": reason})
        with self._locked(what):
            return self._execute(_CANCEL, (error, op_id)) > 0

    def get_operation(self, op_id: int) -> Operation:
        what = f"reading operation {op_id}"
        self._cluster_only(what)
        with self._locked(what):
            row = self._db.execute_sql(self._sql(_GET), (op_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"operation {op_id} not found", operation=what)
        return _operation(row)

    def interrupt_operations(self, account_id: str) -> int:
        """A new owner's first step: what its previous owner was running failed
        "interrupted" (its callers are woken); how many."""
        what = f"interrupting the running operations of {account_id!r}"
        self._cluster_only(what)
        with self._locked(what):
            params = (json.dumps(INTERRUPTED_ERROR), account_id)
            return len(self._db.execute_sql(self._sql(_INTERRUPT), params).fetchall())

    def prune_operations(self, older_than: datetime | float) -> int:
        """Forget operations finished before ``older_than``; how many."""
        what = "pruning finished operations"
        self._cluster_only(what)
        with self._locked(what):
            return self._execute(_PRUNE, (to_ms(older_than),))

    # --- snapshots --------------------------------------------------------------------------

    def save_snapshots(self, node_id: str, rows: Mapping[str, tuple[int, dict[str, Any]]]) -> None:
        """Publish the status rows of the accounts this node serves (account → epoch, row)."""
        what = f"saving {len(rows)} status snapshots of node {node_id!r}"
        self._cluster_only(what)
        if not rows:
            return
        accounts = list(rows)
        epochs = [rows[account_id][0] for account_id in accounts]
        texts = [json.dumps(rows[account_id][1], default=str) for account_id in accounts]
        with self._locked(what):
            self._execute(_SAVE_SNAPSHOTS, (node_id, accounts, epochs, texts))

    def snapshots(self) -> dict[str, Snapshot]:
        """Every account's last published status row (``age_s`` on the database clock)."""
        what = "reading the status snapshots"
        self._cluster_only(what)
        with self._locked(what):
            rows = self._db.execute_sql(_SNAPSHOTS).fetchall()
        return {
            account_id: Snapshot(
                account_id=account_id,
                node_id=node,
                epoch=int(epoch),
                row=json.loads(text),
                age_s=float(age),
            )
            for account_id, node, epoch, text, age in rows
        }
