"""The login budget: token calls + renewals per account per hour (issue 16, "restart economy").

Every login call is a risk signal to the server, so what the service does on its own
(reconnects, crash restarts, renewals) may spend at most ``per_h`` of them per account in
any sliding hour; past it the account waits (``backoff``, reason "login budget") instead of
asking again. An operator's ``update``, ``restart``, ``kill``, ``rollback`` or ``login`` is
never refused, but counts.

``LoginBudget`` is one object per service, shared by every generation of every account (a
crash restart makes a new actor; the budget must outlive it), thread-safe: the sessions spend
on the IoLoop thread, the actors and the status read it on theirs. It lives in memory: a
service restart starts every account with a full budget (its cached tokens make that cheap).
The decision itself ("may I call the token API now?") is the pure ``AccountMachine``'s; it
gets ``BudgetView`` as input (``actors.inputs.Now.budget``).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

HOUR_S = 3600.0


@dataclass(frozen=True)
class BudgetView:
    """What is left of one account's budget: ``left`` calls now; ``refill_s``: when the
    oldest counted call leaves the window (0 while calls are left)."""

    left: int
    refill_s: float = 0.0
    per_h: int = 0


class LoginBudget:
    """Login calls per account within a sliding ``window_s`` (an hour)."""

    def __init__(
        self,
        per_h: int,
        *,
        window_s: float = HOUR_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_h = per_h
        self._window_s = window_s
        self._clock = clock
        self._lock = threading.Lock()
        self._calls: dict[str, deque[float]] = {}
        self._exhausted: set[str] = set()

    def spend(self, account_id: str, calls: int = 1) -> None:
        """Count ``calls`` login calls (token calls, renewal calls) made just now."""
        if calls <= 0:
            return
        now = self._clock()
        with self._lock:
            spent = self._calls.setdefault(account_id, deque())
            spent.extend([now] * calls)

    def view(self, account_id: str) -> BudgetView:
        now = self._clock()
        with self._lock:
            spent = self._calls.get(account_id)
            if spent is None:
                return BudgetView(self.per_h, per_h=self.per_h)
            while spent and now - spent[0] >= self._window_s:
                spent.popleft()
            left = self.per_h - len(spent)
            if left > 0:
                self._exhausted.discard(account_id)  # the next exhaustion is a new one
                return BudgetView(left, per_h=self.per_h)
            # the call that frees the first slot is the one -left places past the oldest
            freeing = spent[min(-left, len(spent) - 1)]
            return BudgetView(left, max(0.0, freeing + self._window_s - now), self.per_h)

    def left(self, account_id: str) -> int:
        return max(0, self.view(account_id).left)

    def note_exhausted(self, account_id: str) -> bool:
        """True the first time an exhaustion is noted (until the budget has room again)."""
        with self._lock:
            if account_id in self._exhausted:
                return False
            self._exhausted.add(account_id)
            return True

    def forget(self, account_id: str) -> None:
        """The account was removed."""
        with self._lock:
            self._calls.pop(account_id, None)
            self._exhausted.discard(account_id)


class BudgetedTokenClient:
    """A ``TokenClient`` for one account whose every ``fetch`` is counted in the budget."""

    def __init__(self, inner: Any, budget: LoginBudget, account_id: str) -> None:
        self._inner = inner
        self._budget = budget
        self._account_id = account_id

    async def fetch(self, *args: Any, **kwargs: Any) -> Any:
        self._budget.spend(self._account_id)
        return await self._inner.fetch(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def budget_wait(view: BudgetView | None, rand: float) -> tuple[float, str] | None:
    """Pure: None when a login call may go out now; else how long to wait and why.

    The wait carries 0-30 % jitter (``rand`` in [0, 1)) so that accounts that spent their
    budgets together do not all ask again in the same second."""
    if view is None or view.left > 0:
        return None
    delay = max(view.refill_s, 1.0) * (1.0 + 0.3 * rand)
    reason = (
        f"login budget: {view.per_h} token calls + renewals per hour used up; "
        f"waiting {delay:.0f}s before asking again (ctl restart or ctl update go through now)"
    )
    return delay, reason


def budgeted(token_client: Any, budget: LoginBudget | None, account_id: str) -> Any:
    """``token_client`` counting into ``budget`` for ``account_id`` (as is without a budget)."""
    if budget is None:
        return token_client
    return BudgetedTokenClient(token_client, budget, account_id)
