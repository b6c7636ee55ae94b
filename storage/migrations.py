"""Schema version table and forward migrations, so an upgrade keeps the data.

A fresh database and an old one take the same path: every step from the stored version up
to ``LATEST`` runs, in order, inside one transaction (SQLite ``BEGIN IMMEDIATE``;
PostgreSQL transactional DDL plus an advisory lock), so two processes opening the same
database at once migrate it once, and a crash mid-migration leaves the old schema intact.

Each step describes the tables *as they were at that version* (frozen here, never imported
from ``storage.models``), because the models move on while old steps must not.
"""

from __future__ import annotations

from collections.abc import Callable

import peewee as pw
from playhouse.migrate import SchemaMigrator, migrate

from common.errors import StorageError

CASCADE = "CASCADE"
# any constant: the key of the PostgreSQL advisory lock that serialises migrations
_PG_LOCK_KEY = 0x7869616E7975


def _schema_version_model(db: pw.Database) -> type[pw.Model]:
    class SchemaVersion(pw.Model):
        version = pw.IntegerField()

        class Meta:
            database = db
            table_name = "schema_version"
            primary_key = False

    return SchemaVersion


def _v1_tables(db: pw.Database) -> list[type[pw.Model]]:
    class Base(pw.Model):
        class Meta:
            database = db

    class Account(Base):
        account_id = pw.CharField(primary_key=True, max_length=128, column_name="id")
        user_id = pw.CharField(max_length=64)
        nick = pw.TextField(default="")
        enabled = pw.BooleanField(default=True)
        remark = pw.TextField(default="")
        pause_minutes = pw.IntegerField(default=10)
        active_version = pw.IntegerField()
        created_ms = pw.BigIntegerField()
        updated_ms = pw.BigIntegerField()

        class Meta:
            table_name = "account"

    class CookieVersion(Base):
        account = pw.ForeignKeyField(Account, on_delete=CASCADE, column_name="account_id")
        number = pw.IntegerField()
        value = pw.TextField()
        fingerprint = pw.CharField(max_length=16)
        source = pw.CharField(max_length=16)
        status = pw.CharField(max_length=16)
        created_ms = pw.BigIntegerField()

        class Meta:
            table_name = "cookie_version"
            indexes = ((("account", "number"), True),)

    class RuleSet(Base):
        account = pw.ForeignKeyField(
            Account, primary_key=True, on_delete=CASCADE, column_name="account_id"
        )
        revision = pw.IntegerField(default=0)
        default_text = pw.TextField(null=True)
        default_once = pw.BooleanField(default=True)

        class Meta:
            table_name = "rule_set"

    class ReplyRule(Base):
        account = pw.ForeignKeyField(Account, on_delete=CASCADE, column_name="account_id")
        position = pw.IntegerField()
        keyword = pw.TextField()
        reply = pw.TextField()
        item_id = pw.CharField(max_length=64, null=True)
        sort_order = pw.IntegerField(default=0)

        class Meta:
            table_name = "reply_rule"
            indexes = ((("account", "position"), False),)

    class DefaultReplyClaim(Base):
        account = pw.ForeignKeyField(Account, on_delete=CASCADE, column_name="account_id")
        chat_id = pw.CharField(max_length=64)
        claimed_ms = pw.BigIntegerField()

        class Meta:
            table_name = "default_reply_claim"
            primary_key = pw.CompositeKey("account", "chat_id")

    class ChatPause(Base):
        account = pw.ForeignKeyField(Account, on_delete=CASCADE, column_name="account_id")
        chat_id = pw.CharField(max_length=64)
        until_ms = pw.BigIntegerField()

        class Meta:
            table_name = "chat_pause"
            primary_key = pw.CompositeKey("account", "chat_id")

    class ProcessedMessage(Base):
        account = pw.ForeignKeyField(Account, on_delete=CASCADE, column_name="account_id")
        message_id = pw.CharField(max_length=64)
        processed_ms = pw.BigIntegerField(index=True)

        class Meta:
            table_name = "processed_message"
            primary_key = pw.CompositeKey("account", "message_id")

    class Event(Base):
        at_ms = pw.BigIntegerField(index=True)
        account_id = pw.CharField(max_length=128, null=True)
        kind = pw.CharField(max_length=64)
        data = pw.TextField(default="{}")

        class Meta:
            table_name = "event"
            indexes = ((("account_id", "id"), False),)

    return [
        Account,
        CookieVersion,
        RuleSet,
        ReplyRule,
        DefaultReplyClaim,
        ChatPause,
        ProcessedMessage,
        Event,
    ]


