"""notify.delivery: the outbox worker with a real store and real apprise, run step by step on
a clock the test moves (``deliver_due``), and as its thread."""

from __future__ import annotations

import socket
import time

from common.settings import Backoff
from notify.delivery import DeliveryWorker
from storage import Store
from storage.outbox import NewNotice
from tests.plugins.timing import wait_for
from tests.plugins.webhook import Webhook


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def dead_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"json://127.0.0.1:{probe.getsockname()[1]}/hook"


def enqueue(store: Store, url: str, now: float) -> int:
    notice = NewNotice("needs_cookie", ("a",), "a needs a new cookie", "- a: expired", url)
    (nid,) = store.save_notify_state([], [notice], now=now)
    return nid


def worker(store: Store, clock: Clock, attempts: int = 3) -> DeliveryWorker:
    backoff = Backoff(base_s=10.0, cap_s=40.0, jitter=0.0)
    return DeliveryWorker(store, backoff=backoff, attempts=attempts, clock=clock, rand=lambda: 0.0)


def status(store: Store, nid: int) -> tuple[str, int, str]:
    (row,) = [n for n in store.notices() if n.id == nid]
    return row.status, row.attempts, row.error


def test_a_failing_endpoint_is_retried_with_back_off_then_given_up(sqlite_store: Store) -> None:
    clock = Clock()
    nid = enqueue(sqlite_store, dead_url(), clock.now)
    w = worker(sqlite_store, clock)
    assert w.deliver_due() == 1
    assert status(sqlite_store, nid)[:2] == ("pending", 1)
    clock.now += 9.9
    assert w.deliver_due() == 0  # the back-off is 10 s, then 20 s
    clock.now += 0.1
    assert w.deliver_due() == 1
    clock.now += 20.0
    assert w.deliver_due() == 1
    state, attempts, error = status(sqlite_store, nid)
    assert (state, attempts) == ("failed", 3) and "refused the notice or did not answer" in error
    clock.now += 1000
    assert w.deliver_due() == 0


def test_an_unusable_url_fails_at_once(sqlite_store: Store) -> None:
    clock = Clock()
    nid = enqueue(sqlite_store, "nosuchservice://token", clock.now)
    assert worker(sqlite_store, clock).deliver_due() == 1
    state, attempts, error = status(sqlite_store, nid)
    assert (state, attempts) == ("failed", 1) and "not one apprise can use" in error
    assert "token" not in error


def test_the_thread_delivers_what_is_due_and_what_comes_later(
    sqlite_store: Store, webhook: Webhook
) -> None:
    first = enqueue(sqlite_store, webhook.url, 0)  # long due
    w = DeliveryWorker(sqlite_store, backoff=Backoff(0.05, 0.1), attempts=3).start()
    try:
        webhook.wait(1)
        second = enqueue(sqlite_store, webhook.url, time.time())
        w.wake()
        assert [p["title"] for p in webhook.wait(2)] == ["a needs a new cookie"] * 2
        wait_for(lambda: status(sqlite_store, second)[0] == "sent", what="the second sent")
        assert status(sqlite_store, first)[:2] == ("sent", 1)
    finally:
        w.stop()
