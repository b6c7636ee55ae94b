"""``AccountBook``: every Store read and write the supervisor makes, in the flows' vocabulary.

The flows speak ``Candidate`` (cookie, version, fingerprint); the Store speaks
``CookieVersion``. Each method is one short Store transaction, made on the supervisor's
thread; they raise ``StorageError`` (``NotFoundError`` for an unknown account or version),
except ``record``: a failing audit log must not stop an operation or a restart.
"""

from __future__ import annotations

from typing import Any

import structlog

from common.errors import NotFoundError, StorageError
from goofish.cookies import Cookie
from storage import (
    ROLLED_BACK,
    SOURCE_ADMIN,
    SUPERSEDED,
    AccountRecord,
    CookieVersion,
    Store,
    Totals,
)
from supervisor.machine import Candidate
from supervisor.requests import Add

log = structlog.get_logger(__name__)


def version_candidate(version: CookieVersion) -> Candidate:
    return Candidate(version.value, version.number, version.fingerprint)


def not_found(account_id: str) -> NotFoundError:
    return NotFoundError(f"account {account_id!r} not found; run 'ctl status' to list accounts")


class AccountBook:
    """The supervisor's window on the (thread-safe) ``Store``; used on its thread only."""

    def __init__(self, store: Store) -> None:
        self._store = store

    # --- boot -------------------------------------------------------------------------------

    def fail_interrupted(self, account_id: str | None = None) -> None:
        """Versions a killed process left ``pending`` become ``failed`` ("interrupted"); the
        event names the accounts (asked before failing them). ``account_id``: that account's
        only (cluster: a node claiming an account whose previous owner died)."""
        if account_id is not None:
            failed = self._store.fail_pending_for(account_id)
            accounts, count = [account_id], len(failed)
        else:
            accounts = self._store.pending_accounts()
            count = self._store.fail_pending_versions()
        if count:
            self.record("pending_versions_failed", count=count, accounts=accounts)
            log.warning(
                "pending_versions_failed", count=count, accounts=accounts, reason="interrupted"
            )

    def accounts(self) -> list[AccountRecord]:
        return self._store.list_accounts()

    def account(self, account_id: str) -> AccountRecord:
        return self._store.get_account(account_id)

    # --- accounts ---------------------------------------------------------------------------

    def add(self, request: Add, cookie: Cookie) -> AccountRecord:
        """Store the new account of ``request`` (its first cookie version active)."""
        return self._store.add_account(
            request.account_id,
            cookie.serialize(),
            cookie.unb,
            enabled=request.enabled,
            remark=request.remark,
            proxy=request.proxy,
        )

    def set_proxy(self, account_id: str, proxy: str) -> AccountRecord:
        return self._store.update_account(account_id, proxy=proxy)

    def seller_accounts(self, unb: str) -> list[str]:
        """The accounts already stored for seller ``unb`` (the one-seller-one-account check)."""
        return self._store.seller_accounts(unb)

    def set_enabled(self, account_id: str, *, enabled: bool) -> None:
        self._store.update_account(account_id, enabled=enabled)

    def remove(self, account_id: str) -> None:
        self._store.remove_account(account_id)

    # --- cookie versions --------------------------------------------------------------------

    def active(self, account_id: str) -> Candidate | None:
        """The active version (None only for an account that is gone)."""
        active = self._store.active_cookie(account_id)
        return None if active is None else version_candidate(active)

    def propose(self, account_id: str, value: str, *, source: str = SOURCE_ADMIN) -> Candidate:
        """A new ``pending`` version of ``value`` (an operator's cookie, or a renewal's)."""
        return version_candidate(self._store.propose_cookie(account_id, value, source=source))

    def rollback_target(self, account_id: str, to_version: int | None) -> Candidate:
        return version_candidate(self._store.rollback_target(account_id, to_version))

    def activate(self, account_id: str, version: int, *, operation: str) -> Candidate:
        """Make ``version`` active; the one it replaces is ``rolled_back`` by a rollback.

        Returns the row as stored: the child may have merged Set-Cookie into it meanwhile.
        """
        demote_to = ROLLED_BACK if operation == "rollback" else SUPERSEDED
        return version_candidate(
            self._store.activate_version(account_id, version, demote_to=demote_to)
        )

    def fail(self, account_id: str, version: int, reason: str) -> None:
        self._store.fail_version(account_id, version, reason)

    def stored_fingerprint(self, account_id: str, version: int) -> str | None:
        """The fingerprint history shows for ``version`` (None: no such row any more).

        A child's Set-Cookie merge may have changed the stored value since it was proposed."""
        try:
            return self._store.get_version(account_id, version).fingerprint
        except NotFoundError:
            return None

    # --- lifetime totals --------------------------------------------------------------------

    def totals(self, account_id: str) -> Totals:
        """What was counted for the account before this process started."""
        return self._store.totals(account_id)

    def add_totals(self, account_id: str, delta: Totals) -> bool:
        """Add ``delta`` to the stored totals; False (logged) when the store refused."""
        try:
            self._store.add_totals(account_id, delta)
        except StorageError as exc:  # counters are not worth failing anything: next time
            log.warning("totals_not_saved", account=account_id, error=str(exc))
            return False
        return True

    def expire_token(self, account_id: str) -> None:
        """The cached IM token belongs to a login session being replaced: mark it as issued
        at the epoch, so the next generation fetches a fresh one (and keeps its device id)."""
        cached = self._store.load_token(account_id)
        if cached is not None:
            self._store.save_token(account_id, "", cached.did, issued_at=0.0)

    # --- the audit log ----------------------------------------------------------------------

    def record(self, kind: str, account_id: str | None = None, **data: Any) -> None:
        """Write an event; a failing audit log is logged, never raised."""
        try:
            self._store.record_event(kind, account_id, **data)
        except StorageError:
            log.exception("event_write_failed", kind=kind, account=account_id)
