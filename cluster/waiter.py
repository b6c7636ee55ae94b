"""``OperationWaiter``: one thread waits for every operation this node's callers queued.

It wakes on ``NOTIFY xianyu_op_done`` (a listener from ``listener_factory``) and reads the
named operations; an operation it has not seen finish is read again every ``poll_s``
(every 50 ms without a listener; every second with one, for a notice lost while its
connection was down). One thread and one listening connection for all callers, however
many wait at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog

from cluster.ports import OP_DONE_CHANNEL, ListenerView, OperationStore, OperationView
from common.errors import XianyuSupervisorError

log = structlog.get_logger(__name__)

FINISHED = frozenset({"done", "failed"})
NO_LISTENER_POLL_S = 0.05
LISTENER_POLL_S = 1.0
LISTEN_WAIT_S = 0.1  # how soon a new caller's operation is first read


@dataclass
class _Slot:
    done: threading.Event = field(default_factory=threading.Event)
    operation: OperationView | None = None


class OperationWaiter:
    """``wait(op_id, timeout_s) -> Operation | None`` (None: not finished in time)."""

    def __init__(
        self,
        store: OperationStore,
        *,
        listener_factory: Callable[[], ListenerView] | None = None,
        poll_s: float | None = None,
    ) -> None:
        self._store = store
        self._listener_factory = listener_factory
        default = NO_LISTENER_POLL_S if listener_factory is None else LISTENER_POLL_S
        self._poll_s = default if poll_s is None else poll_s
        self._slots: dict[int, _Slot] = {}
        self._fresh: set[int] = set()  # not read since they were registered
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
        self._thread: threading.Thread | None = None
        self._listener: ListenerView | None = None

    def wait(self, op_id: int, timeout_s: float) -> OperationView | None:
        slot = _Slot()
        with self._lock:
            if self._closed:
                return None
            self._slots[op_id] = slot
            self._fresh.add(op_id)
            self._ensure_thread()
        self._wake.set()
        try:
            slot.done.wait(timeout_s)
        finally:
            with self._lock:
                self._slots.pop(op_id, None)
                self._fresh.discard(op_id)
        return slot.operation

    def close(self) -> None:
        """Stop the thread (bounded); callers still waiting get None at their deadline."""
        with self._lock:
            self._closed = True
            thread, listener = self._thread, self._listener
        self._wake.set()
        if listener is not None:
            listener.close()
        if thread is not None:
            thread.join(timeout=5.0)

    def _ensure_thread(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="cluster-op-waiter", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        if self._listener_factory is not None:
            listener = self._listener_factory()
            with self._lock:
                self._listener = listener
                closed = self._closed
            if closed:
                listener.close()
        last_poll = time.monotonic()
        while True:
            notified = self._next_wakeup()
            with self._lock:
                if self._closed:
                    break
                due = time.monotonic() - last_poll >= self._poll_s
                ids = set(self._slots) if due else (notified | self._fresh) & set(self._slots)
                self._fresh.clear()
            if due:
                last_poll = time.monotonic()
            for op_id in sorted(ids):
                self._check(op_id)
        if self._listener is not None:
            self._listener.close()

    def _next_wakeup(self) -> set[int]:
        """The ids named by notices, after at most one short wait."""
        if self._listener is None:
            self._wake.wait(self._poll_s)
            self._wake.clear()
            return set()
        self._wake.clear()
        notes = self._listener.wait(LISTEN_WAIT_S)
        return {int(p) for channel, p in notes if channel == OP_DONE_CHANNEL and p.isdigit()}

    def _check(self, op_id: int) -> None:
        try:
            operation = self._store.get_operation(op_id)
        except XianyuSupervisorError as exc:  # database down: the next round reads again
            log.warning("cluster_operation_read_failed", operation_id=op_id, error=str(exc))
            return
        if operation.state not in FINISHED:
            return
        with self._lock:
            slot = self._slots.get(op_id)
        if slot is not None:
            slot.operation = operation
            slot.done.set()
