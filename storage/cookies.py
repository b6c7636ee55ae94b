"""Cookie history: propose, activate, fail, roll back, token-refresh merges, pruning.

Invariant: every account has exactly one ``active`` version. Switching is one transaction
that demotes the old active row before promoting the new one, and a partial unique index
(``cookie_version_one_active``) makes a second active row impossible even for a bug.

History keeps at most ``cookie_history`` versions per account. Pruning deletes the oldest
first but never the active version, any pending one (it is on probation right now) or the
newest superseded one (the rollback target).
"""

from __future__ import annotations

from typing import Any

import peewee as pw

from common.errors import ConflictError, InvalidValueError, NotFoundError, VersionNotFoundError
from storage.accounts import check_source, cookie_text
from storage.clock import now_ms
from storage.core import StoreCore, cookie_version, fingerprint
from storage.models import CookieRow
from storage.records import (
    ACTIVE,
    FAILED,
    PENDING,
    ROLLED_BACK,
    SOURCE_TOKEN_REFRESH,
    SUPERSEDED,
    CookieVersion,
)

DEMOTIONS = frozenset({SUPERSEDED, ROLLED_BACK})
INTERRUPTED = "interrupted"


def version_not_found(account_id: str, number: int) -> NotFoundError:
    return VersionNotFoundError(account_id, number)


