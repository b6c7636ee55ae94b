"""The delivery worker: one thread that empties the outbox, retrying with back-off.

It is the only thread that waits on a notification endpoint, so a dead or slow one delays
nothing but other notices: accounts, replies and the supervisor never wait for it. Each
row is claimed before its send and finished after it (``storage.outbox``): ``sent``; on a
failure pending again with ``Timings.notify_backoff``, and ``failed`` after
``notify_attempts`` tries or at once when the URL itself is unusable.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable

import structlog

from common.errors import StorageError
from common.secret_urls import url_label
from common.settings import Backoff
from notify.kinds import wording
from notify.sender import Send, SendResult, send
from storage import Store
from storage.outbox import NOTICE_FAILED, NOTICE_SENT, OutboxNotice

log = structlog.get_logger(__name__)

# the longest the worker sleeps without looking at the outbox (a row written by another
# path than ``wake``), and after a storage error
IDLE_S = 5.0
BATCH = 50


class DeliveryWorker:
    """Sends due outbox rows on its own thread; ``wake()`` after enqueueing."""

    def __init__(
        self,
        store: Store,
        *,
        backoff: Backoff,
        attempts: int,
        sender: Send = send,
        clock: Callable[[], float] = time.time,
        rand: Callable[[], float] = random.random,
    ) -> None:
        if attempts < 1:
            raise ValueError(f"notify_attempts must be at least 1, got {attempts}")
        self._store = store
        self._backoff = backoff
        self._attempts = attempts
        self._send = sender
        self._clock = clock
        self._rand = rand
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> DeliveryWorker:
        self._thread = threading.Thread(target=self._run, name="notify-delivery", daemon=True)
        self._thread.start()
        return self

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 2.0) -> None:
        """Stop after the send in progress, waiting at most ``timeout`` for it: the thread is
        a daemon, and a row whose send outlives the service is ``uncertain`` at the next boot."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("notify_delivery_still_sending", timeout_s=timeout)

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self.deliver_due()
                wait_s = self._until_next()
            except StorageError:
                if self._stopping.is_set():
                    break  # the store closed under a send: that row is found claimed at boot
                log.exception("notify_delivery_storage_failed")
                wait_s = IDLE_S
            except Exception:  # survival boundary: the worker must keep going
                log.exception("notify_delivery_crashed")
                wait_s = IDLE_S
            self._wake.wait(wait_s)
            self._wake.clear()

    def _until_next(self) -> float:
        due = self._store.next_notice_due()
        if due is None:
            return IDLE_S
        return min(IDLE_S, max(0.0, due.timestamp() - self._clock()))

    def deliver_due(self) -> int:
        """Send every row that is due now; returns how many were tried."""
        tried = 0
        while not self._stopping.is_set():
            due = self._store.due_notices(self._clock(), limit=BATCH)
            for notice in due:
                if self._stopping.is_set():
                    break
                tried += self._deliver(notice)
            if len(due) < BATCH:
                break
        return tried

    def _deliver(self, notice: OutboxNotice) -> int:
        if not self._store.claim_notice(notice.id, self._clock()):
            return 0
        attempt = notice.attempts + 1
        words = wording(notice.kind)
        result: SendResult = self._send(notice.url, notice.title, notice.body, words.notify_type)
        now = self._clock()
        where = url_label(notice.url)
        if result.ok:
            self._store.finish_notice(notice.id, NOTICE_SENT, now=now)
            log.info("notice_sent", notice=notice.id, kind=notice.kind, url=where, attempt=attempt)
        elif result.permanent or attempt >= self._attempts:
            self._store.finish_notice(notice.id, NOTICE_FAILED, now=now, error=result.error)
            log.warning(
                "notice_failed", notice=notice.id, kind=notice.kind, url=where, error=result.error
            )
        else:
            delay = self._backoff.delay(attempt - 1, self._rand())
            self._store.retry_notice(notice.id, at=now + delay, error=result.error)
            log.info(
                "notice_retry",
                notice=notice.id,
                kind=notice.kind,
                url=where,
                attempt=attempt,
                delay_s=round(delay, 3),
            )
        return 1
