"""Account operations: add, read, partial update, cascade remove.

Cookie values live in their own table (``cookie_version``), so writing a cookie is an
INSERT/UPDATE there plus an UPDATE of ``account.active_version`` alone. Account fields are
only ever written by ``update_account`` as an UPDATE of the named columns it was given:
there is no full-row save and no INSERT OR REPLACE anywhere, so a cookie update can never
reset remark, pause minutes or enabled.
"""

from __future__ import annotations

from typing import Any

from common.errors import AlreadyExistsError, CookieError, InvalidValueError
from common.proxy import check_proxy
from storage.clock import now_ms
from storage.core import StoreCore, account_record, fingerprint
from storage.records import ACTIVE, SOURCE_ADMIN, SOURCES, AccountRecord

_NEW_LEASE = "INSERT INTO account_lease (account_id, node_id, epoch) VALUES (?, NULL, 0)"
_NOTIFY_LEASES = "SELECT pg_notify('xianyu_leases', ?)"
# the tables written as SQL (no peewee model in Models.account_tables)
_REMOVE_ROWS = (
    "DELETE FROM account_totals WHERE account_id = ?",
    "DELETE FROM account_snapshot WHERE account_id = ?",
    "DELETE FROM account_lease WHERE account_id = ?",
)


def cookie_text(cookie: Any) -> str:
    """The stored form of a cookie: a ``str`` as is, or ``goofish.Cookie.serialize()``."""
    text = cookie if isinstance(cookie, str) else cookie.serialize()
    if not text.strip():
        raise CookieError(
            "the cookie is empty", hint="paste the whole Cookie header of a logged-in page"
        )
    return text


def check_source(source: str) -> None:
    if source not in SOURCES:
        raise InvalidValueError("the cookie source", f"one of {sorted(SOURCES)}", value=source)


class AccountOps(StoreCore):
    def add_account(
        self,
        account_id: str,
        cookie: Any,
        user_id: str,
        *,
        enabled: bool = True,
        remark: str = "",
        nick: str = "",
        pause_minutes: int = 10,
        source: str = SOURCE_ADMIN,
        proxy: str = "",
    ) -> AccountRecord:
        """Create an account with its cookie as version 1, active (``proxy``: '' = direct)."""
        if not account_id:
            raise InvalidValueError(
                "the account id", "a non-empty name such as 'shop-1'", value=account_id
            )
        if pause_minutes < 0:
            raise InvalidValueError("pause_minutes", "0 (never) or more", value=pause_minutes)
        check_source(source)
        value = cookie_text(cookie)
        exists = AlreadyExistsError(
            f"account {account_id!r} already exists",
            account=account_id,
            hint="use 'ctl update' to change its cookie or pick another id",
        )
        with self._write(f"adding account {account_id!r}", on_integrity=lambda: exists) as m:
            if m.Account.select().where(m.Account.account_id == account_id).exists():
                raise exists
            self._forget_account(account_id)
            now = now_ms()
            m.Account.insert(
                account_id=account_id,
                user_id=user_id,
                nick=nick,
                enabled=enabled,
                remark=remark,
                pause_minutes=pause_minutes,
                active_version=1,
                created_ms=now,
                updated_ms=now,
                proxy=check_proxy(proxy),
            ).execute()
            m.CookieRow.insert(
                account=account_id,
                number=1,
                value=value,
                fingerprint=fingerprint(value),
                source=source,
                status=ACTIVE,
                reason="",
                created_ms=now,
            ).execute()
            m.SyncCursor.insert(account=account_id, cursor_ms=0).execute()
            # its lease (cluster mode), free: a node claims it; the NOTIFY (sent at commit)
            # wakes the nodes at once instead of at their next poll
            self._execute(_NEW_LEASE, (account_id,))
            if not self._is_sqlite:
                self._execute(_NOTIFY_LEASES, (account_id,))
            return account_record(self._account_row(account_id))

    def get_account(self, account_id: str) -> AccountRecord:
        with self._locked(f"reading account {account_id!r}"):
            return account_record(self._account_row(account_id))

    def list_accounts(self) -> list[AccountRecord]:
        """Every account, ordered by id."""
        with self._locked("listing accounts") as m:
            return [
                account_record(row) for row in m.Account.select().order_by(m.Account.account_id)
            ]

    def seller_accounts(self, user_id: str) -> list[str]:
        """The ids of the accounts of seller ``user_id``, ordered (one seller, one account)."""
        with self._locked(f"looking up the accounts of seller {user_id}") as m:
            rows = m.Account.select(m.Account.account_id).where(m.Account.user_id == user_id)
            return [row.account_id for row in rows.order_by(m.Account.account_id)]

    def update_account(
        self,
        account_id: str,
        *,
        remark: str | None = None,
        pause_minutes: int | None = None,
        enabled: bool | None = None,
        nick: str | None = None,
        proxy: str | None = None,
    ) -> AccountRecord:
        """Write only the fields given (``None`` = leave as is; ``proxy=''`` clears it);
        returns the updated account."""
        if pause_minutes is not None and pause_minutes < 0:
            raise InvalidValueError("pause_minutes", "0 (never) or more", value=pause_minutes)
        with self._write(f"updating account {account_id!r}") as m:
            given = {
                m.Account.remark: remark,
                m.Account.pause_minutes: pause_minutes,
                m.Account.enabled: enabled,
                m.Account.nick: nick,
                m.Account.proxy: None if proxy is None else check_proxy(proxy),
            }
            changes = {column: value for column, value in given.items() if value is not None}
            changes[m.Account.updated_ms] = now_ms()
            updated = m.Account.update(changes).where(m.Account.account_id == account_id).execute()
            if not updated:
                self._require_account(account_id)
            return account_record(self._account_row(account_id))

    def remove_account(self, account_id: str) -> None:
        """Delete the account and every row that belongs to it (its events stay: audit log)."""
        with self._write(f"removing account {account_id!r}") as m:
            self._forget_account(account_id)
            self._require_account(account_id)
            # explicit deletes as well as ON DELETE CASCADE: nothing is left behind even on a
            # connection that was opened without SQLite's foreign_keys pragma
            for table in m.account_tables:
                table.delete().where(table.account == account_id).execute()
            for sql in _REMOVE_ROWS:
                self._execute(sql, (account_id,))
            m.Account.delete().where(m.Account.account_id == account_id).execute()
