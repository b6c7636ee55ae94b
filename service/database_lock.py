"""One service per SQLite database file: an OS lock held beside the file for the process's life.

The control socket claims a *data dir*; two services with different data dirs could still
share one database (``--database-url sqlite:////path/xianyu.db``), register every account
twice and kick each other's sessions forever. So a service on SQLite also takes an exclusive
``flock`` on ``<database>.lock`` before it opens the store. The kernel drops the lock when the
process ends, however it ends (SIGKILL, power loss): a stale lock never blocks the next
start, and no pid file has to be judged alive or dead. The file holds the holder's pid and
data dir, for the refusal's sentence only.

The lock file is never deleted: unlinking it would let a late opener lock the orphaned inode
while a newer service locks a fresh file of the same name. PostgreSQL is not locked here
(the cluster of issue 14 shares it on purpose).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from pathlib import Path

from common.errors import ConflictError, StorageError
from storage.files import PRIVATE_FILE, make_private_dir, sqlite_path


class DatabaseInUseError(ConflictError):
    """Another live service holds the database's lock; ``pid``/``data_dir`` name it when known."""

    def __init__(self, database: Path, *, pid: int | None, data_dir: str | None, hint: str) -> None:
        super().__init__(f"the database {database} is in use by another service", hint=hint)
        self.database = database
        self.pid = pid
        self.data_dir = data_dir

    def headline(self) -> str:
        if self.pid is None:  # it has the lock but has not written its name yet
            return f"{self.reason} (it is starting)"
        return f"{self.reason} (pid {self.pid}, data dir {self.data_dir})"


class DatabaseLock:
    """The exclusive lock of one SQLite database file; ``release`` (idempotent) drops it."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, database_url: str, *, data_dir: Path) -> DatabaseLock | None:
        """Lock ``database_url``'s file for this process; None for a database that is no file.

        Raises ``DatabaseInUseError`` when another service holds it, ``StorageError`` when the
        lock file cannot be made.
        """
        database = sqlite_path(database_url)
        if database is None:
            return None
        database = database.resolve()  # one file, one lock, however the URL spells its path
        path = database.with_name(database.name + ".lock")
        make_private_dir(
            path.parent,
            what="database directory",
            hint="give a writable place with --database-url sqlite:///path/to/file.db",
        )
        try:
            # O_CLOEXEC (Python's default): a child process never inherits the lock
            fd = os.open(path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE)
        except OSError as exc:
            raise StorageError(
                f"cannot create the lock file {path}: {exc.strerror or type(exc).__name__}",
                hint="check the directory's permissions or give another --database-url",
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise _in_use(database, holder) from None
        except BaseException:
            os.close(fd)
            raise
        lock = cls(path, fd)
        lock._write_holder(data_dir)
        return lock

    def _write_holder(self, data_dir: Path) -> None:
        assert self._fd is not None
        text = json.dumps({"pid": os.getpid(), "data_dir": str(data_dir.absolute())})
        with contextlib.suppress(OSError):  # the name is for a refusal's sentence; the lock holds
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, text.encode(), 0)

    def release(self) -> None:
        """Empty the file and drop the lock (closing the descriptor drops it)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)  # still held: nobody reads a holder that is gone
        os.close(fd)


def _read_holder(fd: int) -> dict[str, object]:
    try:
        holder = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except (OSError, ValueError):
        return {}
    return holder if isinstance(holder, dict) else {}


def _in_use(database: Path, holder: dict[str, object]) -> DatabaseInUseError:
    pid = holder.get("pid")
    data_dir = holder.get("data_dir")
    known_pid = pid if isinstance(pid, int) else None
    known_dir = data_dir if isinstance(data_dir, str) else None
    stop = f"stop that service first (kill {known_pid})" if known_pid else "stop that service first"
    hint = (
        f"one SQLite database serves one service: {stop}, or give this one its own "
        "database (--data-dir without --database-url keeps it in that data dir)"
    )
    return DatabaseInUseError(database, pid=known_pid, data_dir=known_dir, hint=hint)
