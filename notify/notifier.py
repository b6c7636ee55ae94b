"""``Notifier``: the notification machinery of one service, started and stopped as one part.

``Notifier(store, client, settings).start()`` turns claimed-but-unfinished outbox rows of a
previous run into ``uncertain``, loads the persisted conditions into the policy, and starts
the watcher and the delivery worker; ``stop()`` stops both. ``test()`` is the control
command ``notify_test``; ``check_urls`` is how ``ctl set --notify`` is validated.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import structlog

from common.secret_urls import url_label
from common.settings import Settings
from notify import sender
from notify.delivery import DeliveryWorker
from notify.kinds import TEST, wording
from notify.policy import Policy
from notify.watcher import StatusSource, Watcher
from storage import Store

log = structlog.get_logger(__name__)

TEST_PARALLEL = 8
GLOBAL = "global"


class Notifier:
    def __init__(
        self,
        store: Store,
        source: StatusSource,
        settings: Settings,
        *,
        send: sender.Send | None = None,
    ) -> None:
        self._store = store
        self._source = source
        self._settings = settings
        self._send = send or sender.send
        self._watcher: Watcher | None = None
        self._worker: DeliveryWorker | None = None

    def start(self) -> Notifier:
        settings, timings = self._settings, self._settings.timings
        uncertain = self._store.recover_notices(time.time())
        if uncertain:
            log.warning("notices_uncertain", count=uncertain)
        policy = Policy(
            cooldown_s=settings.notify_cooldown_s,
            group_s=settings.notify_group_s,
            conditions=self._store.notify_conditions(),
        )
        self._worker = DeliveryWorker(
            self._store,
            backoff=timings.notify_backoff,
            attempts=timings.notify_attempts,
            sender=self._send,
        ).start()
        self._watcher = Watcher(
            self._store,
            self._source,
            policy,
            global_urls=settings.notify_urls,
            poll_s=timings.notify_poll_s,
            on_enqueued=self._worker.wake,
        ).start()
        log.info(
            "notifications_started",
            urls=[url_label(u) for u in settings.notify_urls],
            cooldown_s=settings.notify_cooldown_s,
            group_s=settings.notify_group_s,
        )
        return self

    @property
    def polls(self) -> int:
        """How many looks the watcher has completed (0 before ``start``)."""
        return self._watcher.polls if self._watcher is not None else 0

    def stop(self) -> None:
        watcher, self._watcher = self._watcher, None
        worker, self._worker = self._worker, None
        if watcher is not None:
            watcher.stop()
        if worker is not None:
            worker.stop()

    def check_urls(self, urls: Sequence[str]) -> None:
        """Raise ValueError naming (by label) the first URL apprise cannot use."""
        sender.check_urls(tuple(u for u in urls if u))

    def test(self) -> dict[str, Any]:
        """Send a test notice to every configured URL now; one result per URL."""
        targets: dict[str, list[str]] = {url: [GLOBAL] for url in self._settings.notify_urls}
        for account_id, urls in sorted(self._store.notify_url_map().items()):
            for url in urls:
                targets.setdefault(url, []).append(account_id)
        if not targets:
            return {"results": [], "sent": 0, "failed": 0}
        words = wording(TEST)

        def one(url: str) -> sender.SendResult:
            return self._send(url, words.one, words.hint, words.notify_type)

        with ThreadPoolExecutor(max_workers=min(TEST_PARALLEL, len(targets))) as pool:
            outcomes = list(pool.map(one, targets))
        results = [
            {"url": url_label(url), "for": users, "ok": r.ok, "error": r.error or None}
            for (url, users), r in zip(targets.items(), outcomes, strict=True)
        ]
        sent = sum(r.ok for r in outcomes)
        log.info("notify_test", sent=sent, failed=len(outcomes) - sent)
        return {"results": results, "sent": sent, "failed": len(outcomes) - sent}
