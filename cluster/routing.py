"""``ClusterSupervisor``: the control socket's supervisor on a node of a cluster.

An account command is served by the local supervisor when this node holds the account;
otherwise it is queued in the operations table for whichever node holds it
(``cluster.operations.OperationRunner`` there runs it) and its result or error comes
back as if the local supervisor had answered. Reads go to the local client: they read
the shared database. ``status`` merges this node's rows with the other nodes' snapshots.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from cluster.nodes import node_rows
from cluster.ports import ClusterStore, LeaseView, OperationView, SnapshotView
from cluster.waiter import OperationWaiter
from common.errors import XianyuSupervisorError
from control.dispatch import SupervisorApi
from control.errors import INTERNAL, UNAVAILABLE, ControlError, error_for
from storage import AccountRecord

# the commands that need the account's running child: served where the account is
ROUTED = frozenset(
    {
        "remove",
        "enable",
        "disable",
        "update",
        "restart",
        "kill",
        "rollback",
        "renew",
        "set_rules",
        "set_account",
        "unpause",
        "freeze",
    }
)
UNOWNED = "unowned"  # the state of an account no live node holds
STARTING = "starting"  # held by a live node that has not reported it yet

WaitDone = Callable[[int, float], OperationView | None]


class ClusterSupervisor:
    """``control.dispatch.SupervisorApi`` and ``ClusterApi`` for one node of a cluster."""

    def __init__(
        self,
        local: SupervisorApi,
        store: ClusterStore,
        *,
        node_id: str,
        held: Callable[[], Mapping[str, int]],
        timeout_s: float = 60.0,
        wait_done: WaitDone | None = None,
        live_within_s: float = 15.0,
        timeouts: Mapping[str, float] | None = None,
    ) -> None:
        """``held()``: the accounts this node holds, with their lease epochs;
        ``wait_done(op_id, timeout_s)``: a finished operation or None (default: an
        ``OperationWaiter`` polling the store); ``live_within_s``: a node whose heartbeat is
        older is dead (the lease TTL); ``timeouts``: per-method deadlines over ``timeout_s``."""
        self._local = local
        self._store = store
        self._node_id = node_id
        self._held = held
        self._timeout_s = timeout_s
        self._timeouts = dict(timeouts or {})
        self._live_within_s = live_within_s
        self._own_waiter = OperationWaiter(store) if wait_done is None else None
        self._wait_done: WaitDone = wait_done or self._own_waiter.wait  # type: ignore[union-attr]

    @property
    def node_id(self) -> str:
        return self._node_id

    def close(self) -> None:
        """Stop the waiter this object made (one given as ``wait_done`` is the caller's)."""
        if self._own_waiter is not None:
            self._own_waiter.close()

    # --- routed -----------------------------------------------------------------------------

    def remove(self, account_id: str) -> Any:
        return self._route("remove", account_id)

    def enable(self, account_id: str) -> Any:
        return self._route("enable", account_id)

    def disable(self, account_id: str) -> Any:
        return self._route("disable", account_id)

    def update(
        self,
        account_id: str,
        cookie: str,
        *,
        save: bool = True,
        force: bool = False,
        wait: bool = True,
    ) -> Any:
        return self._route("update", account_id, cookie=cookie, save=save, force=force, wait=wait)

    def restart(self, account_id: str, *, wait: bool = True) -> Any:
        return self._route("restart", account_id, wait=wait)

    def kill(self, account_id: str) -> Any:
        return self._route("kill", account_id)

    def renew(self, account_id: str) -> Any:
        return self._route("renew", account_id)

    def rollback(self, account_id: str, to_version: int | None = None) -> Any:
        return self._route("rollback", account_id, to_version=to_version)

    def freeze(self, account_id: str, seconds: float) -> Any:
        return self._route("freeze", account_id, seconds=seconds)

    def set_rules(
        self, account_id: str, rules: list[dict[str, Any]], default_reply: Any = None
    ) -> Any:
        return self._route("set_rules", account_id, rules=rules, default_reply=default_reply)

    def unpause(self, account_id: str, chat: str) -> Any:
        return self._route("unpause", account_id, chat=chat)

    def set_account(
        self,
        account_id: str,
        *,
        remark: str | None = None,
        pause_minutes: int | None = None,
        notify: Sequence[str] | None = None,
        proxy: str | None = None,
        node: str | None = None,
    ) -> Any:
        """``node``: pin the account to that node ('' unpins); the other fields are set
        where the account runs."""
        if node is not None:
            self.pin(account_id, node or None)
        fields: dict[str, Any] = {
            "remark": remark,
            "pause_minutes": pause_minutes,
            "notify": None if notify is None else list(notify),
            "proxy": proxy,
        }
        given = {k: v for k, v in fields.items() if v is not None}
        if not given:
            return self._local.account(account_id)
        return self._route("set_account", account_id, **given)

    # --- local ------------------------------------------------------------------------------

    def add(
        self,
        account_id: str,
        cookie: str,
        *,
        enabled: bool = True,
        remark: str = "",
        proxy: str = "",
    ) -> Any:
        # the local supervisor stores it; whichever node's keeper claims it starts it
        return self._local.add(account_id, cookie, enabled=enabled, remark=remark, proxy=proxy)

    def history(self, account_id: str, limit: int = 20) -> Any:
        return self._local.history(account_id, limit=limit)

    def events(self, account_id: str | None = None, limit: int = 100, since: Any = None) -> Any:
        return self._local.events(account_id, limit=limit, since=since)

    def rules(self, account_id: str) -> Any:
        return self._local.rules(account_id)

    def pauses(self, account_id: str) -> Any:
        return self._local.pauses(account_id)

    def account(self, account_id: str) -> Any:
        return self._local.account(account_id)

    def rules_preview(
        self,
        account_id: str,
        text: str,
        *,
        item_id: str | None = None,
        rules: list[dict[str, Any]] | None = None,
        default_reply: Any = None,
    ) -> Any:
        return self._local.rules_preview(
            account_id, text, item_id=item_id, rules=rules, default_reply=default_reply
        )

    # --- the cluster ------------------------------------------------------------------------

    def nodes(self) -> dict[str, Any]:
        return node_rows(self._store.nodes(live_within_s=self._live_within_s))

    def pin(self, account_id: str, node: str | None) -> dict[str, Any]:
        """Pin ``account_id`` to ``node`` (None: anywhere); its holder hands it off."""
        self._store.pin_account(account_id, node)
        return {"account": account_id, "pinned_node": node}

    def status(self, account_id: str | None = None) -> dict[str, Any]:
        """Every account of the cluster (or one), ordered by id, each with ``node`` and
        ``lease_epoch``: this node's rows, the others' snapshots, ``unowned`` rows."""
        held = dict(self._held())
        if account_id is not None and account_id in held:
            rows = self._local_rows(account_id, held)
        elif account_id is not None:
            rows = self._remote_rows([self._store.get_account(account_id)])
        else:
            rows = self._local_rows(None, held)
            mine = {row["id"] for row in rows}
            others = [r for r in self._store.list_accounts() if r.account_id not in mine]
            rows += self._remote_rows(others)
        return {"accounts": sorted(rows, key=lambda row: str(row["id"]))}

    def _local_rows(self, account_id: str | None, held: Mapping[str, int]) -> list[dict[str, Any]]:
        rows = [dict(r) for r in (self._local.status(account_id) or {}).get("accounts") or []]
        for row in rows:
            row["node"] = self._node_id
            row["lease_epoch"] = held.get(row["id"])
        return rows

    def _remote_rows(self, records: Sequence[AccountRecord]) -> list[dict[str, Any]]:
        if not records:
            return []
        leases = self._store.leases()
        snapshots = self._store.snapshots()
        live = {n.node_id for n in self._store.nodes(live_within_s=self._live_within_s)}
        return [
            _remote_row(r, leases.get(r.account_id), snapshots.get(r.account_id), live)
            for r in records
        ]

    # --- routing ----------------------------------------------------------------------------

    def _route(self, method: str, account_id: str, **args: Any) -> Any:
        if account_id in self._held():
            return getattr(self._local, method)(account_id, **args)
        self._store.get_account(account_id)  # NotFoundError for an unknown account
        op_id = self._store.enqueue_operation(
            account_id, caller_node=self._node_id, method=method, args=args
        )
        timeout_s = self._timeouts.get(method, self._timeout_s)
        operation = self._wait_done(op_id, timeout_s)
        if operation is None:
            operation = self._give_up(op_id, account_id, timeout_s)
        if operation.state == "done":
            return dict(operation.result or {})
        error = operation.error or {}
        raise error_for(
            str(error.get("code") or INTERNAL),
            str(error.get("message") or f"{method} of {account_id!r} failed on another node"),
        )

    def _give_up(self, op_id: int, account_id: str, timeout_s: float) -> OperationView:
        """The deadline passed: a still-pending operation is cancelled (it must never run
        later); one already running may still finish (its result, if it has come)."""
        reason = (
            f"no node served account {account_id!r} within {timeout_s:g}s (it may be moving "
            "between nodes); try again"
        )
        if self._store.cancel_operation(op_id, reason):
            raise ControlError(UNAVAILABLE, reason)
        operation = self._store.get_operation(op_id)
        if operation.state in ("done", "failed"):
            return operation
        raise XianyuSupervisorError(
            f"no outcome within {timeout_s:g}s from the node running it",
            account=account_id,
            operation=operation.method,
            hint="it may still complete: see 'ctl events' and 'ctl status'",
        )


def _remote_row(
    record: AccountRecord,
    lease: LeaseView | None,
    snapshot: SnapshotView | None,
    live: set[str],
) -> dict[str, Any]:
    holder = lease.node_id if lease is not None and lease.node_id in live else None
    epoch = lease.epoch if lease is not None else None
    if holder is not None and snapshot is not None and snapshot.node_id == holder:
        row = dict(snapshot.row)
    else:
        row = record_row(record, STARTING if holder is not None else UNOWNED)
    row["node"] = holder
    row["lease_epoch"] = epoch
    return row


def record_row(record: AccountRecord, state: str) -> dict[str, Any]:
    """A status row from the account's record alone: no node reports it (counters unknown)."""
    return {
        "id": record.account_id,
        "user_id": record.user_id,
        "state": state,
        "enabled": record.enabled,
        "cookie_version": record.active_version,
        "unsaved": False,
        "online_since": None,
        "restarts": None,
        "crashes": None,
        "reconnects": None,
        "last_error": None,
        "received": None,
        "replied": None,
        "login_budget_left": None,
        "session_expires_at": None,
        "last_renewal_at": None,
    }
