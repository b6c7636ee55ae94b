"""``OperationRunner``: this node runs the operations other nodes queued for its accounts.

A thread waits for ``NOTIFY xianyu_ops`` (or polls every ``poll_s``, or is poked by
``wake()`` after the keeper claimed accounts), claims the pending operations of the
accounts this node holds and runs each on the local supervisor; the result or the
error (``{"code", "message"}``, the control socket's codes) goes back into the row.
Operations of one account run in order, those of different accounts in parallel.
Arguments may hold a cookie: they are never logged.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from typing import Any

import structlog

from cluster.ports import OPS_CHANNEL, ListenerView, OperationStore, OperationView
from cluster.routing import ROUTED
from common.errors import XianyuSupervisorError
from control.errors import INTERNAL, UNAVAILABLE, error_code
from control.redact import redact_text

log = structlog.get_logger(__name__)

LISTEN_WAIT_S = 0.2  # how soon wake() and stop() are noticed while listening
STOP_JOIN_S = 10.0


class OperationRunner:
    def __init__(
        self,
        store: OperationStore,
        local: Any,
        *,
        node_id: str,
        held: Callable[[], Mapping[str, int]],
        poll_s: float = 5.0,
        listener_factory: Callable[[], ListenerView] | None = None,
        workers: int = 8,
    ) -> None:
        """``local``: the node's ``SupervisorClient`` (the ``ROUTED`` methods are called);
        ``listener_factory``: a Listener of ``xianyu_ops`` (None: poll only)."""
        self._store = store
        self._local = local
        self._node_id = node_id
        self._held = held
        self._poll_s = poll_s
        self._listener_factory = listener_factory
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cluster-op")
        self._queues: dict[str, deque[OperationView]] = {}  # account → its claimed, unrun ops
        self._futures: set[Future[None]] = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._listener: ListenerView | None = None

    def start(self) -> OperationRunner:
        if self._listener_factory is not None:
            self._listener = self._listener_factory()
        self._thread = threading.Thread(target=self._run, name="cluster-ops", daemon=True)
        self._thread.start()
        return self

    def wake(self) -> None:
        """Claim now (the keeper just claimed accounts: their pending operations run)."""
        self._wake.set()

    def stop(self) -> None:
        """Stop claiming; the operations claimed but not started fail ``unavailable``;
        those running get up to ``STOP_JOIN_S`` to finish."""
        self._stopping.set()
        self._wake.set()
        if self._listener is not None:
            self._listener.close()
        if self._thread is not None:
            self._thread.join(timeout=STOP_JOIN_S)
        with self._lock:
            left = [op for queue in self._queues.values() for op in queue]
            for queue in self._queues.values():
                queue.clear()
            futures = set(self._futures)
        for op in left:
            self._finish(op, error={"code": UNAVAILABLE, "message": self._stopped_text(op)})
        self._pool.shutdown(wait=False)
        wait_futures(futures, timeout=STOP_JOIN_S)

    # --- the claiming thread ----------------------------------------------------------------

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._claim()
            self._sleep()

    def _sleep(self) -> None:
        """Until a notice, ``wake()``, ``stop()`` or ``poll_s``."""
        if self._listener is None:
            self._wake.wait(self._poll_s)
            self._wake.clear()
            return
        waited = 0.0
        while waited < self._poll_s and not self._wake.is_set():
            if any(ch == OPS_CHANNEL for ch, _ in self._listener.wait(LISTEN_WAIT_S)):
                break
            waited += LISTEN_WAIT_S
        self._wake.clear()

    def _claim(self) -> None:
        held = list(self._held())
        if not held:
            return
        try:
            claimed = self._store.claim_operations(self._node_id, held)
        except XianyuSupervisorError as exc:  # database down: the next round tries again
            log.warning("cluster_operations_claim_failed", error=redact_text(str(exc)))
            return
        for op in claimed:
            self._enqueue(op)

    def _enqueue(self, op: OperationView) -> None:
        with self._lock:
            queue = self._queues.get(op.account_id)
            if queue is not None:  # the account's worker is busy: it runs this one next
                queue.append(op)
                return
            self._queues[op.account_id] = deque([op])
            future = self._pool.submit(self._drain, op.account_id)
            self._futures.add(future)
        future.add_done_callback(self._forget)

    def _forget(self, future: Future[None]) -> None:
        with self._lock:
            self._futures.discard(future)

    # --- the workers ------------------------------------------------------------------------

    def _drain(self, account_id: str) -> None:
        """Run ``account_id``'s queued operations one after the other."""
        while True:
            with self._lock:
                queue = self._queues.get(account_id)
                if not queue:
                    self._queues.pop(account_id, None)
                    return
                op = queue.popleft()
            self._run_one(op)

    def _run_one(self, op: OperationView) -> None:
        bound = log.bind(account=op.account_id, operation=op.method, operation_id=op.id)
        if op.method not in ROUTED:
            message = f"{op.method!r} is not a command another node can ask for"
            self._finish(op, error={"code": "bad_request", "message": message})
            return
        if op.account_id not in self._held():
            message = (
                f"node {self._node_id} no longer holds account {op.account_id!r} "
                "(it is moving between nodes); try again"
            )
            self._finish(op, error={"code": UNAVAILABLE, "message": message})
            return
        try:
            result = getattr(self._local, op.method)(op.account_id, **op.args)
        # survival boundary: whatever the supervisor raises, the caller gets an answer
        except Exception as exc:  # noqa: BLE001
            self._finish(op, error=_error(exc, bound))
            return
        bound.info("cluster_operation_done")
        self._finish(op, result=dict(result or {}))

    def _finish(
        self,
        op: OperationView,
        *,
        result: dict[str, Any] | None = None,
        error: dict[str, Any] | None = None,
    ) -> None:
        try:
            self._store.finish_operation(op.id, result=result, error=error)
        except XianyuSupervisorError as exc:
            # the caller times out; the next owner's claim resolves the row
            log.warning(
                "cluster_operation_finish_failed",
                account=op.account_id,
                operation_id=op.id,
                error=redact_text(str(exc)),
            )

    def _stopped_text(self, op: OperationView) -> str:
        return f"node {self._node_id} stopped before running {op.method}; try again"


def _error(exc: BaseException, bound: Any) -> dict[str, str]:
    """``{"code", "message"}`` as the control socket would have answered ``exc``."""
    code = error_code(exc)
    if code != INTERNAL or isinstance(exc, XianyuSupervisorError):
        if code == INTERNAL:
            bound.error("cluster_operation_failed", error=redact_text(str(exc)), exc_info=exc)
        message = str(exc)
    else:
        bound.error("cluster_operation_crashed", error_type=type(exc).__name__, exc_info=exc)
        message = f"internal error ({type(exc).__name__}); the owner node's log has the traceback"
    return {"code": code, "message": redact_text(message) or code}
