"""Periodic chores kept off the hot path: forgetting processed message ids past retention,
and keeping the garbage collector's full passes short.

The processed-id table is what makes replies exactly-once across restarts; it only needs
to reach back as far as a backfill can (the sync cursor), so old rows are pruned on a timer
that runs on the shared IO loop and does its database work in a worker thread.

The heap: a thousand accounts keep ~300,000 long-lived objects (actors, sessions,
connections). Each full pass of the cyclic garbage collector walks all of them with the GIL
held, 100-200 ms in which no account answers. Once the accounts are up, and then once per
interval, ``settle_heap`` collects and freezes what lives (``gc.freeze``): later passes only
walk what was allocated since (twice at boot: 5 s and 15 s in, the second taking in the
connections still being made at the first). Unfreezing first lets that pass free cycles
that died since the last one (a replaced session): nothing stays frozen past an interval.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import time

import structlog

from common.errors import StorageError
from common.io_loop import IoLoop
from storage import Store

log = structlog.get_logger(__name__)

DEFAULT_INTERVAL_S = 3600.0
# the first settle_heap: the accounts started at boot are up or nearly (1,000 in ~5 s);
# a second one this many times later takes in the last of their connections
DEFAULT_SETTLE_AFTER_S = 5.0
_SECOND_SETTLE_FACTOR = 3


class Housekeeping:
    """Prunes processed message ids older than ``retention_s``, every ``interval_s``."""

    def __init__(
        self,
        store: Store,
        io: IoLoop,
        *,
        retention_s: float,
        interval_s: float = DEFAULT_INTERVAL_S,
        settle_after_s: float = DEFAULT_SETTLE_AFTER_S,
    ) -> None:
        self._store = store
        self._io = io
        self._retention_s = retention_s
        self._interval_s = interval_s
        self._settle_after_s = settle_after_s
        self._tasks: list[concurrent.futures.Future[None]] = []

    def start(self) -> Housekeeping:
        self._tasks = [
            self._io.submit(self._every_interval()),
            self._io.submit(self._settle_after_boot()),
        ]
        return self

    def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()

    def prune_now(self) -> int:
        """One round, in the calling thread; returns how many ids were forgotten."""
        pruned = self._store.prune_processed(time.time() - self._retention_s)
        if pruned:
            log.info("processed_ids_pruned", count=pruned)
        return pruned

    @staticmethod
    def settle_heap() -> int:
        """Collect, then freeze what survives out of later collections; returns the count."""
        gc.unfreeze()
        gc.collect()
        gc.freeze()
        return gc.get_freeze_count()

    async def _settle_after_boot(self) -> None:
        await asyncio.sleep(self._settle_after_s)
        log.debug("heap_settled", frozen=self.settle_heap())
        await asyncio.sleep(self._settle_after_s * (_SECOND_SETTLE_FACTOR - 1))
        log.debug("heap_settled", frozen=self.settle_heap())

    async def _every_interval(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            await asyncio.to_thread(self._prune_logged)
            log.debug("heap_settled", frozen=self.settle_heap())

    def _prune_logged(self) -> None:
        # a failed round is logged and retried next time; it must never stop the timer
        try:
            self.prune_now()
        except StorageError as exc:
            log.warning("housekeeping_failed", error=str(exc))
