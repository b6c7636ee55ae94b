"""Notification state: per-account URLs, open conditions with their cooldowns, the outbox.

``notify/`` decides what to say and when; this module only keeps it, so that cooldowns
hold across a restart and a notice survives an endpoint that is down:

- ``account_notify``: an account's own apprise URLs (they replace the global ones for it);
  removed with the account (``ON DELETE CASCADE``).
- ``notify_condition``: per (account, kind) whether the condition is open, when a notice
  about it last went out (the cooldown) and whether the open episode was announced (then
  its end is announced too).
- ``notify_outbox``: one row per (notice, URL), ``pending`` → ``sent`` | ``failed`` |
  ``uncertain``. A row is *claimed* before its send; a claimed row found at boot was maybe
  delivered, maybe not: ``uncertain``, never sent twice.

Written as SQL (``?`` placeholders, valid on SQLite >= 3.24 and PostgreSQL): the tables
belong to this module alone.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from storage.clock import from_ms, to_ms
from storage.core import StoreCore, account_not_found
from storage.records import EventRecord

NOTICE_PENDING: Final = "pending"
NOTICE_SENT: Final = "sent"
NOTICE_FAILED: Final = "failed"
NOTICE_UNCERTAIN: Final = "uncertain"
NOTICE_STATUSES: Final = frozenset({NOTICE_PENDING, NOTICE_SENT, NOTICE_FAILED, NOTICE_UNCERTAIN})


@dataclass(frozen=True)
class NotifyCondition:
    """What the notifier remembers of one (account, kind)."""

    account_id: str
    kind: str
    opened_at: datetime | None  # None: the condition is not open
    notified_at: datetime | None  # the last notice about it (the cooldown runs from here)
    episode_notified: bool  # the open episode was announced: its end will be too
    detail: str = ""


@dataclass(frozen=True)
class NewNotice:
    """A notice to deliver to one URL."""

    kind: str
    accounts: tuple[str, ...]
    title: str
    body: str
    url: str = field(repr=False)


@dataclass(frozen=True)
class OutboxNotice:
    """One row of the outbox: a notice on its way to one URL."""

    id: int
    created_at: datetime
    kind: str
    accounts: tuple[str, ...]
    title: str
    body: str
    url: str = field(repr=False)
    status: str = NOTICE_PENDING
    attempts: int = 0
    next_at: datetime | None = None
    done_at: datetime | None = None
    error: str = ""


_GET_URLS = "SELECT urls FROM account_notify WHERE account_id = ?"
_ALL_URLS = "SELECT account_id, urls FROM account_notify"
_DELETE_URLS = "DELETE FROM account_notify WHERE account_id = ?"
_PUT_URLS = (
    "INSERT INTO account_notify (account_id, urls) VALUES (?, ?) "
    "ON CONFLICT (account_id) DO UPDATE SET urls = excluded.urls"
)
_CONDITIONS = (
    "SELECT account_id, kind, open_ms, notified_ms, episode_notified, detail FROM notify_condition"
)
_PUT_CONDITION = (
    "INSERT INTO notify_condition "
    "(account_id, kind, open_ms, notified_ms, episode_notified, detail) VALUES (?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (account_id, kind) DO UPDATE SET open_ms = excluded.open_ms, "
    "notified_ms = excluded.notified_ms, episode_notified = excluded.episode_notified, "
    "detail = excluded.detail"
)
_INSERT_NOTICE = (
    "INSERT INTO notify_outbox (created_ms, kind, accounts, title, body, url, status, attempts, "
    "next_ms, error) VALUES (?, ?, ?, ?, ?, ?, 'pending', 0, ?, '')"
)
_NOTICE_ROWS = (
    "SELECT id, created_ms, kind, accounts, title, body, url, status, attempts, next_ms, "
    "done_ms, error FROM notify_outbox "
)
_DUE = (
    _NOTICE_ROWS + "WHERE status = 'pending' AND claimed_ms IS NULL AND next_ms <= ? "
    "ORDER BY next_ms, id LIMIT ?"
)
_NEWEST = _NOTICE_ROWS + "ORDER BY id DESC LIMIT ?"
_NEXT_DUE = "SELECT MIN(next_ms) FROM notify_outbox WHERE status = 'pending' AND claimed_ms IS NULL"
_CLAIM = (
    "UPDATE notify_outbox SET claimed_ms = ?, attempts = attempts + 1 "
    "WHERE id = ? AND status = 'pending' AND claimed_ms IS NULL"
)
_FINISH = (
    "UPDATE notify_outbox SET status = ?, done_ms = ?, error = ?, claimed_ms = NULL WHERE id = ?"
)
_RETRY = (
    "UPDATE notify_outbox SET next_ms = ?, error = ?, claimed_ms = NULL "
    "WHERE id = ? AND status = 'pending'"
)
_RECOVER = (
    "UPDATE notify_outbox SET status = 'uncertain', done_ms = ?, "
    "error = 'the service stopped while sending it: it may or may not have arrived' "
    "WHERE status = 'pending' AND claimed_ms IS NOT NULL"
)
_LAST_EVENT = "SELECT MAX(id) FROM event"
_EVENTS_AFTER = (
    "SELECT id, at_ms, account_id, kind, data FROM event WHERE id > ? ORDER BY id LIMIT ?"
)


def _ms(moment: datetime | float | None) -> int | None:
    return None if moment is None else to_ms(moment)


def _moment(ms: int | None) -> datetime | None:
    return None if ms is None else from_ms(ms)


def _notice(row: Sequence[Any]) -> OutboxNotice:
    nid, created, kind, accounts, title, body, url, status, attempts, next_ms, done, error = row
    return OutboxNotice(
        id=int(nid),
        created_at=from_ms(created),
        kind=kind,
        accounts=tuple(json.loads(accounts)),
        title=title,
        body=body,
        url=url,
        status=status,
        attempts=int(attempts),
        next_at=_moment(next_ms),
        done_at=_moment(done),
        error=error,
    )


class NotifyOps(StoreCore):
    # --- per-account URLs -------------------------------------------------------------------

    def set_notify_urls(self, account_id: str, urls: Sequence[str]) -> tuple[str, ...]:
        """Replace the account's own notification URLs; an empty list clears them."""
        cleaned = tuple(dict.fromkeys(u.strip() for u in urls if u.strip()))
        with self._write(
            f"setting the notification URLs of {account_id!r}",
            on_integrity=lambda: account_not_found(account_id),
        ):
            self._require_account(account_id)
            if cleaned:
                self._execute(_PUT_URLS, (account_id, json.dumps(list(cleaned))))
            else:
                self._execute(_DELETE_URLS, (account_id,))
        return cleaned

    def notify_urls(self, account_id: str) -> tuple[str, ...]:
        """The account's own URLs (empty: it uses the global ones)."""
        with self._locked(f"reading the notification URLs of {account_id!r}"):
            row = self._db.execute_sql(self._sql(_GET_URLS), (account_id,)).fetchone()
        return tuple(json.loads(row[0])) if row else ()

    def notify_url_map(self) -> dict[str, tuple[str, ...]]:
        """Every account that has URLs of its own → those URLs."""
        with self._locked("reading the notification URLs"):
            rows = self._db.execute_sql(_ALL_URLS).fetchall()
        return {account_id: tuple(json.loads(urls)) for account_id, urls in rows}

    # --- conditions and cooldowns -----------------------------------------------------------

    def notify_conditions(self) -> list[NotifyCondition]:
        with self._locked("reading the notification conditions"):
            rows = self._db.execute_sql(_CONDITIONS).fetchall()
        return [
            NotifyCondition(
                account_id=account_id,
                kind=kind,
                opened_at=_moment(open_ms),
                notified_at=_moment(notified_ms),
                episode_notified=bool(episode),
                detail=detail,
            )
            for account_id, kind, open_ms, notified_ms, episode, detail in rows
        ]

    def save_notify_state(
        self,
        conditions: Iterable[NotifyCondition],
        notices: Iterable[NewNotice],
        *,
        now: datetime | float,
    ) -> list[int]:
        """Write changed conditions and enqueue notices (due at ``now``) in one transaction:
        a cooldown is never recorded without its notice, nor a notice without its cooldown."""
        condition_rows = [
            (
                c.account_id,
                c.kind,
                _ms(c.opened_at),
                _ms(c.notified_at),
                int(c.episode_notified),
                c.detail,
            )
            for c in conditions
        ]
        notice_list = list(notices)
        if not condition_rows and not notice_list:
            return []
        at = to_ms(now)
        ids = []
        with self._write("saving the notification state"):
            for params in condition_rows:
                self._execute(_PUT_CONDITION, params)
            for n in notice_list:
                row = (at, n.kind, json.dumps(list(n.accounts)), n.title, n.body, n.url, at)
                cursor = self._db.execute_sql(self._sql(_INSERT_NOTICE) + " RETURNING id", row)
                ids.append(int(cursor.fetchone()[0]))
        return ids

    # --- the outbox -------------------------------------------------------------------------

    def due_notices(self, now: datetime | float, limit: int = 50) -> list[OutboxNotice]:
        """Pending, unclaimed rows whose time has come, oldest first."""
        with self._locked("reading due notices"):
            rows = self._db.execute_sql(self._sql(_DUE), (to_ms(now), limit)).fetchall()
        return [_notice(row) for row in rows]

    def next_notice_due(self) -> datetime | None:
        """When the next pending row is due (None: nothing pending)."""
        with self._locked("reading the next notice due"):
            row = self._db.execute_sql(_NEXT_DUE).fetchone()
        return _moment(row[0] if row else None)

    def claim_notice(self, notice_id: int, now: datetime | float) -> bool:
        """Mark a row as being sent (one attempt more); False if it is not pending any more."""
        with self._locked(f"claiming notice {notice_id}"):
            return self._execute(_CLAIM, (to_ms(now), notice_id)) > 0

    def finish_notice(
        self, notice_id: int, status: str, *, now: datetime | float, error: str = ""
    ) -> None:
        """A claimed row's final status: ``sent``, ``failed`` or ``uncertain``."""
        if status not in NOTICE_STATUSES - {NOTICE_PENDING}:
            raise ValueError(f"a finished notice is sent, failed or uncertain, not {status!r}")
        with self._locked(f"finishing notice {notice_id}"):
            self._execute(_FINISH, (status, to_ms(now), error, notice_id))

    def retry_notice(self, notice_id: int, *, at: datetime | float, error: str) -> None:
        """A claimed row failed this time: pending again, due ``at``."""
        with self._locked(f"rescheduling notice {notice_id}"):
            self._execute(_RETRY, (to_ms(at), error, notice_id))

    def recover_notices(self, now: datetime | float) -> int:
        """Boot: rows claimed by a process that stopped become ``uncertain``; how many."""
        with self._locked("recovering notices in flight"):
            return self._execute(_RECOVER, (to_ms(now),))

    def notices(self, limit: int = 100) -> list[OutboxNotice]:
        """The newest outbox rows, newest first (for inspection and tests)."""
        with self._locked("reading the outbox"):
            rows = self._db.execute_sql(self._sql(_NEWEST), (limit,)).fetchall()
        return [_notice(row) for row in rows]

    # --- the event log, read in order -------------------------------------------------------

    def last_event_id(self) -> int:
        """The id of the newest event (0: none); ``events_after`` continues from it."""
        with self._locked("reading the last event id"):
            row = self._db.execute_sql(_LAST_EVENT).fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    def events_after(self, event_id: int, limit: int = 500) -> list[tuple[int, EventRecord]]:
        """Events newer than ``event_id``, **oldest first**, each with its id."""
        with self._locked("reading new events"):
            rows = self._db.execute_sql(self._sql(_EVENTS_AFTER), (event_id, limit)).fetchall()
        return [
            (
                int(rid),
                EventRecord(at=from_ms(at), account_id=account, kind=kind, data=json.loads(data)),
            )
            for rid, at, account, kind, data in rows
        ]
