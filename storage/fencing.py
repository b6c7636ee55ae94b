"""Cluster mode, this process's side: the node it is bound to and the epochs it holds.

``bind_node`` switches the Store to cluster mode (docs/cluster.md, "Fencing of writes"):
from then on each write that exactly-once depends on (``StoreCore._fenced`` /
``_hot_write``) first checks, in its own transaction, that the account's lease still names
this node and the epoch ``hold`` recorded. When it does not, nothing is written,
``on_lease_lost(account)`` is called and ``LeaseLostError`` raised. Unbound (SQLite, one
node, the tests of other layers), those writes run exactly as before.

Also here: the cache controls another node's writes need (``forget_cached``, the rule
revisions for the heartbeat's fallback check) and the wake-up helpers (``notify``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from storage.cookies import INTERRUPTED
from storage.core import StoreCore
from storage.records import FAILED, PENDING

_IN_CHUNK = 500  # stay well below SQLite's limit on bound parameters per statement

_PENDING_NUMBERS = (
    "SELECT number FROM cookie_version WHERE account_id = ? AND status = ? ORDER BY number"
)
_FAIL_PENDING = (
    "UPDATE cookie_version SET status = ?, reason = ? WHERE account_id = ? AND status = ?"
)
_REVISIONS = "SELECT account_id, revision FROM rule_set WHERE account_id IN ({marks})"


class FencingOps(StoreCore):
    @property
    def is_postgres(self) -> bool:
        return not self._is_sqlite

    @property
    def url(self) -> str:
        """The URL the Store was opened with: it may hold a password, never log it
        (``storage.engine.describe`` gives the loggable form)."""
        return self._url

    @property
    def node_id(self) -> str | None:
        """The node this Store is bound to; None: single-node mode, no fencing."""
        return self._node_id

    def bind_node(self, node_id: str, on_lease_lost: Callable[[str], None]) -> None:
        """Fence every exactly-once write from now on; ``on_lease_lost(account)`` is called
        (outside the Store's lock, on the writer's thread) when one finds its lease gone."""
        with self._lock:
            self._on_lease_lost = on_lease_lost
            self._node_id = node_id

    def hold(self, account_id: str, epoch: int) -> None:
        """This process now serves ``account_id`` under lease ``epoch`` (just claimed)."""
        self._held[account_id] = epoch

    def unhold(self, account_id: str) -> None:
        """This process stopped serving ``account_id``: its fenced writes fail from now on."""
        self._held.pop(account_id, None)

    def held_epoch(self, account_id: str) -> int | None:
        return self._held.get(account_id)

    def fail_pending_for(self, account_id: str) -> list[int]:
        """The account's pending cookie versions → failed "interrupted" (what its previous
        owner left on probation; fenced: the new owner calls it after its claim); returns
        their numbers, oldest first."""
        with self._fenced(f"failing the interrupted cookie versions of {account_id!r}", account_id):
            cursor = self._db.execute_sql(self._sql(_PENDING_NUMBERS), (account_id, PENDING))
            numbers = [int(number) for (number,) in cursor.fetchall()]
            if numbers:
                self._execute(_FAIL_PENDING, (FAILED, INTERRUPTED, account_id, PENDING))
        return numbers

    def forget_cached(self, account_id: str) -> None:
        """Drop the account's cached rules and pauses (another node changed them)."""
        with self._lock:
            self._forget_account(account_id)

    def cached_rules_revision(self, account_id: str) -> int | None:
        """The revision of the rules the cache holds for the account; None: nothing cached."""
        cached = self._rules_cache.get(account_id)
        return None if cached is None else cached.revision

    def rules_revisions(self, account_ids: Iterable[str]) -> dict[str, int]:
        """The stored rule revision of each account (0: rules never set, or no such account)."""
        wanted = list(dict.fromkeys(account_ids))
        found = dict.fromkeys(wanted, 0)
        with self._locked(f"reading the rule revisions of {len(wanted)} accounts"):
            for start in range(0, len(wanted), _IN_CHUNK):
                chunk = wanted[start : start + _IN_CHUNK]
                sql = _REVISIONS.format(marks=", ".join("?" * len(chunk)))
                rows = self._db.execute_sql(self._sql(sql), tuple(chunk)).fetchall()
                found.update((account_id, int(revision)) for account_id, revision in rows)
        return found

    def notify(self, channel: str, payload: str = "") -> None:
        """Wake the listeners of ``channel`` (PostgreSQL ``pg_notify``; SQLite: nothing)."""
        if self._is_sqlite:
            return
        with self._locked(f"notifying {channel}"):
            self._execute("SELECT pg_notify(?, ?)", (channel, payload))
