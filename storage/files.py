"""Private files on disk: the database holds every account's cookie.

Directories the service creates are 0700 and the SQLite file is created 0600 before
SQLite opens it; SQLite gives its ``-wal`` and ``-shm`` files the database file's mode,
so they are 0600 too. Files that already exist are not changed behind the operator's
back: ``too_open`` lists those readable by others, and the service warns about them.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from urllib.parse import urlparse

from common.errors import StorageError

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
SQLITE_SUFFIXES = ("", "-wal", "-shm", "-journal")


DATA_DIR_HINT = "give a writable directory with --data-dir (or XIANYU_DATA_DIR)"


def make_private_dir(path: Path, *, what: str = "data dir", hint: str = DATA_DIR_HINT) -> None:
    """Create ``path`` and its missing parents with mode 0700; a sentence on failure."""
    missing: list[Path] = []
    for candidate in (path, *path.parents):
        if candidate.exists() or candidate.is_symlink():
            break
        missing.append(candidate)
    try:
        for directory in reversed(missing):
            directory.mkdir(mode=PRIVATE_DIR)
        if not path.is_dir():
            raise NotADirectoryError(path)
    except FileExistsError:
        if path.is_dir():  # created meanwhile by someone else: fine
            return
        raise _dir_error(path, what, "a file of that name is in the way", hint) from None
    except NotADirectoryError:
        raise _dir_error(path, what, "it, or one of its parents, is a file", hint) from None
    except PermissionError:
        raise _dir_error(path, what, "permission denied", hint) from None
    except OSError as exc:
        why = f"it cannot be created ({(exc.strerror or type(exc).__name__).lower()})"
        raise _dir_error(path, what, why, hint) from None


def _dir_error(path: Path, what: str, why: str, hint: str) -> StorageError:
    return StorageError(f"cannot use {path} as the {what}: {why}", hint=hint)


def create_private_file(path: Path) -> None:
    """Create an empty ``path`` with mode 0600 if it does not exist (umask can only narrow)."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_APPEND, PRIVATE_FILE)
    except FileExistsError:
        return
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        raise StorageError(
            f"cannot create the database file {path}: {why}",
            hint="check the directory's permissions or give another --database-url",
        ) from None
    os.close(fd)


def sqlite_path(url: str) -> Path | None:
    """The file of a ``sqlite:///`` URL, or None (another database, or in memory)."""
    parsed = urlparse(url)
    # as peewee reads it: sqlite:///rel.db is relative, sqlite:////abs.db absolute
    path = parsed.path[1:]
    if parsed.scheme != "sqlite" or not path or path == ":memory:":
        return None
    return Path(path)


def too_open(data_dir: Path, database_url: str) -> list[tuple[Path, int]]:
    """Existing data dir and SQLite files that others may read: ``(path, mode)`` pairs."""
    candidates: list[tuple[Path, int]] = [(data_dir, PRIVATE_DIR)]
    db_file = sqlite_path(database_url)
    if db_file is not None:
        candidates += [(Path(f"{db_file}{s}"), PRIVATE_FILE) for s in SQLITE_SUFFIXES]
    wide = []
    for path, allowed in candidates:
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except OSError:
            continue
        if mode & ~allowed & 0o077:
            wide.append((path, mode))
    return wide
