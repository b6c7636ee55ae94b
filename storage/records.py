"""The values the Store hands out: frozen dataclasses, never peewee model instances.

Callers on other threads (actors, the supervisor, the control socket) may keep and pass
these around freely; nothing in them is bound to a connection.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

# Cookie version statuses. Exactly one version per account is ACTIVE at all times.
PENDING: Final = "pending"
ACTIVE: Final = "active"
SUPERSEDED: Final = "superseded"
FAILED: Final = "failed"
ROLLED_BACK: Final = "rolled_back"
STATUSES: Final = frozenset({PENDING, ACTIVE, SUPERSEDED, FAILED, ROLLED_BACK})

# Where a cookie version came from.
SOURCE_ADMIN: Final = "admin"
SOURCE_TOKEN_REFRESH: Final = "token_refresh"  # noqa: S105 - a label, not a secret
SOURCE_ROLLBACK: Final = "rollback"
SOURCE_IMPORT: Final = "import"
SOURCE_RENEWAL: Final = "renewal"  # a session renewal through the passport (docs/login.md)
SOURCES: Final = frozenset(
    {SOURCE_ADMIN, SOURCE_TOKEN_REFRESH, SOURCE_ROLLBACK, SOURCE_IMPORT, SOURCE_RENEWAL}
)


@dataclass(frozen=True)
class AccountRecord:
    """One seller account as configured by the operator."""

    account_id: str
    user_id: str
    nick: str
    enabled: bool
    remark: str
    pause_minutes: int
    created_at: datetime
    updated_at: datetime
    active_version: int
    # '' = direct; a URL that may hold credentials, so out of repr (show proxy_label)
    proxy: str = field(default="", repr=False)


@dataclass(frozen=True)
class CookieVersion:
    """One entry of an account's cookie history. ``value`` is a secret: log ``fingerprint``."""

    account_id: str
    number: int
    value: str = field(repr=False)
    fingerprint: str
    source: str
    status: str
    reason: str
    created_at: datetime


@dataclass(frozen=True)
class TokenRecord:
    """The cached IM access token of an account and the device id it was issued for."""

    account_id: str
    token: str = field(repr=False)
    did: str
    issued_at: datetime


@dataclass(frozen=True)
class Rule:
    """A keyword reply: the first rule (by ``order``) whose keyword is in the message wins."""

    keyword: str
    reply: str
    item_id: str | None = None
    order: int = 0


@dataclass(frozen=True)
class DefaultReply:
    """The reply sent when no rule matches; by default only once per chat."""

    text: str
    once_per_chat: bool = True


@dataclass(frozen=True)
class RuleSet:
    """An account's rules as one consistent snapshot; ``revision`` grows on every replace."""

    rules: tuple[Rule, ...] = ()
    default_reply: DefaultReply | None = None
    revision: int = 0


@dataclass(frozen=True)
class EventRecord:
    """One line of the operator's audit log."""

    at: datetime
    account_id: str | None
    kind: str
    data: dict[str, Any]


# Cluster mode (docs/cluster.md): what the lease, node, operation and snapshot tables hold.
OP_PENDING: Final = "pending"
OP_RUNNING: Final = "running"
OP_DONE: Final = "done"
OP_FAILED: Final = "failed"


@dataclass(frozen=True)
class NodeRecord:
    """One registered node; ``heartbeat_age_s`` is measured on the database's clock."""

    node_id: str
    host: str
    pid: int
    data_dir: str
    version: str
    started_at: datetime
    heartbeat_age_s: float
    accounts: int


@dataclass(frozen=True)
class Lease:
    """Who serves an account: ``node_id`` None = free; ``expires_in_s`` None = no expiry set
    (negative: expired, claimable); ``pinned_node`` None = any node may claim it."""

    account_id: str
    node_id: str | None
    epoch: int
    expires_in_s: float | None
    pinned_node: str | None


@dataclass(frozen=True)
class Operation:
    """An account command one node asked the account's owner to run."""

    id: int
    account_id: str
    caller_node: str
    owner_node: str | None
    method: str
    args: dict[str, Any] = field(repr=False)  # may hold a cookie; emptied once finished
    state: str
    result: dict[str, Any] | None
    error: dict[str, Any] | None


@dataclass(frozen=True)
class Snapshot:
    """The status row an account's owner last published (``age_s`` on the database clock)."""

    account_id: str
    node_id: str
    epoch: int
    row: dict[str, Any]
    age_s: float
