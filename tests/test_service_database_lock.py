"""One service per SQLite database file (issue 14): the lock beside the file, in real processes."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from common.errors import ConflictError
from service.database_lock import DatabaseInUseError, DatabaseLock
from storage.files import make_private_dir
from tests.plugins.serve import START_TIMEOUT_S, ServeProcess, all_online, statuses
from tests.plugins.simulator import new_seller
from tests.plugins.timing import wait_for


def _serve_on(sim, data_dir: Path, database: Path) -> ServeProcess:
    make_private_dir(data_dir)
    return ServeProcess(
        sim, data_dir, log_name="serve.log", args=("--database-url", f"sqlite:///{database}")
    )


def test_a_second_service_with_another_data_dir_on_the_same_database_is_refused(sim, short_dir):
    database = short_dir / "shared" / "xianyu.db"
    first = _serve_on(sim, short_dir / "a", database)
    second: ServeProcess | None = None
    try:
        first.wait_ready()
        seller = new_seller(sim)
        with first.client() as c:
            c.call("add", account="shop-1", cookie=seller.cookie)
        wait_for(lambda: all_online(first, 1), what="the account online on the first service")
        token_calls = sim.admin.user_state(seller.user_id)["token_calls"]

        second = _serve_on(sim, short_dir / "b", database)
        assert second.proc.wait(timeout=START_TIMEOUT_S) == 1
        text = second.log_text()
        assert f"the database {database} is in use by another service" in text
        assert f"pid {first.proc.pid}, data dir {short_dir / 'a'}" in text
        assert "one SQLite database serves one service" in text  # and what to do
        # it gave up before connecting anyone: no token call, the first one's session untouched
        assert "service_started" not in text
        assert sim.admin.user_state(seller.user_id)["token_calls"] == token_calls
        row = statuses(first)["shop-1"]
        assert row["state"] == "online" and row["reconnects"] == 0
    finally:
        if second is not None:
            second.kill()
        first.kill()


def test_a_sigkilled_service_does_not_block_the_next_one_on_its_database(sim, short_dir):
    database = short_dir / "shared" / "xianyu.db"
    first = _serve_on(sim, short_dir / "a", database)
    second: ServeProcess | None = None
    try:
        first.wait_ready()
        seller = new_seller(sim)
        with first.client() as c:
            c.call("add", account="shop-1", cookie=seller.cookie)
        first.stop(signal.SIGKILL)  # no clean-up at all: the lock file stays, with its pid

        second = _serve_on(sim, short_dir / "b", database)
        second.wait_ready()
        wait_for(lambda: all_online(second, 1), what="the account online on the next service")
        assert f'"pid": {second.proc.pid}' in (database.parent / "xianyu.db.lock").read_text()
        assert second.stop() == 0
    finally:
        if second is not None:
            second.kill()
        first.kill()


def test_the_lock_names_its_holder_and_is_free_again_once_released(short_dir):
    url = f"sqlite:///{short_dir / 'db' / 'xianyu.db'}"
    first = DatabaseLock.acquire(url, data_dir=short_dir / "a")
    assert first is not None
    assert oct(os.stat(first.path).st_mode & 0o777) == oct(0o600)  # beside a file of cookies
    # flock locks belong to the open file: a second open in this very process is refused too
    with pytest.raises(ConflictError) as refused:
        DatabaseLock.acquire(url, data_dir=short_dir / "b")
    assert isinstance(refused.value, DatabaseInUseError)
    assert refused.value.pid == os.getpid()
    assert refused.value.data_dir == str((short_dir / "a").absolute())
    first.release()
    first.release()  # idempotent
    again = DatabaseLock.acquire(url, data_dir=short_dir / "b")
    assert again is not None
    again.release()


def test_two_spellings_of_one_file_share_one_lock(short_dir):
    (short_dir / "db").mkdir()
    (short_dir / "link").symlink_to(short_dir / "db")
    first = DatabaseLock.acquire(f"sqlite:///{short_dir / 'db' / 'x.db'}", data_dir=short_dir)
    assert first is not None
    try:
        for spelling in ("link/x.db", "db/../db/x.db"):
            with pytest.raises(DatabaseInUseError):
                DatabaseLock.acquire(f"sqlite:///{short_dir / spelling}", data_dir=short_dir)
    finally:
        first.release()


def test_databases_that_are_no_file_are_not_locked(short_dir):
    assert DatabaseLock.acquire("postgresql://u@127.0.0.1/x", data_dir=short_dir) is None
    assert DatabaseLock.acquire("sqlite:///:memory:", data_dir=short_dir) is None
