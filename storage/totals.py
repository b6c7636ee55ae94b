"""Lifetime counters per account: messages received and replied, crashes (with stop timeouts).

The supervisor keeps the live counts in memory and adds what is new here now and then
(``add_totals``); a status is the stored totals plus what the running generation counted
since. One upsert per account and flush, never one write per message.
"""

from __future__ import annotations

from dataclasses import dataclass

from storage.core import StoreCore, account_not_found

_ADD = (
    "INSERT INTO account_totals (account_id, received, replied, crashes) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (account_id) DO UPDATE SET "
    "received = account_totals.received + excluded.received, "
    "replied = account_totals.replied + excluded.replied, "
    "crashes = account_totals.crashes + excluded.crashes"
)
_ONE = "SELECT received, replied, crashes FROM account_totals WHERE account_id = ?"
_ALL = "SELECT account_id, received, replied, crashes FROM account_totals"


@dataclass(frozen=True)
class Totals:
    received: int = 0
    replied: int = 0
    crashes: int = 0  # crashes and graceful stops cut off at the deadline; never operator actions

    def __add__(self, other: Totals) -> Totals:
        return Totals(
            self.received + other.received,
            self.replied + other.replied,
            self.crashes + other.crashes,
        )

    def __sub__(self, other: Totals) -> Totals:
        return Totals(
            self.received - other.received,
            self.replied - other.replied,
            self.crashes - other.crashes,
        )

    def __bool__(self) -> bool:
        return bool(self.received or self.replied or self.crashes)


class TotalsOps(StoreCore):
    def add_totals(self, account_id: str, delta: Totals) -> None:
        """Add ``delta`` to the account's lifetime totals (one statement, atomic)."""
        if not delta:
            return
        params = (account_id, delta.received, delta.replied, delta.crashes)
        with self._locked(
            f"adding to the totals of {account_id!r}",
            on_integrity=lambda: account_not_found(account_id),
        ):
            self._execute(_ADD, params)

    def totals(self, account_id: str) -> Totals:
        with self._locked(f"reading the totals of {account_id!r}"):
            row = self._db.execute_sql(self._sql(_ONE), (account_id,)).fetchone()
        return Totals(*row) if row else Totals()

    def all_totals(self) -> dict[str, Totals]:
        """Every account's totals (accounts without any are absent)."""
        with self._locked("reading the account totals"):
            rows = self._db.execute_sql(_ALL).fetchall()
        return {account_id: Totals(*counts) for account_id, *counts in rows}
