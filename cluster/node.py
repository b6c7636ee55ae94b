"""One cluster node's parts, assembled: the lease keeper, the operation runner, the routing
control API (docs/cluster.md). ``service.app`` builds a ``ClusterNode`` when the database is
PostgreSQL and drives it through ``join`` → (``lease_valid``, ``account_added`` as the
supervisor's ``ClusterHooks``) → ``attach`` → ``start`` → ``pause`` → ``leave``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import structlog

from cluster.identity import NodeIdentity
from cluster.keeper import LEASE_CHANNEL, LeaseKeeper
from cluster.operations import OperationRunner
from cluster.ports import OP_DONE_CHANNEL, OPS_CHANNEL, NodeSupervisor
from cluster.routing import ClusterSupervisor
from cluster.waiter import OperationWaiter
from common.settings import Settings
from control.dispatch import SupervisorApi
from storage import Store
from storage.listener import Listener

log = structlog.get_logger(__name__)


class LocalSupervisor(NodeSupervisor, SupervisorApi, Protocol):
    """``supervisor.SupervisorClient`` as a node uses it: driven by the keeper, serving the
    operations routed here and this node's share of the control API."""


class ClusterNode:
    """This process as a node of the cluster of ``store``'s (PostgreSQL) database."""

    def __init__(self, store: Store, settings: Settings, *, database_url: str) -> None:
        self.identity = NodeIdentity.of_this_process(Path(settings.data_dir), settings.node_id)
        self._store = store
        self._settings = settings
        self._url = database_url
        # the keeper's own connection: lease renewals must not queue behind the replies
        self._lease_store = Store.open(database_url)
        self.keeper = LeaseKeeper(
            store,
            self.identity,
            settings.timings,
            listener=lambda: Listener(database_url, [LEASE_CHANNEL]),
            lease_store=self._lease_store,
        )
        self.routing: ClusterSupervisor | None = None
        self._runner: OperationRunner | None = None
        self._waiter: OperationWaiter | None = None

    @property
    def node_id(self) -> str:
        return self.identity.node_id

    def join(self) -> ClusterNode:
        """Register under this node's id (``NodeIdInUseError`` if a live node has it)."""
        try:
            self.keeper.register()
        except BaseException:
            self._lease_store.close()
            raise
        return self

    def lease_valid(self, account_id: str) -> bool:
        """The supervisor's fences ask this before every send (no database call)."""
        return self.keeper.valid(account_id)

    def account_added(self, account_id: str) -> None:
        """An account was added through this node: claim it soon (any node may)."""
        self.keeper.wake(account_id)

    def attach(self, client: LocalSupervisor) -> ClusterSupervisor:
        """Drive ``client`` (the local supervisor); returns the control API that serves every
        account of the cluster (the local ones here, the others through their owners)."""
        url, timings = self._url, self._settings.timings
        self._waiter = OperationWaiter(
            self._store, listener_factory=lambda: Listener(url, [OP_DONE_CHANNEL])
        )
        self._runner = OperationRunner(
            self._store,
            client,
            node_id=self.node_id,
            held=self.keeper.held,
            poll_s=timings.lease_renew_s,
            listener_factory=lambda: Listener(url, [OPS_CHANNEL]),
        )
        self.keeper.attach(client, on_claimed=self._runner.wake)
        self.routing = ClusterSupervisor(
            client,
            self._store,
            node_id=self.node_id,
            held=self.keeper.held,
            timeout_s=timings.operation_timeout_s,
            wait_done=self._waiter.wait,
            live_within_s=timings.lease_ttl_s,
        )
        return self.routing

    def start(self) -> ClusterNode:
        self.keeper.start()
        if self._runner is not None:
            self._runner.start()
        log.info("cluster_node_started", node=self.node_id)
        return self

    def pause(self) -> None:
        """Stop claiming and running remote operations (before the supervisor shuts down)."""
        if self._runner is not None:
            self._runner.stop()
        if self.routing is not None:
            self.routing.close()
        if self._waiter is not None:
            self._waiter.close()
        self.keeper.pause()

    def leave(self) -> None:
        """Release every lease and the node's row (after the supervisor shut down)."""
        try:
            self.keeper.stop()
        finally:
            self._lease_store.close()
