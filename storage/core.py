"""The Store's shared machinery: one connection, one lock, short transactions, error translation.

Concurrency model. Up to ~1,000 actor threads call the Store at once. They share **one**
database connection, and every operation holds the Store's lock for one short transaction:

- SQLite allows one writer at a time anyway; with one connection our own threads queue on
  a Python lock instead of racing for the file lock, so "database is locked" can never come
  from our own threads, and there are no 1,000 connections to open.
- Write transactions on SQLite start with ``BEGIN IMMEDIATE``: the write lock is taken up
  front, so a transaction never fails halfway when it upgrades from reading to writing.
  Another *process* holding the lock is waited for up to ``busy_timeout_s`` and then turns
  into a ``StorageError`` saying so; nothing hangs forever.
- PostgreSQL works the same way (one psycopg2 connection, serialised by the lock). The
  operations are a few indexed statements each, so the lock is held for well under a
  millisecond and one connection carries thousands of operations per second.
- An operation that is one statement runs without BEGIN/COMMIT (atomic on its own);
  anything longer is one transaction. Waiting for the lock is bounded by
  ``lock_timeout_s``: a stuck database call makes the others fail with StorageError
  instead of piling up forever.

Driver errors stop here: every peewee/driver exception becomes a ``StorageError`` (or
``NotFoundError``/``AlreadyExistsError``) naming the operation that failed.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, suppress
from types import TracebackType

import peewee as pw

from common.errors import (
    AccountNotFoundError,
    InvalidValueError,
    LeaseLostError,
    NotFoundError,
    StorageError,
)
from storage.clock import from_ms
from storage.models import Account, CookieRow, Models, build_models
from storage.records import AccountRecord, CookieVersion, RuleSet

DriverError = (pw.PeeweeException, sqlite3.Error)


def fingerprint(value: str) -> str:
    """``sha256(value)[:8]``: what logs and history show instead of a cookie value."""
    return hashlib.sha256(value.encode()).hexdigest()[:8]


def account_not_found(account_id: str) -> NotFoundError:
    return AccountNotFoundError(account_id)


class StoreCore:
    """Connection, lock, transactions and row conversion shared by every operation group."""

    def __init__(
        self,
        db: pw.Database,
        *,
        cookie_history: int,
        busy_timeout_s: float,
        lock_timeout_s: float,
        name: str,
    ) -> None:
        if cookie_history < 1:
            raise InvalidValueError("cookie_history", "at least 1", value=cookie_history)
        self._db = db
        self._m: Models = build_models(db)
        self._lock = threading.RLock()
        self._is_sqlite = isinstance(db, pw.SqliteDatabase)
        self._cookie_history = cookie_history
        self._busy_timeout_s = busy_timeout_s
        self._lock_timeout_s = lock_timeout_s
        self._name = name
        self._closed = False
        # Per-message reads served from memory (see ARCHITECTURE.md, storage): this Store
        # is the only writer, so its own writes keep them exact. Filled and invalidated
        # under the lock only; read without it (a dict lookup is atomic).
        self._rules_cache: dict[str, RuleSet] = {}
        self._pause_cache: dict[str, dict[str, int]] = {}  # account id -> chat id -> until ms
        self._url = ""  # what Store.open was given (a secret: show self._name)
        # Cluster mode (storage.fencing): None = unbound, every write as in single-node mode
        self._node_id: str | None = None
        self._on_lease_lost: Callable[[str], None] | None = None
        self._held: dict[str, int] = {}  # account id -> the lease epoch this process holds

    def _forget_account(self, account_id: str) -> None:
        """Drop the cached reads of an account (under the lock, before its rows change)."""
        self._rules_cache.pop(account_id, None)
        self._pause_cache.pop(account_id, None)

    def _write(
        self, what: str, *, on_integrity: Callable[[], StorageError] | None = None
    ) -> AbstractContextManager[Models]:
        """One write transaction under the lock; driver errors become StorageError."""
        return self._locked(what, on_integrity=on_integrity, transaction=True)

    def _locked(
        self,
        what: str,
        *,
        on_integrity: Callable[[], StorageError] | None = None,
        transaction: bool = False,
    ) -> AbstractContextManager[Models]:
        """Hold the lock (the connection is shared) for one operation; translate errors.

        Without ``transaction``: for reads, and for writes that are one statement (atomic on
        its own in autocommit mode), which saves the BEGIN/COMMIT round trips on the hot path.
        ``on_integrity`` builds the error for a constraint violation (e.g. unknown account).
        """
        return _Locked(self, what, on_integrity=on_integrity, transaction=transaction)

    def _fenced(
        self,
        what: str,
        account_id: str,
        *,
        on_integrity: Callable[[], StorageError] | None = None,
    ) -> AbstractContextManager[Models]:
        """``_write``, and when bound to a node, first check in the same transaction that
        this node still holds ``account_id``'s lease (else ``LeaseLostError``, nothing
        written, ``on_lease_lost`` called once the lock is released)."""
        fence = None if self._node_id is None else account_id
        return _Locked(self, what, on_integrity=on_integrity, transaction=True, fence=fence)

    def _hot_write(
        self,
        what: str,
        account_id: str,
        *,
        on_integrity: Callable[[], StorageError] | None = None,
    ) -> AbstractContextManager[Models]:
        """A per-message write of one statement: as ``_locked`` (no BEGIN/COMMIT) when
        unbound, the same cost as before; a fenced transaction (``_fenced``) when bound."""
        if self._node_id is None:
            return _Locked(self, what, on_integrity=on_integrity, transaction=False)
        return _Locked(self, what, on_integrity=on_integrity, transaction=True, fence=account_id)

    def _lease_matches(self, account_id: str) -> bool:
        """Under the lock, in a transaction: does this node still hold the account's lease?

        The in-memory epoch first (an account this process never claimed fails without a
        query); on PostgreSQL the lease row then, ``FOR SHARE``: a concurrent claim by
        another node waits for this transaction, so the write cannot land after it.
        """
        epoch = self._held.get(account_id)
        if epoch is None:
            return False
        if self._is_sqlite:
            return True  # one node per SQLite file: the tables are not used
        params = (account_id, self._node_id, epoch)
        return self._db.execute_sql(self._sql(_LEASE_HELD), params).fetchone() is not None

    def _lease_lost(self, account_id: str) -> None:
        """Tell the owner of this Store (outside the lock: it may call into other threads)."""
        callback = self._on_lease_lost
        if callback is not None:
            callback(account_id)

    def _cluster_only(self, what: str) -> None:
        if self._is_sqlite:
            raise StorageError(
                "cluster mode needs PostgreSQL",
                operation=what,
                hint="open a postgresql:// database (--database-url) to run several nodes",
            )

    def _transaction(self) -> AbstractContextManager[object]:
        # SQLite: take the write lock up front, so the transaction cannot fail halfway
        # when it would upgrade from reading to writing
        return self._db.atomic("IMMEDIATE") if self._is_sqlite else self._db.atomic()

    def _sql(self, sql: str) -> str:
        """Hand-written SQL with ``?`` placeholders, in this driver's placeholder style."""
        return sql if self._db.param == "?" else sql.replace("?", self._db.param)

    def _execute(self, sql: str, params: tuple[object, ...]) -> int:
        """Run hand-written SQL (``?`` placeholders); returns the affected row count."""
        return self._db.execute_sql(self._sql(sql), params).rowcount

    def _check_open(self, what: str) -> None:
        if self._closed:
            raise StorageError("the store is closed", operation=what)

    def _translate(self, what: str, exc: BaseException) -> StorageError:
        self._drop_broken_connection()
        text = str(exc).strip() or type(exc).__name__
        if "locked" in text or "busy" in text:
            return StorageError(
                f"the database {self._name} is locked by another process "
                f"(waited {self._busy_timeout_s:g}s)",
                operation=what,
                hint="stop the other process or try again",
            )
        return StorageError(text, operation=what, database=self._name)

    def _drop_broken_connection(self) -> None:
        # A lost PostgreSQL connection stays "open" in peewee; closing it lets the next
        # operation reconnect (autoconnect) instead of failing forever.
        if self._is_sqlite or self._db.is_closed():
            return
        try:
            usable = self._db.is_connection_usable()
        except DriverError:
            usable = False
        if not usable:
            with suppress(*DriverError):
                self._db.close()

    def _account_row(self, account_id: str) -> Account:
        row = self._m.Account.get_or_none(self._m.Account.account_id == account_id)
        if row is None:
            raise account_not_found(account_id)
        return row

    def _require_account(self, account_id: str) -> None:
        query = self._m.Account.select(self._m.Account.account_id)
        if not query.where(self._m.Account.account_id == account_id).exists():
            raise account_not_found(account_id)


