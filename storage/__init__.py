"""Storage: every database operation of the service, behind one thread-safe ``Store``.

SQLite (embedded default) or PostgreSQL through a URL; peewee underneath, but only
frozen dataclasses and ``common.errors`` types come out of this package.
"""

from storage.records import (
    ACTIVE,
    FAILED,
    PENDING,
    ROLLED_BACK,
    SOURCE_ADMIN,
    SOURCE_IMPORT,
    SOURCE_RENEWAL,
    SOURCE_ROLLBACK,
    SOURCE_TOKEN_REFRESH,
    SUPERSEDED,
    AccountRecord,
    CookieVersion,
    DefaultReply,
    EventRecord,
    Lease,
    NodeRecord,
    Operation,
    Rule,
    RuleSet,
    Snapshot,
    TokenRecord,
)
from storage.store import Store
from storage.totals import Totals

__all__ = [
    "ACTIVE",
    "FAILED",
    "PENDING",
    "ROLLED_BACK",
    "SOURCE_ADMIN",
    "SOURCE_IMPORT",
    "SOURCE_RENEWAL",
    "SOURCE_ROLLBACK",
    "SOURCE_TOKEN_REFRESH",
    "SUPERSEDED",
    "AccountRecord",
    "CookieVersion",
    "DefaultReply",
    "EventRecord",
    "Lease",
    "NodeRecord",
    "Operation",
    "Rule",
    "RuleSet",
    "Snapshot",
    "Store",
    "TokenRecord",
    "Totals",
]
