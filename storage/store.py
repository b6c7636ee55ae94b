"""``Store``: every database operation the service needs, each one transaction.

See ``storage.core`` for the concurrency model (one connection, one lock, short
transactions) and ``storage.migrations`` for how the schema is created and upgraded.
"""

from __future__ import annotations

from common.errors import StorageError
from storage import migrations
from storage.accounts import AccountOps
from storage.cluster import ClusterOps
from storage.cookies import CookieOps
from storage.core import DriverError
from storage.delivery import DeliveryOps
from storage.engine import describe, open_database
from storage.events import EventOps
from storage.outbox import NotifyOps
from storage.rules import RuleOps
from storage.totals import TotalsOps

DEFAULT_COOKIE_HISTORY = 10
DEFAULT_BUSY_TIMEOUT_S = 5.0
# how long an operation may queue behind the others before it gives up
DEFAULT_LOCK_TIMEOUT_S = 60.0


class Store(
    AccountOps, CookieOps, RuleOps, DeliveryOps, EventOps, NotifyOps, TotalsOps, ClusterOps
):
    """Thread-safe access to accounts, cookie history, rules, delivery state, events,
    notification state (``storage.outbox``), lifetime totals (``storage.totals``) and, on
    PostgreSQL, cluster mode's nodes, leases, operations and snapshots (``storage.cluster``).

    Returns frozen dataclasses (``storage.records``); raises ``StorageError`` and its
    subclasses, never a peewee or driver exception.
    """

    @classmethod
    def open(
        cls,
        url: str,
        *,
        cookie_history: int = DEFAULT_COOKIE_HISTORY,
        busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S,
        lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S,
    ) -> Store:
        """Open (creating or upgrading the schema) ``sqlite:///path`` or ``postgresql://...``."""
        db = open_database(url, busy_timeout_s=busy_timeout_s)
        store = cls(
            db,
            cookie_history=cookie_history,
            busy_timeout_s=busy_timeout_s,
            lock_timeout_s=lock_timeout_s,
            name=describe(url),
        )
        store._url = url
        try:
            with store._lock:
                migrations.upgrade(db)
        except DriverError as exc:
            db.close()
            raise store._translate("upgrading the database schema", exc) from exc
        except StorageError:
            db.close()
            raise
        return store

    @property
    def schema_version(self) -> int:
        with self._locked("reading the schema version"):
            return migrations.schema_version(self._db)

    def close(self) -> None:
        """Close the connection; later calls raise StorageError. Safe to call twice."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                self._db.close()
            except DriverError as exc:
                raise self._translate("closing the database", exc) from exc
