"""The peewee models of the current schema, built per database.

Models are created by ``build_models(db)`` instead of at import time so that two Stores in
one process (SQLite and PostgreSQL in the same test run, a migration test next to a live
store) never share a database binding. The tables themselves are created by
``storage.migrations``; these classes only describe the latest schema for queries.

Every table that belongs to an account references it with ``ON DELETE CASCADE``, so removing
an account leaves nothing behind. Events are the exception on purpose: they are the audit log
and keep the account id as plain text, so "account removed" stays readable afterwards.
Times are integer epoch milliseconds (see ``storage.clock``).
"""

from __future__ import annotations

from dataclasses import dataclass

import peewee as pw

CASCADE = "CASCADE"


@dataclass(frozen=True)
class Models:
    """The model classes bound to one database."""

    Account: type[pw.Model]
    CookieRow: type[pw.Model]
    RuleSetRow: type[pw.Model]
    RuleRow: type[pw.Model]
    DefaultReplyClaim: type[pw.Model]
    ChatPause: type[pw.Model]
    ProcessedMessage: type[pw.Model]
    SyncCursor: type[pw.Model]
    TokenCache: type[pw.Model]
    Event: type[pw.Model]

    @property
    def account_tables(self) -> tuple[type[pw.Model], ...]:
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

    class Base(pw.Model):
        class Meta:
            database = db
            legacy_table_names = False

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

    class CookieRow(Base):
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

    class RuleSetRow(Base):
        account = pw.ForeignKeyField(
            Account, primary_key=True, on_delete=CASCADE, column_name="account_id"
        )
        revision = pw.IntegerField(default=0)
        default_text = pw.TextField(null=True)
        default_once = pw.BooleanField(default=True)

        class Meta:
            table_name = "rule_set"

    class RuleRow(Base):
        account = pw.ForeignKeyField(Account, on_delete=CASCADE, column_name="account_id")
        position = pw.IntegerField()
        keyword = pw.TextField()
        reply = pw.TextField()
        item_id = pw.CharField(max_length=64, null=True)
        sort_order = pw.IntegerField(default=0)

        class Meta:
            table_name = "reply_rule"

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

    class SyncCursor(Base):
        account = pw.ForeignKeyField(
            Account, primary_key=True, on_delete=CASCADE, column_name="account_id"
        )
        cursor_ms = pw.BigIntegerField(default=0)

        class Meta:
            table_name = "sync_cursor"

    class TokenCache(Base):
        account = pw.ForeignKeyField(
            Account, primary_key=True, on_delete=CASCADE, column_name="account_id"
        )
        token = pw.TextField()
        did = pw.TextField()
        issued_ms = pw.BigIntegerField()

        class Meta:
            table_name = "token_cache"

    class Event(Base):
        at_ms = pw.BigIntegerField(index=True)
        account_id = pw.CharField(max_length=128, null=True)
        kind = pw.CharField(max_length=64)
        data = pw.TextField(default="{}")

        class Meta:
            table_name = "event"

    return Models(
        Account=Account,
        CookieRow=CookieRow,
        RuleSetRow=RuleSetRow,
        RuleRow=RuleRow,
        DefaultReplyClaim=DefaultReplyClaim,
        ChatPause=ChatPause,
        ProcessedMessage=ProcessedMessage,
        SyncCursor=SyncCursor,
        TokenCache=TokenCache,
        Event=Event,
    )
