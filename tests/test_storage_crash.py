"""Crash consistency: a writer SIGKILLed in the middle of switching cookie versions.

A child process switches versions in a loop (propose + activate, rollbacks, token-refresh
merges); the test kills it at different moments, reopens the database and checks that every
account has exactly one active version and that its value is whole. Then it starts the
next writer on the same database, as a restarted service would.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from storage import ACTIVE, Store
from tests.plugins.crash import ACCOUNTS, cookie_value, is_whole

# the child's progress line count at which it is killed, one per cycle: early, middle, late
KILL_AFTER = (1, 7, 25, 60)

WRITER = r"""
import sys
from storage import ROLLED_BACK, SOURCE_ADMIN, Store
from tests.plugins.crash import ACCOUNTS, cookie_value

store = Store.open(sys.argv[1], cookie_history=4)
store.fail_pending_versions()
seq = int(sys.argv[2])
while True:
    for index in range(ACCOUNTS):
        account = f"shop-{index}"
        seq += 1
        pending = store.propose_cookie(account, cookie_value(account, seq), source=SOURCE_ADMIN)
        store.activate_version(account, pending.number)
        if seq % 3 == 0:
            target = store.rollback_target(account)
            store.activate_version(account, target.number, demote_to=ROLLED_BACK)
        if seq % 4 == 0:
            seq += 1
            active = store.active_cookie(account)
            store.record_token_refresh(account, active.value, cookie_value(account, seq))
    print(seq, flush=True)
"""


def run_writer_until_killed(url: str, start_seq: int, lines: int, log: Path) -> int:
    """Start a writer, SIGKILL it once it reported ``lines`` rounds; returns its last seq."""
    with log.open("w") as stderr:
        child = subprocess.Popen(
            [sys.executable, "-c", WRITER, url, str(start_seq)],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            cwd=Path(__file__).resolve().parent.parent,
        )
        last = start_seq
        try:
            for _ in range(lines):
                line = child.stdout.readline()
                assert line, f"the writer died on its own: {log.read_text()}"
                last = int(line)
            child.send_signal(signal.SIGKILL)
        finally:
            if child.poll() is None:
                child.kill()
            child.wait(timeout=10)
            child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    # the killed writer may have gone on for a while; later seqs start well above it
    return last + 100_000


def check_consistent(url: str) -> None:
    store = Store.open(url)
    try:
        rows = store._m.CookieRow
        for index in range(ACCOUNTS):
            account = f"shop-{index}"
            actives = list(rows.select().where((rows.account == account) & (rows.status == ACTIVE)))
            assert len(actives) == 1, account
            active = store.active_cookie(account)
            assert store.get_account(account).active_version == active.number
            assert is_whole(account, active.value), account
            assert all(is_whole(account, v.value) for v in store.history(account, limit=100))
        if store._is_sqlite:
            assert store._db.execute_sql("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        store.close()


def test_killed_writer_leaves_one_whole_active_version(store_url: str, tmp_path: Path) -> None:
    store = Store.open(store_url)
    for index in range(ACCOUNTS):
        account = f"shop-{index}"
        store.add_account(account, cookie_value(account, 0), str(index))
    store.close()

    seq = 0
    for cycle, lines in enumerate(KILL_AFTER):
        seq = run_writer_until_killed(store_url, seq, lines, tmp_path / f"writer-{cycle}.log")
        check_consistent(store_url)