def _to_v1(db: pw.Database) -> None:
    """Accounts, cookie history, rules, pauses, processed messages, events."""
    db.create_tables(_v1_tables(db))
    # At most one active version per account, enforced by the database itself: a bug or a
    # crash can never leave two. (Partial indexes: SQLite >= 3.8, every PostgreSQL.)
    db.execute_sql(
        "CREATE UNIQUE INDEX cookie_version_one_active "
        "ON cookie_version (account_id) WHERE status = 'active'"
    )


def _v2_tables(db: pw.Database, account: type[pw.Model]) -> list[type[pw.Model]]:
    class SyncCursor(pw.Model):
        account_ref = pw.ForeignKeyField(
            account, primary_key=True, on_delete=CASCADE, column_name="account_id"
        )
        cursor_ms = pw.BigIntegerField(default=0)

        class Meta:
            database = db
            table_name = "sync_cursor"

    class TokenCache(pw.Model):
        account_ref = pw.ForeignKeyField(
            account, primary_key=True, on_delete=CASCADE, column_name="account_id"
        )
        token = pw.TextField()
        did = pw.TextField()
        issued_ms = pw.BigIntegerField()

        class Meta:
            database = db
            table_name = "token_cache"

    return [SyncCursor, TokenCache]


def _to_v2(db: pw.Database) -> None:
    """Failure reasons on cookie versions, a sync cursor per account, the token cache."""
    account = _v1_tables(db)[0]
    reason = pw.TextField(default="", constraints=[pw.SQL("DEFAULT ''")])
    migrate(
        SchemaMigrator.from_database(db).add_column(
            "cookie_version", "reason", reason, allow_not_null=True
        )
    )
    db.create_tables(_v2_tables(db, account))
    # every existing account starts from "nothing handled yet", like a new one
    db.execute_sql("INSERT INTO sync_cursor (account_id, cursor_ms) SELECT id, 0 FROM account")


def _to_v3_notify(db: pw.Database) -> None:
    """Notifications: per-account URLs, the open conditions and cooldowns, the outbox."""
    account = _v1_tables(db)[0]

    class Base(pw.Model):
        class Meta:
            database = db

    class AccountNotify(Base):
        account_ref = pw.ForeignKeyField(
            account, primary_key=True, on_delete=CASCADE, column_name="account_id"
        )
        urls = pw.TextField()  # a JSON list of apprise URLs (secrets, like the cookies)

        class Meta:
            table_name = "account_notify"

    class NotifyCondition(Base):
        # no foreign key: like events, it outlives a removed account (the cooldown holds)
        account_id = pw.CharField(max_length=128)
        kind = pw.CharField(max_length=64)
        open_ms = pw.BigIntegerField(null=True)
        notified_ms = pw.BigIntegerField(null=True)
        episode_notified = pw.IntegerField(default=0)
        detail = pw.TextField(default="")

        class Meta:
            table_name = "notify_condition"
            primary_key = pw.CompositeKey("account_id", "kind")

    class NotifyOutbox(Base):
        created_ms = pw.BigIntegerField()
        kind = pw.CharField(max_length=64)
        accounts = pw.TextField(default="[]")
        title = pw.TextField()
        body = pw.TextField()
        url = pw.TextField()
        status = pw.CharField(max_length=16)
        attempts = pw.IntegerField(default=0)
        next_ms = pw.BigIntegerField()
        claimed_ms = pw.BigIntegerField(null=True)
        done_ms = pw.BigIntegerField(null=True)
        error = pw.TextField(default="")

        class Meta:
            table_name = "notify_outbox"
            indexes = ((("status", "next_ms"), False),)

    db.create_tables([AccountNotify, NotifyCondition, NotifyOutbox])


def _to_totals(db: pw.Database) -> None:
    """Lifetime counters per account (issue 12 §1.16), in SQL both databases share."""
    db.execute_sql(
        "CREATE TABLE account_totals ("
        "account_id VARCHAR(128) NOT NULL PRIMARY KEY REFERENCES account (id) ON DELETE CASCADE, "
        "received BIGINT NOT NULL DEFAULT 0, "
        "replied BIGINT NOT NULL DEFAULT 0, "
        "crashes BIGINT NOT NULL DEFAULT 0)"
    )


def _to_proxy(db: pw.Database) -> None:
    """Each account's proxy URL ('' = direct; it may hold credentials: a secret).

    Self-contained (one column on ``account``), so its place in the order does not matter."""
    proxy = pw.TextField(default="", constraints=[pw.SQL("DEFAULT ''")])
    migrate(
        SchemaMigrator.from_database(db).add_column("account", "proxy", proxy, allow_not_null=True)
    )