class CookieOps(StoreCore):
    def active_cookie(self, account_id: str) -> CookieVersion | None:
        """The active version, or None when there is no such account."""
        with self._locked(f"reading the active cookie of {account_id!r}") as m:
            row = m.CookieRow.get_or_none(
                (m.CookieRow.account == account_id) & (m.CookieRow.status == ACTIVE)
            )
            return None if row is None else cookie_version(row, account_id)

    def propose_cookie(self, account_id: str, value: Any, *, source: str) -> CookieVersion:
        """Add a ``pending`` version; it becomes active only through ``activate_version``."""
        check_source(source)
        text = cookie_text(value)
        with self._fenced(f"proposing a cookie for {account_id!r}", account_id):
            self._require_account(account_id)
            row = self._insert_version(account_id, text, source=source, status=PENDING)
            self._prune(account_id)
            return cookie_version(row, account_id)

    def activate_version(
        self, account_id: str, number: int, *, demote_to: str = SUPERSEDED
    ) -> CookieVersion:
        """Make ``number`` the active version; the previous active one becomes ``demote_to``.

        Works for a pending version (an update passed probation) and for a superseded or
        rolled-back one (a rollback re-activating an earlier cookie; pass
        ``demote_to="rolled_back"`` for the version being abandoned). A failed version is
        refused: propose its cookie again instead.
        """
        if demote_to not in DEMOTIONS:
            raise InvalidValueError("demote_to", f"one of {sorted(DEMOTIONS)}", value=demote_to)
        with self._fenced(f"activating cookie version {number} of {account_id!r}", account_id):
            row = self._version_row(account_id, number)
            if row.status == ACTIVE:
                return cookie_version(row, account_id)
            if row.status == FAILED:
                raise ConflictError(
                    f"cookie version {number} of account {account_id!r} failed "
                    f"({row.reason or 'no reason recorded'})",
                    account=account_id,
                    hint="propose the cookie again instead",
                )
            self._switch_active(account_id, row, demote_to=demote_to)
            self._prune(account_id)
            return cookie_version(self._version_row(account_id, number), account_id)

    def fail_version(self, account_id: str, number: int, reason: str) -> CookieVersion:
        """Mark a version ``failed`` with why; the active version cannot fail (switch first)."""
        with self._fenced(f"failing cookie version {number} of {account_id!r}", account_id) as m:
            row = self._version_row(account_id, number)
            if row.status == ACTIVE:
                raise ConflictError(
                    f"cookie version {number} of account {account_id!r} is the active one",
                    account=account_id,
                    hint="activate or roll back to another version before failing it",
                )
            m.CookieRow.update(status=FAILED, reason=reason).where(
                m.CookieRow.id == row.id
            ).execute()
            return cookie_version(self._version_row(account_id, number), account_id)

    def rollback_target(self, account_id: str, to_number: int | None = None) -> CookieVersion:
        """The version a rollback should re-activate: ``to_number``, or the newest superseded."""
        with self._locked(f"finding a rollback target for {account_id!r}") as m:
            if to_number is not None:
                row = self._version_row(account_id, to_number)
                if row.status not in DEMOTIONS:
                    raise ConflictError(
                        f"cookie version {to_number} of account {account_id!r} is {row.status}",
                        account=account_id,
                        hint="roll back to a superseded or rolled_back version "
                        f"(see 'ctl history {account_id}')",
                    )
                return cookie_version(row, account_id)
            row = (
                m.CookieRow.select()
                .where((m.CookieRow.account == account_id) & (m.CookieRow.status == SUPERSEDED))
                .order_by(m.CookieRow.number.desc())
                .first()
            )
            if row is None:
                self._require_account(account_id)
                raise NotFoundError(
                    f"account {account_id!r} has no earlier good cookie version to roll back to",
                    account=account_id,
                    hint=f"run 'ctl history {account_id}' to see its versions",
                )
            return cookie_version(row, account_id)

    def get_version(self, account_id: str, number: int) -> CookieVersion:
        """Version ``number`` as stored now (a token refresh may have changed a pending one)."""
        with self._locked(f"reading cookie version {number} of {account_id!r}"):
            return cookie_version(self._version_row(account_id, number), account_id)

    def history(self, account_id: str, limit: int = 20) -> list[CookieVersion]:
        """The newest ``limit`` versions, newest first."""
        with self._locked(f"reading the cookie history of {account_id!r}") as m:
            rows = list(
                m.CookieRow.select()
                .where(m.CookieRow.account == account_id)
                .order_by(m.CookieRow.number.desc())
                .limit(limit)
            )
            if not rows:
                self._require_account(account_id)
            return [cookie_version(row, account_id) for row in rows]

    def pending_accounts(self) -> list[str]:
        """Accounts with a version still pending (at boot: the updates a crash interrupted)."""
        with self._locked("reading the accounts with pending cookie versions"):
            sql = "SELECT DISTINCT account_id FROM cookie_version WHERE status = ?"
            rows = self._db.execute_sql(self._sql(sql), (PENDING,)).fetchall()
            return sorted(str(account_id) for (account_id,) in rows)

    def fail_pending_versions(self) -> int:
        """At boot: every version left pending by a previous run failed ("interrupted")."""
        with self._write("failing interrupted pending cookie versions") as m:
            return (
                m.CookieRow.update(status=FAILED, reason=INTERRUPTED)
                .where(m.CookieRow.status == PENDING)
                .execute()
            )

    def record_token_refresh(
        self, account_id: str, old_value: str, new_value: str
    ) -> CookieVersion | None:
        """Keep a Set-Cookie merge from the token API.

        ``old_value`` is the active cookie: the merged one becomes a new active version
        (source ``token_refresh``). ``old_value`` is a pending cookie (on probation): that
        row's value is replaced in place. Otherwise (or nothing changed) returns None.
        """
        if old_value == new_value:
            return None
        with self._fenced(f"recording a token refresh for {account_id!r}", account_id) as m:
            self._require_account(account_id)
            rows = (
                m.CookieRow.select()
                .where(
                    (m.CookieRow.account == account_id)
                    & (m.CookieRow.status.in_([ACTIVE, PENDING]))
                    & (m.CookieRow.value == old_value)
                )
                .order_by(m.CookieRow.number.desc())
            )
            row = rows.first()
            if row is None:
                return None
            if row.status == PENDING:
                # the value changed, so its fingerprint and its source change with it:
                # what is stored now came from the token API's Set-Cookie
                m.CookieRow.update(
                    value=new_value,
                    fingerprint=fingerprint(new_value),
                    source=SOURCE_TOKEN_REFRESH,
                ).where(m.CookieRow.id == row.id).execute()
                return cookie_version(self._version_row(account_id, row.number), account_id)
            fresh = self._insert_version(
                account_id, new_value, source=SOURCE_TOKEN_REFRESH, status=PENDING
            )
            self._switch_active(account_id, fresh, demote_to=SUPERSEDED)
            self._prune(account_id)
            return cookie_version(self._version_row(account_id, fresh.number), account_id)

    # -- helpers; callers hold a write transaction --------------------------------------

    def _version_row(self, account_id: str, number: int) -> CookieRow:
        m = self._m
        row = m.CookieRow.get_or_none(
            (m.CookieRow.account == account_id) & (m.CookieRow.number == number)
        )
        if row is None:
            self._require_account(account_id)
            raise version_not_found(account_id, number)
        return row

    def _insert_version(self, account_id: str, value: str, *, source: str, status: str) -> Any:
        m = self._m
        newest = (
            m.CookieRow.select(pw.fn.MAX(m.CookieRow.number))
            .where(m.CookieRow.account == account_id)
            .scalar()
        )
        return m.CookieRow.create(
            account=account_id,
            number=(newest or 0) + 1,
            value=value,
            fingerprint=fingerprint(value),
            source=source,
            status=status,
            reason="",
            created_ms=now_ms(),
        )

    def _switch_active(self, account_id: str, row: Any, *, demote_to: str) -> None:
        m = self._m
        # demote first: the partial unique index allows one active row at any moment
        m.CookieRow.update(status=demote_to).where(
            (m.CookieRow.account == account_id) & (m.CookieRow.status == ACTIVE)
        ).execute()
        m.CookieRow.update(status=ACTIVE).where(m.CookieRow.id == row.id).execute()
        m.Account.update(active_version=row.number, updated_ms=now_ms()).where(
            m.Account.account_id == account_id
        ).execute()

    def _prune(self, account_id: str) -> None:
        m = self._m
        rows = list(
            m.CookieRow.select(m.CookieRow.id, m.CookieRow.status)
            .where(m.CookieRow.account == account_id)
            .order_by(m.CookieRow.number.desc())
        )
        excess = len(rows) - self._cookie_history
        if excess <= 0:
            return
        newest_good = next((r.id for r in rows if r.status == SUPERSEDED), None)
        protected = {r.id for r in rows if r.status in (ACTIVE, PENDING)} | {newest_good}
        victims = [r.id for r in reversed(rows) if r.id not in protected][:excess]
        if victims:
            m.CookieRow.delete().where(m.CookieRow.id.in_(victims)).execute()
