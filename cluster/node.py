"""One cluster node's parts, assembled: the lease keeper, the operation runner, the routing
control API (docs/cluster.md). ``service.app`` builds a ``ClusterNode`` when the database is
PostgreSQL and drives it through ``join`` → ``hooks`` → ``attach`` → ``start`` → ``pause`` →
``leave``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import structlog

from cluster.identity import NodeIdentity
from cluster.keeper import LEASE_CHANNEL, LeaseKeeper
from common.settings import Settings
from storage import Store
from storage.listener import Listener
from supervisor import ClusterHooks, SupervisorClient

log = structlog.get_logger(__name__)


class ClusterNode:
    """This process as a node of the cluster of ``store``'s (PostgreSQL) database."""

    def __init__(self, store: Store, settings: Settings, *, database_url: str) -> None:
        self.identity = NodeIdentity.of_this_process(Path(settings.data_dir), settings.node_id)
        self._store = store
        self._settings = settings
        self._url = database_url
        self.keeper = LeaseKeeper(
            store,
            self.identity,
            settings.timings,
            listener=lambda: Listener(database_url, [LEASE_CHANNEL]),
        )
        self._extras: list[Any] = []  # started after the keeper, stopped before it

    @property
    def node_id(self) -> str:
        return self.identity.node_id

    def join(self) -> ClusterNode:
        """Register under this node's id (``NodeIdInUseError`` if a live node has it)."""
        self.keeper.register()
        return self

    @property
    def hooks(self) -> ClusterHooks:
        return ClusterHooks(lease_valid=self.keeper.valid, on_added=self.keeper.wake)

    def attach(self, client: SupervisorClient) -> None:
        self.keeper.attach(client)

    def start(self) -> ClusterNode:
        self.keeper.start()
        for part in self._extras:
            part.start()
        log.info("cluster_node_started", node=self.node_id)
        return self

    def pause(self) -> None:
        """Stop claiming and running remote operations (before the supervisor shuts down)."""
        for part in reversed(self._extras):
            part.stop()
        self.keeper.pause()

    def leave(self) -> None:
        """Release every lease and the node's row (after the supervisor shut down)."""
        self.keeper.stop()