_LEASE_HELD = (
    "SELECT 1 FROM account_lease WHERE account_id = ? AND node_id = ? AND epoch = ? FOR SHARE"
)


class _Locked:
    """The context manager behind ``StoreCore._locked``.

    A class rather than a ``@contextmanager`` generator: it is on every operation's path
    (cheaper), and an error raised through it carries no generator frame in its traceback
    (such frames outlive their generator there, which CPython 3.11 has crashed on).
    """

    __slots__ = ("_core", "_fence", "_on_integrity", "_transaction", "_what")

    def __init__(
        self,
        core: StoreCore,
        what: str,
        *,
        on_integrity: Callable[[], StorageError] | None,
        transaction: bool,
        fence: str | None = None,
    ) -> None:
        self._core = core
        self._what = what
        self._on_integrity = on_integrity
        self._fence = fence  # an account id: check its lease first (bound Store only)
        self._transaction: AbstractContextManager[object] | None = (
            core._transaction() if transaction else None
        )

    def __enter__(self) -> Models:
        core = self._core
        if not core._lock.acquire(timeout=core._lock_timeout_s):
            raise StorageError(
                f"the store stayed busy for {core._lock_timeout_s:g}s "
                "(another operation is stuck on the database)",
                operation=self._what,
                hint="check the database server",
            )
        try:
            core._check_open(self._what)
            if self._transaction is not None:
                self._enter_transaction()
                if self._fence is not None:
                    self._check_fence(self._fence)
        except LeaseLostError:
            core._lock.release()
            core._lease_lost(self._fence or "")
            raise
        except BaseException:
            core._lock.release()
            raise
        return core._m

    def _check_fence(self, account_id: str) -> None:
        """The lease check of a fenced write; on failure the transaction is rolled back."""
        assert self._transaction is not None
        core = self._core
        cause: BaseException | None = None
        try:
            if core._lease_matches(account_id):
                return
            error: StorageError = LeaseLostError(
                account_id, node_id=core._node_id or "", epoch=core._held.get(account_id)
            )
        except DriverError as exc:
            cause, error = exc, core._translate(self._what, exc)
        with suppress(*DriverError):
            self._transaction.__exit__(type(error), error, None)  # rolls back
        raise error from cause

    def _enter_transaction(self) -> None:
        assert self._transaction is not None
        try:
            self._transaction.__enter__()
        except DriverError as exc:
            raise self._core._translate(self._what, exc) from exc

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self._transaction is not None:
                try:
                    # commits, or rolls back when the operation raised
                    self._transaction.__exit__(exc_type, exc, tb)
                except DriverError as commit_error:
                    if exc is None:
                        exc = commit_error
            if isinstance(exc, pw.IntegrityError):
                if self._on_integrity is None:
                    raise self._core._translate(self._what, exc) from exc
                raise self._on_integrity() from exc
            if isinstance(exc, DriverError):
                raise self._core._translate(self._what, exc) from exc
        finally:
            self._core._lock.release()


def account_record(row: Account) -> AccountRecord:
    return AccountRecord(
        account_id=row.account_id,
        user_id=row.user_id,
        nick=row.nick,
        enabled=bool(row.enabled),
        remark=row.remark,
        pause_minutes=row.pause_minutes,
        created_at=from_ms(row.created_ms),
        updated_at=from_ms(row.updated_ms),
        active_version=row.active_version,
        proxy=row.proxy or "",
    )


def cookie_version(row: CookieRow, account_id: str) -> CookieVersion:
    return CookieVersion(
        account_id=account_id,
        number=row.number,
        value=row.value,
        fingerprint=row.fingerprint,
        source=row.source,
        status=row.status,
        reason=row.reason,
        created_at=from_ms(row.created_ms),
    )
