"""Open a peewee database from a URL (``sqlite:///abs/path.db`` or ``postgresql://...``).

The database is opened with ``thread_safe=False``: peewee then keeps *one* connection for
the whole process instead of one per thread, and the Store serialises access to it with its
own lock (see ``storage.store``). SQLite's connection must therefore allow use from other
threads (``check_same_thread=False``).
"""

from __future__ import annotations

import logging
from urllib.parse import urlparse

import peewee as pw
from playhouse.db_url import connect

from common.errors import StorageError
from storage.files import create_private_file, make_private_dir, sqlite_path

# peewee logs every statement *with its parameters* at DEBUG, and the parameters include
# cookie values and tokens: keep its logger above DEBUG whatever level the service runs at.
logging.getLogger("peewee").setLevel(logging.INFO)

SQLITE_SCHEMES = frozenset({"sqlite"})
POSTGRES_SCHEMES = frozenset({"postgres", "postgresql"})

# WAL: readers never block the writer; NORMAL: a commit survives a process crash (the WAL
# is written before COMMIT returns), only a power loss may drop the last transactions.
SQLITE_PRAGMAS = (
    ("journal_mode", "wal"),
    ("foreign_keys", 1),
    ("synchronous", "normal"),
)


def describe(url: str) -> str:
    """The URL without its password, safe to put in logs and error messages."""
    parsed = urlparse(url)
    if parsed.password is None:
        return url
    netloc = parsed.netloc.replace(f":{parsed.password}@", ":***@")
    return parsed._replace(netloc=netloc).geturl()


def open_database(url: str, *, busy_timeout_s: float) -> pw.Database:
    """A connected peewee database for ``url``; raises StorageError saying what is wrong."""
    scheme = urlparse(url).scheme
    if scheme in SQLITE_SCHEMES:
        db = _open_sqlite(url, busy_timeout_s=busy_timeout_s)
    elif scheme in POSTGRES_SCHEMES:
        db = _open_postgres(url)
    else:
        raise StorageError(
            f"unsupported database URL {describe(url)!r}",
            hint="use sqlite:///path/to/file.db or postgresql://user@host:port/dbname",
        )
    try:
        db.connect()
    except (pw.PeeweeException, OSError) as exc:
        # drivers write several lines (psycopg2: the error, then a hint): one sentence here
        why = " ".join(str(exc).split()) or type(exc).__name__
        raise StorageError(
            f"cannot open the database {describe(url)}: {why}; "
            "check that the database server runs and the URL is right (--database-url)"
        ) from exc
    return db


def _open_sqlite(url: str, *, busy_timeout_s: float) -> pw.Database:
    path = sqlite_path(url)
    if path is not None:
        # the file holds cookies: private directory, file created 0600 before SQLite opens it
        make_private_dir(
            path.parent,
            what="database directory",
            hint="give a writable place with --database-url sqlite:///path/to/file.db",
        )
        create_private_file(path)
    return connect(
        url,
        thread_safe=False,
        check_same_thread=False,
        # sqlite3's busy handler: wait this long for another process's lock, then fail
        timeout=busy_timeout_s,
        pragmas=SQLITE_PRAGMAS,
    )


def _open_postgres(url: str) -> pw.Database:
    try:
        return connect(url, thread_safe=False)
    except ImportError as exc:
        raise StorageError(
            "PostgreSQL needs the psycopg2 driver", hint="install xianyu-supervisor[postgres]"
        ) from exc
