"""The watcher: once a second, what changed (status, new events) → policy → outbox.

It observes the service from outside, like an operator running ``ctl status`` and
``ctl events``: it reads ``status()`` through the supervisor's client and the new rows of
the event log from the store, and knows nothing of the actors or the supervisor's
insides. Decisions and the notices they produce are written in one transaction, then
the delivery worker is woken.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import structlog

from common.errors import XianyuSupervisorError
from notify.compose import destinations, notices
from notify.policy import Policy
from notify.signals import event_signals, status_signals
from storage import Store
from storage.outbox import NewNotice, NotifyCondition

log = structlog.get_logger(__name__)

EVENT_BATCH = 1000


class StatusSource(Protocol):
    """The part of ``supervisor.SupervisorClient`` the watcher reads."""

    def status(self, account_id: str | None = None) -> Mapping[str, Any]: ...


class Watcher:
    """Feeds the policy from the service's status and event log; one thread."""

    def __init__(
        self,
        store: Store,
        source: StatusSource,
        policy: Policy,
        *,
        global_urls: Sequence[str],
        poll_s: float,
        on_enqueued: Callable[[], None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._source = source
        self._policy = policy
        self._global_urls = tuple(global_urls)
        self._poll_s = poll_s
        self._on_enqueued = on_enqueued
        self._clock = clock
        self._cursor = store.last_event_id()  # what happened before this start is not news
        # decisions whose write failed: written with the next one (the policy has moved on)
        self._unsaved: tuple[list[NotifyCondition], list[NewNotice]] = ([], [])
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.polls = 0  # looks completed (tests wait on it instead of sleeping)

    def start(self) -> Watcher:
        self._thread = threading.Thread(target=self._run, name="notify-watcher", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stopping.wait(self._poll_s):
            try:
                self.poll_once()
            except XianyuSupervisorError as exc:  # the supervisor busy or stopping; next time
                log.warning("notify_watch_failed", error=str(exc))
            except Exception:  # survival boundary: keep watching
                log.exception("notify_watch_crashed")

    def poll_once(self) -> list[NewNotice]:
        """One look: feed what changed to the policy, persist, enqueue; returns the notices."""
        url_map = self._store.notify_url_map()
        if not self._global_urls and not url_map:
            # nowhere to tell anyone: watch nothing (and cost the supervisor nothing), so
            # that what is wrong when a URL is added is news then, not "already told"
            self._cursor = self._store.last_event_id()
            self.polls += 1
            return []
        events = self._store.events_after(self._cursor, limit=EVENT_BATCH)
        rows = self._source.status()["accounts"]
        # every read before the policy moves: a failing read leaves it as it was
        where = destinations(self._global_urls, url_map)
        now = self._clock()
        signals = event_signals(record for _, record in events)
        signals += status_signals(rows, self._policy.tracked_accounts())
        for signal in signals:
            self._policy.observe(signal, now)
        decision = self._policy.tick(now)
        queued: list[NewNotice] = []
        for group in decision.groups:
            queued += notices(group, where)
        if events:
            self._cursor = events[-1][0]
        changed = [*self._unsaved[0], *decision.changed]
        queued = [*self._unsaved[1], *queued]
        self._unsaved = (changed, queued)
        self._store.save_notify_state(changed, queued, now=now)
        self._unsaved = ([], [])
        self.polls += 1
        if queued:
            log.info("notices_queued", count=len(queued), kinds=sorted({n.kind for n in queued}))
            self._on_enqueued()
        return queued
