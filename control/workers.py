"""A bounded pool of daemon worker threads for control requests.

``ThreadPoolExecutor`` joins its (non-daemon) workers at interpreter exit, so one
request stuck in a long supervisor call (an ``update`` waiting out its probation
while the service shuts down) would hold SIGTERM's exit for minutes. These workers
are daemon threads: ``shutdown`` waits for them only up to a deadline.
"""

from __future__ import annotations

import concurrent.futures
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from common.errors import NotRunningError

_Item = tuple[concurrent.futures.Future[Any], Callable[..., Any], tuple[Any, ...], dict[str, Any]]


class DaemonWorkers(concurrent.futures.Executor):
    """Up to ``max_workers`` daemon threads, started on demand, fed from one queue."""

    def __init__(self, max_workers: int, *, name: str) -> None:
        self._max = max_workers
        self._name = name
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._pending = 0  # queued or running
        self._closed = False

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        with self._lock:
            if self._closed:
                raise NotRunningError("the control workers are shut down")
            self._queue.put((future, fn, args, kwargs))
            self._pending += 1
            if self._pending > len(self._threads) and len(self._threads) < self._max:
                self._spawn()
        return future

    def _spawn(self) -> None:
        thread = threading.Thread(
            target=self._work, name=f"{self._name}-{len(self._threads)}", daemon=True
        )
        self._threads.append(thread)
        thread.start()

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            future, fn, args, kwargs = item
            if not future.set_running_or_notify_cancel():
                self._done()
                continue
            try:
                result = fn(*args, **kwargs)
            # not swallowed: the waiter's future.result() re-raises it with its traceback
            except BaseException as exc:  # noqa: BLE001
                self._done()
                future.set_exception(exc)
            else:
                # free before the waiter wakes, so its next request reuses this thread
                self._done()
                future.set_result(result)

    def _done(self) -> None:
        with self._lock:
            self._pending -= 1

    def shutdown(
        self, wait: bool = True, *, cancel_futures: bool = False, timeout: float | None = None
    ) -> None:
        """Stop taking work; with ``wait``, join the workers (each within ``timeout``)."""
        with self._lock:
            self._closed = True
            threads = list(self._threads)
        if cancel_futures:
            self._cancel_queued()
        for _ in threads:
            self._queue.put(None)
        if wait:
            deadline = None if timeout is None else time.monotonic() + timeout
            for thread in threads:
                left = None if deadline is None else max(0.0, deadline - time.monotonic())
                thread.join(timeout=left)

    def alive(self) -> int:
        """How many workers are still running (after a timed-out shutdown: the stuck ones)."""
        return sum(t.is_alive() for t in self._threads)

    def _cancel_queued(self) -> None:
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if item is not None:
                item[0].cancel()
