"""An update storm: cookie updates on random accounts, paced, through the control socket.

Each update takes a fresh valid login session of that account's seller from the simulator
and sends ``update`` with ``wait: true`` on a worker's own control connection. Two updates
of one account are never in flight together (the second would only queue behind the first).
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from common.errors import XianyuSupervisorError
from harness.service import ControlClient, ServiceProcess
from harness.sim import SimRig

_WORKERS = 16


@dataclass(frozen=True)
class UpdateRecord:
    account: str
    started: float  # perf_counter when the request was sent
    finished: float  # perf_counter when the answer came back (or the request failed)
    outcome: str  # the service's outcome, or "error: <code>"
    swap_ms: float | None  # as the service measured it: update accepted -> new session registered

    @property
    def round_trip_ms(self) -> float:
        return (self.finished - self.started) * 1000.0


class Storm:
    """``count`` updates at ``rate_per_s`` over ``accounts`` (name → seller id)."""

    def __init__(
        self,
        rig: SimRig,
        service: ServiceProcess,
        accounts: dict[str, str],
        *,
        count: int,
        rate_per_s: float,
        workers: int = _WORKERS,
        seed: int = 7,
    ) -> None:
        self._rig = rig
        self._service = service
        self._accounts = accounts
        self._count = count
        self._gap_s = 1.0 / rate_per_s if rate_per_s > 0 else 0.0
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="bench-update")
        self._local = threading.local()
        self._clients: list[ControlClient] = []
        self._busy: set[str] = set()
        self._lock = threading.Lock()
        self._random = random.Random(seed)
        self._stop = threading.Event()
        self.records: list[UpdateRecord] = []
        self.started = 0.0
        self.finished = 0.0

    def run(self) -> None:
        """Send every update (paced), wait for all answers; stops early on ``stop()``."""
        self.started = time.perf_counter()
        futures: list[Future[None]] = []
        for index in range(self._count):
            if self._stop.wait(max(0.0, self.started + index * self._gap_s - time.perf_counter())):
                break
            account = self._pick()
            if account is None:
                continue
            futures.append(self._pool.submit(self._update, account))
        for future in futures:
            future.result()
        self.finished = time.perf_counter()

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        self._stop.set()
        self._pool.shutdown(wait=True, cancel_futures=True)
        for client in self._clients:
            client.close()

    def busy_intervals(self, margin_s: float) -> dict[str, list[tuple[float, float]]]:
        """Account → the times it was being updated (widened by ``margin_s`` after)."""
        out: dict[str, list[tuple[float, float]]] = {}
        for r in self.records:
            out.setdefault(r.account, []).append((r.started, r.finished + margin_s))
        return out

    def outcomes(self) -> dict[str, int]:
        return dict(Counter(r.outcome for r in self.records))

    def _pick(self) -> str | None:
        with self._lock:
            idle = [a for a in self._accounts if a not in self._busy]
            if not idle:
                return None
            account = self._random.choice(idle)
            self._busy.add(account)
            return account

    def _client(self) -> ControlClient:
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._service.client()
            self._local.client = client
            with self._lock:
                self._clients.append(client)
        return client

    def _update(self, account: str) -> None:
        cookie = self._rig.fresh_cookie(self._accounts[account])
        started = time.perf_counter()
        outcome, swap_ms = "error", None
        try:
            result = self._client().call("update", account=account, cookie=cookie, wait=True)
            outcome, swap_ms = str(result.get("outcome")), result.get("swap_ms")
        except XianyuSupervisorError as exc:  # a failed update is a figure, not a crash
            outcome = f"error: {getattr(exc, 'code', type(exc).__name__)}"
            self._local.client = None  # the connection may be broken: next call reconnects
        finally:
            with self._lock:
                self._busy.discard(account)
                self.records.append(
                    UpdateRecord(account, started, time.perf_counter(), outcome, swap_ms)
                )
