"""Periodic chores kept off the hot path: forgetting processed message ids past retention.

The processed-id table is what makes replies exactly-once across restarts; it only needs
to reach back as far as a backfill can (the sync cursor), so old rows are pruned on a timer
that runs on the shared IO loop and does its database work in a worker thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import time

import structlog

from common.errors import StorageError
from common.io_loop import IoLoop
from storage import Store

log = structlog.get_logger(__name__)

DEFAULT_INTERVAL_S = 3600.0


class Housekeeping:
    """Prunes processed message ids older than ``retention_s``, every ``interval_s``."""

    def __init__(
        self,
        store: Store,
        io: IoLoop,
        *,
        retention_s: float,
        interval_s: float = DEFAULT_INTERVAL_S,
    ) -> None:
        self._store = store
        self._io = io
        self._retention_s = retention_s
        self._interval_s = interval_s
        self._task: concurrent.futures.Future[None] | None = None

    def start(self) -> Housekeeping:
        self._task = self._io.submit(self._every_interval())
        return self

    def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()

    def prune_now(self) -> int:
        """One round, in the calling thread; returns how many ids were forgotten."""
        pruned = self._store.prune_processed(time.time() - self._retention_s)
        if pruned:
            log.info("processed_ids_pruned", count=pruned)
        return pruned

    async def _every_interval(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            # a failed round is logged and retried next time; it must never stop the timer
            with contextlib.suppress(StorageError):
                await asyncio.to_thread(self._prune_logged)

    def _prune_logged(self) -> None:
        try:
            self.prune_now()
        except StorageError:
            log.warning("housekeeping_failed", exc_info=True)
            raise
