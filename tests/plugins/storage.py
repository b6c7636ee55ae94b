"""Fixtures that open a Store on SQLite (and PostgreSQL when configured).

- ``store_url``: parametrized over the engines. SQLite is a fresh file under ``tmp_path``;
  PostgreSQL (only when ``XIANYU_TEST_POSTGRES_URL`` is set, e.g. by ``.ci/run``) is a fresh
  schema per test, selected through ``search_path`` and dropped afterwards.
- ``store``: a ``Store`` opened on ``store_url``, closed after the test.
- ``sqlite_store``: SQLite only, for tests of other layers that need a real store but
  not both engines.
- ``two_nodes``: PostgreSQL only, two Stores on one fresh schema: two cluster nodes.
- ``LockHolder(db_path)``: another process holding a SQLite file with ``BEGIN EXCLUSIVE``
  until ``release()``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import psycopg2
import psycopg2.extensions
import pytest

from storage import Store
from tests.plugins.timing import scaled

POSTGRES_ENV = "XIANYU_TEST_POSTGRES_URL"
ENGINES = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]


def sqlite_url(directory: Path) -> str:
    return f"sqlite:///{directory / 'data' / 'xianyu.db'}"


def _postgres_admin(url: str) -> psycopg2.extensions.connection:
    conn = psycopg2.connect(url)
    conn.autocommit = True
    return conn


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A PostgreSQL URL whose ``search_path`` is a fresh, empty schema (dropped afterwards)."""
    base = os.environ.get(POSTGRES_ENV)
    if not base:
        pytest.skip(f"{POSTGRES_ENV} is not set (.ci/run starts a PostgreSQL server)")
    schema = f"test_{uuid.uuid4().hex[:12]}"
    admin = _postgres_admin(base)
    try:
        with admin.cursor() as cur:
            cur.execute(f'CREATE SCHEMA "{schema}"')
        separator = "&" if "?" in base else "?"
        # synchronous_commit=off: tests need no durability across a server crash, and
        # fsync per commit would make the concurrency tests slow
        options = f"-csearch_path={schema} -csynchronous_commit=off"
        yield f"{base}{separator}options={quote(options)}"
        with admin.cursor() as cur:
            cur.execute(f'DROP SCHEMA "{schema}" CASCADE')
    finally:
        admin.close()


@pytest.fixture(params=ENGINES)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return sqlite_url(tmp_path)
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = Store.open(store_url)
    yield opened
    opened.close()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    opened = Store.open(sqlite_url(tmp_path))
    yield opened
    opened.close()


@pytest.fixture
def two_nodes(postgres_url: str) -> Iterator[tuple[Store, Store]]:
    first = Store.open(postgres_url)
    second = Store.open(postgres_url)
    yield first, second
    second.close()
    first.close()


HOLD_LOCK = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.readline()
conn.execute("ROLLBACK")
"""


class LockHolder:
    """Another process holding the SQLite file with ``BEGIN EXCLUSIVE`` until released."""

    def __init__(self, db_path: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", HOLD_LOCK, db_path],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None and self.proc.stdout.readline().strip() == "locked"

    def release(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.write("release\n")
            self.proc.stdin.flush()
            assert self.proc.wait(timeout=scaled(10)) == 0

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=scaled(10))
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()