_CLUSTER_TABLES = (
    "CREATE TABLE cluster_node ("
    "node_id VARCHAR(128) NOT NULL PRIMARY KEY, "
    "host TEXT NOT NULL DEFAULT '', "
    "pid INTEGER NOT NULL DEFAULT 0, "
    "data_dir TEXT NOT NULL DEFAULT '', "
    "version TEXT NOT NULL DEFAULT '', "
    "started_ms BIGINT NOT NULL, "
    "heartbeat_at TIMESTAMP WITH TIME ZONE NOT NULL, "
    "accounts INTEGER NOT NULL DEFAULT 0)",
    "CREATE TABLE account_lease ("
    "account_id VARCHAR(128) NOT NULL PRIMARY KEY REFERENCES account (id) ON DELETE CASCADE, "
    "node_id VARCHAR(128), "
    "epoch BIGINT NOT NULL DEFAULT 0, "
    "expires_at TIMESTAMP WITH TIME ZONE, "
    "pinned_node VARCHAR(128))",
    # a node's own leases: renewals, releases, a dead incarnation's leftovers
    "CREATE INDEX account_lease_node ON account_lease (node_id)",
    "CREATE TABLE cluster_operation ("
    "id {serial}, "
    # no foreign key: like events, an operation's outcome outlives a removed account
    "account_id VARCHAR(128) NOT NULL, "
    "caller_node VARCHAR(128) NOT NULL, "
    "owner_node VARCHAR(128), "
    "method VARCHAR(64) NOT NULL, "
    "args TEXT NOT NULL DEFAULT '{{}}', "
    "state VARCHAR(16) NOT NULL, "
    "result TEXT, "
    "error TEXT, "
    "created_at TIMESTAMP WITH TIME ZONE NOT NULL, "
    "finished_at TIMESTAMP WITH TIME ZONE)",
    # the owner's claim: the pending rows of the accounts it holds
    "CREATE INDEX cluster_operation_account_state ON cluster_operation (account_id, state)",
    "CREATE TABLE account_snapshot ("
    "account_id VARCHAR(128) NOT NULL PRIMARY KEY REFERENCES account (id) ON DELETE CASCADE, "
    "node_id VARCHAR(128) NOT NULL, "
    "epoch BIGINT NOT NULL, "
    '"row" TEXT NOT NULL, '
    "at TIMESTAMP WITH TIME ZONE NOT NULL)",
)


def _to_cluster(db: pw.Database) -> None:
    """Cluster mode (docs/cluster.md): nodes, one lease per account, forwarded operations,
    status snapshots. Created on SQLite too (one schema), used on PostgreSQL only."""
    is_sqlite = isinstance(db, pw.SqliteDatabase)
    serial = "INTEGER PRIMARY KEY AUTOINCREMENT" if is_sqlite else "BIGSERIAL PRIMARY KEY"
    for sql in _CLUSTER_TABLES:
        db.execute_sql(sql.format(serial=serial))
    # every existing account starts free (no node, epoch 0), like a new one
    db.execute_sql(
        "INSERT INTO account_lease (account_id, node_id, epoch) SELECT id, NULL, 0 FROM account"
    )


STEPS: tuple[Callable[[pw.Database], None], ...] = (
    _to_v1,
    _to_v2,
    _to_v3_notify,
    _to_totals,
    _to_proxy,
    _to_cluster,
)
LATEST = len(STEPS)


def schema_version(db: pw.Database) -> int:
    """The version the database is at; 0 when it has no schema yet."""
    if not db.table_exists("schema_version"):
        return 0
    row = _schema_version_model(db).select().first()
    return row.version if row else 0


def upgrade(db: pw.Database, *, target: int = LATEST) -> int:
    """Run every step from the stored version up to ``target``; returns the new version."""
    is_sqlite = isinstance(db, pw.SqliteDatabase)
    with db.atomic("IMMEDIATE") if is_sqlite else db.atomic():
        if not is_sqlite:
            db.execute_sql("SELECT pg_advisory_xact_lock(%s)", (_PG_LOCK_KEY,))
        model = _schema_version_model(db)
        db.create_tables([model])
        current = schema_version(db)
        if current > LATEST:
            raise StorageError(
                f"the database schema is version {current} but this build knows only up to "
                f"{LATEST}",
                hint="upgrade xianyu-supervisor or open a different database",
            )
        for version in range(current + 1, target + 1):
            STEPS[version - 1](db)
        if target > current:
            model.delete().execute()
            model.insert(version=target).execute()
        return max(current, target)
