"""Opening databases from URLs: SQLite settings, directories, errors that keep secrets."""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import pytest

from common.errors import StorageError
from storage import Store
from storage.engine import describe


def test_sqlite_is_opened_with_wal_foreign_keys_and_normal_sync(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path}/deep/er/xianyu.db")
    try:
        pragma = store._db.execute_sql
        assert pragma("PRAGMA journal_mode").fetchone() == ("wal",)
        assert pragma("PRAGMA foreign_keys").fetchone() == (1,)
        assert pragma("PRAGMA synchronous").fetchone() == (1,)  # NORMAL
    finally:
        store.close()
    assert (tmp_path / "deep" / "er" / "xianyu.db").exists()


def test_describe_hides_the_password() -> None:
    assert describe("postgresql://bob:s3cret@db:5432/x") == "postgresql://bob:***@db:5432/x"
    assert describe("sqlite:///tmp/x.db") == "sqlite:///tmp/x.db"


def test_unreachable_postgres_is_a_storage_error_without_the_password() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens here once the probe closes

    with pytest.raises(StorageError, match="cannot open the database") as caught:
        Store.open(f"postgresql://bob:s3cret@127.0.0.1:{port}/x?connect_timeout=2")

    assert "s3cret" not in str(caught.value)


def test_cookie_values_never_reach_the_logs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    store = Store.open(f"sqlite:///{tmp_path}/xianyu.db")
    try:
        store.add_account("shop", "unb=1; cookie2=TOPSECRET", "1")
        store.propose_cookie("shop", "unb=1; cookie2=ALSOSECRET", source="admin")
        store.save_token("shop", "SECRETTOKEN", "did", issued_at=0)
    finally:
        store.close()

    assert not any(s in caplog.text for s in ("TOPSECRET", "ALSOSECRET", "SECRETTOKEN"))
