"""The account actor's store writes (``actors/account.py``): the effects that record something.

A mixin so the actor shell stays one screenful per job; it runs on whichever thread holds
the account's turn (``actors/turns.py``), like the rest of the actor's handlers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from actors import effects as fx
from actors.budget import LoginBudget
from actors.messages import AccountSpec, Fence
from common.errors import StorageError


class AccountWrites:
    """Store writes of one account generation; every one checks the fence first."""

    _spec: AccountSpec
    _store: Any
    _fence: Fence
    _budget: LoginBudget | None
    _log: Any

    def _save_token(self, effect: fx.SaveToken) -> None:
        token = effect.token
        self._write(
            self._store.save_token,
            self._spec.account_id,
            token.token,
            token.did,
            issued_at=token.issued_at,
        )

    def _record_cookie_refresh(self, effect: fx.RecordCookieRefresh) -> None:
        self._write(
            self._store.record_token_refresh,
            self._spec.account_id,
            effect.old_value,
            effect.new_value,
        )
        self._log.info("cookie_merged", fingerprint=effect.fingerprint)

    def _record_needs_cookie(self, effect: fx.RecordNeedsCookie) -> None:
        if self._spec.supervisor_renews:
            return  # the supervisor tries a renewal first, and records it if that fails
        self._record_event("needs_cookie", reason=effect.reason)

    def _budget_exhausted(self, effect: fx.BudgetExhausted) -> None:
        # noted once per exhaustion, across generations (the budget object outlives them)
        if self._budget is not None and self._budget.note_exhausted(self._spec.account_id):
            wait = {"per_h": self._budget.per_h, "retry_in_s": round(effect.retry_in_s, 1)}
            self._log.warning("login_budget_exhausted", **wait)
            self._record_event("login_budget_exhausted", reason=effect.reason, **wait)

    def _record_event(self, kind: str, **data: Any) -> None:
        try:
            self._write(self._store.record_event, kind, self._spec.account_id, **data)
        except StorageError:  # the audit log failing must not turn this into a crash loop
            self._log.exception("event_write_failed", kind=kind)

    def _pause_minutes(self) -> int:
        try:
            return self._store.get_account(self._spec.account_id).pause_minutes
        except StorageError:
            return 0

    def _write(self, write: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call a store write, unless this generation is fenced."""
        if self._fence.tripped:
            return None
        return write(*args, **kwargs)
