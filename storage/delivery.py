"""Delivery state: processed message ids, chat pauses, the sync cursor, the token cache.

These sit on the reply hot path (every reply does one ``is_processed`` and one
``record_handled``, which is ``mark_processed`` and ``advance_cursor`` in one transaction),
so each is a single indexed statement, run without BEGIN/COMMIT of its own:
``mark_processed`` is an INSERT that ignores duplicates and reports whether it inserted,
``advance_cursor`` an UPDATE guarded by ``cursor_ms < new``; neither reads first.
Those statements are written out as SQL (valid on SQLite >= 3.24 and PostgreSQL) because
building them with peewee's query builder cost twice as much as running them.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import peewee as pw

from storage.clock import from_ms, now_ms, to_ms
from storage.core import StoreCore, account_not_found
from storage.records import TokenRecord

# stay well below SQLite's limit on bound parameters per statement
_IN_CHUNK = 500

_MARK_PROCESSED = (
    "INSERT INTO processed_message (account_id, message_id, processed_ms) VALUES (?, ?, ?) "
    "ON CONFLICT DO NOTHING"
)
_IS_PROCESSED = "SELECT 1 FROM processed_message WHERE account_id = ? AND message_id = ?"
_ADVANCE_CURSOR = "UPDATE sync_cursor SET cursor_ms = ? WHERE account_id = ? AND cursor_ms < ?"
_PAUSES = "SELECT chat_id, until_ms FROM chat_pause WHERE account_id = ? AND until_ms > ?"


class DeliveryOps(StoreCore):
    @property
    def inline_safe(self) -> bool:
        """Whether the delivery statements may run on the IO loop thread (``actors/turns.py``):
        on SQLite each is a local call of microseconds; on PostgreSQL a network round trip."""
        return self._is_sqlite

    def mark_processed(self, account_id: str, message_id: str) -> bool:
        """Record that a message was handled; True if it was new (idempotent)."""
        with self._hot_write(
            f"marking message {message_id!r} of {account_id!r} processed",
            account_id,
            on_integrity=lambda: account_not_found(account_id),
        ):
            return self._execute(_MARK_PROCESSED, (account_id, message_id, now_ms())) > 0

    def record_handled(self, account_id: str, message_id: str, cursor_ms: int) -> bool:
        """``mark_processed`` and ``advance_cursor`` in one transaction (one lock, one
        commit): what every answered message needs. True if the message was new."""
        with self._fenced(
            f"recording message {message_id!r} of {account_id!r} handled",
            account_id,
            on_integrity=lambda: account_not_found(account_id),
        ):
            new = self._execute(_MARK_PROCESSED, (account_id, message_id, now_ms())) > 0
            self._execute(_ADVANCE_CURSOR, (cursor_ms, account_id, cursor_ms))
        return new

    def is_processed(self, account_id: str, message_id: str) -> bool:
        with self._locked(f"checking message {message_id!r} of {account_id!r}"):
            return (
                self._db.execute_sql(self._sql(_IS_PROCESSED), (account_id, message_id)).fetchone()
                is not None
            )

    def processed_ids(self, account_id: str, message_ids: Iterable[str]) -> set[str]:
        """The subset of ``message_ids`` already processed (one query per 500 ids)."""
        wanted = list(dict.fromkeys(message_ids))
        found: set[str] = set()
        with self._locked(f"checking {len(wanted)} messages of {account_id!r}") as m:
            for start in range(0, len(wanted), _IN_CHUNK):
                chunk = wanted[start : start + _IN_CHUNK]
                rows = m.ProcessedMessage.select(m.ProcessedMessage.message_id).where(
                    (m.ProcessedMessage.account == account_id)
                    & (m.ProcessedMessage.message_id.in_(chunk))
                )
                found.update(row.message_id for row in rows)
        return found

    def prune_processed(self, older_than: datetime | float) -> int:
        """Forget message ids processed before ``older_than`` (datetime or epoch seconds)."""
        with self._write("pruning processed messages") as m:
            return (
                m.ProcessedMessage.delete()
                .where(m.ProcessedMessage.processed_ms < to_ms(older_than))
                .execute()
            )

    def pause_chat(self, account_id: str, chat_id: str, until: datetime | float) -> None:
        """No auto-replies in this chat until ``until`` (the seller answered by hand)."""
        until_ms = to_ms(until)
        with self._fenced(
            f"pausing chat {chat_id!r} of {account_id!r}",
            account_id,
            on_integrity=lambda: account_not_found(account_id),
        ) as m:
            self._pause_cache.pop(account_id, None)
            m.ChatPause.insert(account=account_id, chat_id=chat_id, until_ms=until_ms).on_conflict(
                conflict_target=[m.ChatPause.account, m.ChatPause.chat_id],
                update={m.ChatPause.until_ms: until_ms},
            ).execute()

    def unpause_chat(self, account_id: str, chat_id: str) -> bool:
        """Lift the chat's pause; False when it had none (or the account is unknown: raises)."""
        with self._fenced(f"unpausing chat {chat_id!r} of {account_id!r}", account_id) as m:
            self._pause_cache.pop(account_id, None)
            self._require_account(account_id)
            this_chat = (m.ChatPause.account == account_id) & (m.ChatPause.chat_id == chat_id)
            # an expired row paused nothing: it goes too, but does not count as lifted
            active = m.ChatPause.select().where(this_chat & (m.ChatPause.until_ms > now_ms()))
            was_paused = active.exists()
            m.ChatPause.delete().where(this_chat).execute()
            return was_paused

    def chat_pauses(self, account_id: str) -> dict[str, datetime]:
        """The account's chats paused now (chat id -> when the pause ends), soonest first."""
        with self._locked(f"reading the chat pauses of {account_id!r}"):
            self._require_account(account_id)
            rows = self._db.execute_sql(self._sql(_PAUSES), (account_id, now_ms())).fetchall()
        return {chat: from_ms(until) for chat, until in sorted(rows, key=lambda r: r[1])}

    def paused_until(self, account_id: str, chat_id: str) -> datetime | None:
        """When the chat's pause ends, or None if it is not paused (or the pause is over).

        Served from memory: the account's pauses are read once, and ``pause_chat``,
        ``unpause_chat`` and ``remove_account`` drop them under the lock.
        """
        what = f"reading the pause of chat {chat_id!r} of {account_id!r}"
        pauses = self._pause_cache.get(account_id)
        if pauses is None:
            with self._locked(what):
                cursor = self._db.execute_sql(self._sql(_PAUSES), (account_id, now_ms()))
                pauses = self._pause_cache[account_id] = dict(cursor.fetchall())
        else:
            self._check_open(what)
        until_ms = pauses.get(chat_id)
        if until_ms is None or until_ms <= now_ms():
            return None
        return from_ms(until_ms)

    def get_cursor(self, account_id: str) -> int:
        """Epoch ms of the newest handled message (0 if none): a restart fetches from here."""
        with self._locked(f"reading the sync cursor of {account_id!r}") as m:
            row = m.SyncCursor.get_or_none(m.SyncCursor.account == account_id)
            if row is None:
                self._require_account(account_id)
                return 0
            return row.cursor_ms

    def advance_cursor(self, account_id: str, created_at_ms: int) -> None:
        """Move the cursor forward to ``created_at_ms``; never moves it back."""
        with self._hot_write(f"advancing the sync cursor of {account_id!r}", account_id):
            moved = self._execute(_ADVANCE_CURSOR, (created_at_ms, account_id, created_at_ms))
            if not moved:
                self._require_account(account_id)

    def save_token(
        self, account_id: str, token: str, did: str, *, issued_at: datetime | float
    ) -> None:
        """Cache the IM access token so a restart can re-register without the token API."""
        issued_ms = to_ms(issued_at)
        with self._fenced(
            f"saving the token of {account_id!r}",
            account_id,
            on_integrity=lambda: account_not_found(account_id),
        ) as m:
            fields: dict[pw.Field, object] = {m.TokenCache.token: token, m.TokenCache.did: did}
            fields[m.TokenCache.issued_ms] = issued_ms
            m.TokenCache.insert({m.TokenCache.account: account_id, **fields}).on_conflict(
                conflict_target=[m.TokenCache.account], update=fields
            ).execute()

    def load_token(self, account_id: str) -> TokenRecord | None:
        with self._locked(f"loading the token of {account_id!r}") as m:
            row = m.TokenCache.get_or_none(m.TokenCache.account == account_id)
        if row is None:
            return None
        return TokenRecord(
            account_id=account_id, token=row.token, did=row.did, issued_at=from_ms(row.issued_ms)
        )
