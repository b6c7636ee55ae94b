"""What the cluster modules need from the ``Store`` (storage/cluster*.py), as protocols.

Records are read through read-only properties, so the Store's frozen dataclasses
(``NodeRecord``, ``Lease``, ``Operation``, ``Snapshot``) match them, and so does the
in-memory fake of the tests. Parameters every caller passes by position are
positional-only here: the Store may name them as it likes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from storage import AccountRecord

# NOTIFY channels (docs/cluster.md)
OPS_CHANNEL = "xianyu_ops"  # an operation was queued (payload: its account id)
OP_DONE_CHANNEL = "xianyu_op_done"  # an operation finished (payload: its id)


class NodeView(Protocol):
    @property
    def node_id(self) -> str: ...
    @property
    def host(self) -> str: ...
    @property
    def pid(self) -> int: ...
    @property
    def version(self) -> str: ...
    @property
    def started_at(self) -> datetime: ...
    @property
    def heartbeat_age_s(self) -> float: ...
    @property
    def accounts(self) -> int: ...


class LeaseView(Protocol):
    @property
    def node_id(self) -> str | None: ...
    @property
    def epoch(self) -> int: ...


class OperationView(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def account_id(self) -> str: ...
    @property
    def method(self) -> str: ...
    @property
    def args(self) -> dict[str, Any]: ...
    @property
    def state(self) -> str: ...
    @property
    def result(self) -> dict[str, Any] | None: ...
    @property
    def error(self) -> dict[str, Any] | None: ...


class SnapshotView(Protocol):
    @property
    def node_id(self) -> str: ...
    @property
    def epoch(self) -> int: ...
    @property
    def row(self) -> dict[str, Any]: ...


class OperationStore(Protocol):
    """The operations table: what the caller and the owner of an operation write."""

    def enqueue_operation(
        self, account_id: str, /, *, caller_node: str, method: str, args: dict[str, Any]
    ) -> int: ...
    def claim_operations(
        self, node_id: str, account_ids: Iterable[str], /
    ) -> Sequence[OperationView]: ...
    def finish_operation(
        self,
        op_id: int,
        /,
        *,
        result: dict[str, Any] | None = None,
        error: dict[str, Any] | None = None,
    ) -> None: ...
    def cancel_operation(self, op_id: int, reason: str, /) -> bool: ...
    def get_operation(self, op_id: int, /) -> OperationView: ...


class ClusterStore(OperationStore, Protocol):
    """Everything ``ClusterSupervisor`` reads and writes."""

    def get_account(self, account_id: str, /) -> AccountRecord: ...
    def list_accounts(self) -> list[AccountRecord]: ...
    def snapshots(self) -> Mapping[str, SnapshotView]: ...
    def nodes(self, *, live_within_s: float | None = None) -> Sequence[NodeView]: ...
    def leases(self) -> Mapping[str, LeaseView]: ...
    def pin_account(self, account_id: str, node_id: str | None, /) -> None: ...


class ListenerView(Protocol):
    """``storage.listener.Listener``: NOTIFY wake-ups; never raises a driver error."""

    def wait(self, timeout_s: float, /) -> list[tuple[str, str]]: ...
    def close(self) -> None: ...
