"""The peewee models of the current schema, declared once and bound per database.

The classes below declare the columns and are bound to no database. ``build_models(db)``
makes a subclass of each bound to ``db``, so that two Stores in one process (SQLite and
PostgreSQL in the same test run, a migration test next to a live store) never share a
database binding, while type checkers still see every column on the declared classes. The
tables themselves are created by ``storage.migrations``; these classes only describe the
latest schema for queries.

Every table that belongs to an account references it with ``ON DELETE CASCADE``, so removing
an account leaves nothing behind. Events are the exception on purpose: they are the audit log
and keep the account id as plain text, so "account removed" stays readable afterwards.
Times are integer epoch milliseconds (see ``storage.clock``).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import peewee as pw

CASCADE = "CASCADE"

_M = TypeVar("_M", bound=pw.Model)


class _Schema(pw.Model):
    """Columns only: ``build_models`` binds a subclass of each model to a database."""

    class Meta:
        legacy_table_names = False


class Account(_Schema):
    account_id = pw.CharField(primary_key=True, max_length=128, column_name="id")
    user_id = pw.CharField(max_length=64)
    nick = pw.TextField(default="")
    enabled = pw.BooleanField(default=True)
    remark = pw.TextField(default="")
    pause_minutes = pw.IntegerField(default=10)
    active_version = pw.IntegerField()
    created_ms = pw.BigIntegerField()
    updated_ms = pw.BigIntegerField()
    proxy = pw.TextField(default="")  # may hold credentials: never logged

    class Meta:
        table_name = "account"


class CookieRow(_Schema):
    id = pw.AutoField()
    account = pw.ForeignKeyField(Account, on_delete=CASCADE, column_name="account_id")
    number = pw.IntegerField()
    value = pw.TextField()
    fingerprint = pw.CharField(max_length=16)
    source = pw.CharField(max_length=16)
    status = pw.CharField(max_length=16)
    reason = pw.TextField(default="")
    created_ms = pw.BigIntegerField()

    class Meta:
        table_name = "cookie_version"


class RuleSetRow(_Schema):
    account = pw.ForeignKeyField(
        Account, primary_key=True, on_delete=CASCADE, column_name="account_id"
    )
    revision = pw.IntegerField(default=0)
    default_text = pw.TextField(null=True)
    default_once = pw.BooleanField(default=True)

    class Meta:
        table_name = "rule_set"


class RuleRow(_Schema):
    account = pw.ForeignKeyField(Account, on_delete=CASCADE, column_name="account_id")
    position = pw.IntegerField()
    keyword = pw.TextField()
    reply = pw.TextField()
    item_id = pw.CharField(max_length=64, null=True)
    sort_order = pw.IntegerField(default=0)

    class Meta:
        table_name = "reply_rule"


class DefaultReplyClaim(_Schema):
    account = pw.ForeignKeyField(Account, on_delete=CASCADE, column_name="account_id")
    chat_id = pw.CharField(max_length=64)
    claimed_ms = pw.BigIntegerField()

    class Meta:
        table_name = "default_reply_claim"
        primary_key = pw.CompositeKey("account", "chat_id")


class ChatPause(_Schema):
    account = pw.ForeignKeyField(Account, on_delete=CASCADE, column_name="account_id")
    chat_id = pw.CharField(max_length=64)
    until_ms = pw.BigIntegerField()

    class Meta:
        table_name = "chat_pause"
        primary_key = pw.CompositeKey("account", "chat_id")


class ProcessedMessage(_Schema):
    account = pw.ForeignKeyField(Account, on_delete=CASCADE, column_name="account_id")
    message_id = pw.CharField(max_length=64)
    processed_ms = pw.BigIntegerField(index=True)

    class Meta:
        table_name = "processed_message"
        primary_key = pw.CompositeKey("account", "message_id")


class SyncCursor(_Schema):
    account = pw.ForeignKeyField(
        Account, primary_key=True, on_delete=CASCADE, column_name="account_id"
    )
    cursor_ms = pw.BigIntegerField(default=0)

    class Meta:
        table_name = "sync_cursor"


class TokenCache(_Schema):
    account = pw.ForeignKeyField(
        Account, primary_key=True, on_delete=CASCADE, column_name="account_id"
    )
    token = pw.TextField()
    did = pw.TextField()
    issued_ms = pw.BigIntegerField()

    class Meta:
        table_name = "token_cache"


class Event(_Schema):
    id = pw.AutoField()
    at_ms = pw.BigIntegerField(index=True)
    account_id = pw.CharField(max_length=128, null=True)
    kind = pw.CharField(max_length=64)
    data = pw.TextField(default="{}")

    class Meta:
        table_name = "event"


AccountTable = (
    CookieRow
    | RuleSetRow
    | RuleRow
    | DefaultReplyClaim
    | ChatPause
    | ProcessedMessage
    | SyncCursor
    | TokenCache
)
"""A model whose rows belong to one account through its ``account`` foreign key."""


@dataclass(frozen=True)
class Models:
    """The model classes bound to one database (each a subclass of the declared one)."""

    Account: type[Account]
    CookieRow: type[CookieRow]
    RuleSetRow: type[RuleSetRow]
    RuleRow: type[RuleRow]
    DefaultReplyClaim: type[DefaultReplyClaim]
    ChatPause: type[ChatPause]
    ProcessedMessage: type[ProcessedMessage]
    SyncCursor: type[SyncCursor]
    TokenCache: type[TokenCache]
    Event: type[Event]

    @property
    def account_tables(self) -> tuple[type[AccountTable], ...]:
        """Every table whose rows belong to one account (all but events)."""
        return (
            self.CookieRow,
            self.RuleSetRow,
            self.RuleRow,
            self.DefaultReplyClaim,
            self.ChatPause,
            self.ProcessedMessage,
            self.SyncCursor,
            self.TokenCache,
        )


def build_models(db: pw.Database) -> Models:
    """Model classes for the current schema, bound to ``db``."""
    account = _bind(Account, db, account=None)
    return Models(
        Account=account,
        CookieRow=_bind(CookieRow, db, account=account),
        RuleSetRow=_bind(RuleSetRow, db, account=account),
        RuleRow=_bind(RuleRow, db, account=account),
        DefaultReplyClaim=_bind(DefaultReplyClaim, db, account=account),
        ChatPause=_bind(ChatPause, db, account=account),
        ProcessedMessage=_bind(ProcessedMessage, db, account=account),
        SyncCursor=_bind(SyncCursor, db, account=account),
        TokenCache=_bind(TokenCache, db, account=account),
        Event=_bind(Event, db, account=account),
    )


def _bind(model: type[_M], db: pw.Database, *, account: type[Account] | None) -> type[_M]:
    """A subclass of ``model`` bound to ``db``, its account foreign key pointing at ``account``.

    Peewee's model inheritance copies the fields and the primary key, but not the table name,
    and a copied foreign key would still refer to the unbound ``Account``.
    """
    meta = {"database": db, "table_name": model._meta.table_name}
    attrs: dict[str, Any] = {"__module__": __name__, "Meta": type("Meta", (), meta)}
    declared = model._meta.fields.get("account")
    if account is not None and isinstance(declared, pw.ForeignKeyField):
        # a copy keeps every option and the column order; binding resolves the new target
        field = copy.deepcopy(declared)
        field.rel_model, field.rel_field = account, None
        attrs["account"] = field
    # the metaclass builds the subclass at run time, which a type checker cannot follow
    return cast("type[_M]", pw.ModelBase(model.__name__, (model,), attrs))
