"""The rows of the ``nodes`` command: the cluster's live nodes, or this one process.

``{"nodes": [{"id", "host", "pid", "accounts", "heartbeat_age_s", "started_at",
"version"}]}``: ``started_at`` ISO-8601 UTC, ``heartbeat_age_s`` rounded to 0.1 s.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from cluster.ports import NodeView
from control.dispatch import NEEDS_CLUSTER, service_version
from control.errors import BAD_REQUEST, ControlError


def _iso(moment: datetime | float) -> str:
    if isinstance(moment, int | float):
        return datetime.fromtimestamp(moment, tz=UTC).isoformat()
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat()


def node_row(node: NodeView) -> dict[str, Any]:
    """One registered node as ``nodes`` shows it."""
    return {
        "id": node.node_id,
        "host": node.host,
        "pid": node.pid,
        "accounts": node.accounts,
        "heartbeat_age_s": round(node.heartbeat_age_s, 1),
        "started_at": _iso(node.started_at),
        "version": node.version,
    }


def node_rows(nodes: Iterable[NodeView]) -> dict[str, Any]:
    return {"nodes": [node_row(n) for n in sorted(nodes, key=lambda n: n.node_id)]}


def local_node_row(
    node_id: str, started_at: datetime | float, accounts: int, *, version: str | None = None
) -> dict[str, Any]:
    """This process as the one node of a SQLite service (``started_at``: epoch seconds or
    a datetime; its heartbeat is now)."""
    return {
        "id": node_id,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "accounts": accounts,
        "heartbeat_age_s": 0.0,
        "started_at": _iso(started_at),
        "version": version or service_version(),
    }


class SingleNode:
    """``control.dispatch.ClusterApi`` of a SQLite service: one node, nothing to pin to."""

    def __init__(
        self,
        node_id: str,
        started_at: datetime | float,
        accounts: Callable[[], int],
        *,
        version: str | None = None,
    ) -> None:
        self._node_id = node_id
        self._started_at = started_at
        self._accounts = accounts
        self._version = version

    def nodes(self) -> dict[str, Any]:
        row = local_node_row(
            self._node_id, self._started_at, self._accounts(), version=self._version
        )
        return {"nodes": [row]}

    def pin(self, account_id: str, node: str | None) -> Any:
        raise ControlError(BAD_REQUEST, NEEDS_CLUSTER)
