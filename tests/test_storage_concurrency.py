"""Many threads at once: no lost write, no "database is locked" escaping to callers.

And another process holding the SQLite file: a clear StorageError after the busy timeout.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from common.errors import StorageError
from storage import ACTIVE, SOURCE_ADMIN, Store
from tests.plugins.storage import sqlite_url

THREADS = 50
ROUNDS = 1


def run_threads(count: int, work: Callable[[int], None]) -> None:
    """Start ``count`` threads at the same moment; re-raise the first error any of them hit."""
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def body(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            work(index)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread below
            errors.append(exc)

    threads = [threading.Thread(target=body, args=(i,), name=f"writer-{i}") for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a writer thread hung"
    if errors:
        raise errors[0]


def account(index: int) -> str:
    return f"shop-{index}"


def hammer(stores: list[Store], index: int) -> None:
    """Thread ``index``: writes to every account, and owns account ``index``'s fields."""
    store = stores[index % len(stores)]
    for round_ in range(ROUNDS):
        for offset in range(THREADS):
            target = account((index + offset) % THREADS)
            assert store.mark_processed(target, f"t{index}-r{round_}.PNM")
            store.advance_cursor(target, index * 1000 + round_)
        store.update_account(account(index), remark=f"by thread {index}", pause_minutes=index)
        number = store.propose_cookie(
            account(index), f"unb={index}; r={round_}", source=SOURCE_ADMIN
        ).number
        store.activate_version(account(index), number)
        store.record_event("hammered", account(index), round=round_)


def check_no_write_lost(store: Store) -> None:
    processed = store._m.ProcessedMessage
    for index in range(THREADS):
        record = store.get_account(account(index))
        assert (record.remark, record.pause_minutes) == (f"by thread {index}", index)
        assert store.active_cookie(account(index)).value == f"unb={index}; r={ROUNDS - 1}"
        assert [v.status for v in store.history(account(index))].count(ACTIVE) == 1
        assert store.get_cursor(account(index)) == (THREADS - 1) * 1000 + ROUNDS - 1
        count = processed.select().where(processed.account == account(index)).count()
        assert count == THREADS * ROUNDS
        assert len(store.events(account(index))) == ROUNDS


def add_accounts(store: Store) -> None:
    for index in range(THREADS):
        store.add_account(account(index), f"unb={index}; r=start", str(index))


def test_fifty_threads_on_fifty_accounts_lose_no_write(store: Store) -> None:
    add_accounts(store)

    run_threads(THREADS, lambda index: hammer([store], index))

    check_no_write_lost(store)


def test_two_stores_on_one_sqlite_file_wait_for_each_other(tmp_path: Path) -> None:
    # two connections (as two processes would have): SQLite's busy timeout, not our lock,
    # keeps them from failing with "database is locked"
    stores = [Store.open(sqlite_url(tmp_path)) for _ in range(2)]
    try:
        add_accounts(stores[0])

        run_threads(THREADS, lambda index: hammer(stores, index))

        check_no_write_lost(stores[1])
    finally:
        for store in stores:
            store.close()


HOLD_LOCK = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.readline()
conn.execute("ROLLBACK")
"""


def test_another_process_holding_the_lock_gives_a_storage_error(tmp_path: Path) -> None:
    store = Store.open(sqlite_url(tmp_path), busy_timeout_s=0.2)
    store.add_account("shop", "unb=1; c=1", "1")
    path = sqlite_url(tmp_path).removeprefix("sqlite:///")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, path],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        started = time.monotonic()
        with pytest.raises(StorageError, match="locked by another process"):
            store.update_account("shop", remark="blocked")
        assert time.monotonic() - started < 5
        holder.stdin.write("release\n")
        holder.stdin.flush()
        assert holder.wait(timeout=10) == 0
        # nothing half-written, and the store works again once the lock is gone
        assert store.get_account("shop").remark == ""
        assert store.update_account("shop", remark="after").remark == "after"
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(timeout=10)
        holder.stdin.close()
        holder.stdout.close()
        store.close()


def test_an_operation_stuck_behind_the_lock_gives_up_with_a_storage_error(
    tmp_path: Path,
) -> None:
    store = Store.open(sqlite_url(tmp_path), lock_timeout_s=0.05)
    held, release = threading.Event(), threading.Event()

    def hog() -> None:
        with store._lock:
            held.set()
            release.wait(timeout=10)

    thread = threading.Thread(target=hog, name="lock-hog")
    thread.start()
    try:
        assert held.wait(timeout=10)
        with pytest.raises(StorageError, match=r"stayed busy for 0\.05s"):
            store.list_accounts()
    finally:
        release.set()
        thread.join(timeout=10)
    assert store.list_accounts() == []
    store.close()
