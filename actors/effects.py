"""What ``AccountMachine`` asks its shell (``AccountActor``) to do, as plain data.

Effects are carried out in order. Sessions are named by id. Token and cookie values are
secrets and are kept out of ``repr``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from actors.messages import ChildState
from goofish.cookies import Cookie


@dataclass(frozen=True)
class CachedToken:
    """An IM token the account may reuse until ``Timings.token_refresh_s`` has passed."""

    token: str = field(repr=False)
    did: str
    issued_at: float  # epoch seconds


@dataclass(frozen=True)
class ConnectionView:
    """The machine's part of an ``AccountStatus`` (the shell adds the delivery counters)."""

    state: ChildState
    online_since: float | None
    last_error: str | None
    reconnects: int
    cookie_fingerprint: str | None
    swapping: bool
    # (reason, count) pairs, sorted; sums to ``reconnects``
    reconnect_reasons: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class Effect:
    """Base of every effect (a subclass, e.g. the benchmark's, may add its own)."""


# --- sessions -------------------------------------------------------------------------


@dataclass(frozen=True)
class OpenSession(Effect):
    """Create session ``session_id`` with ``cookie`` (and a cached ``token``) and start it.

    ``for_swap``: the candidate session of a swap, not a (re)connect of the current cookie."""

    session_id: int
    cookie: Cookie
    token: str | None = field(default=None, repr=False)
    token_age_s: float = 0.0
    for_swap: bool = False


@dataclass(frozen=True)
class CloseSession(Effect):
    """Let the session go (``abort``: cut it now, else close it politely); its reports no
    longer count."""

    session_id: int
    abort: bool


@dataclass(frozen=True)
class CloseAll(Effect):
    """Stopping: close every session and wait (bounded) for them to be closed."""


@dataclass(frozen=True)
class AbortAll(Effect):
    """Crashing: cut every session now."""


@dataclass(frozen=True)
class StartBackfill(Effect):
    """Fetch the history on ``session_id``: from the sync cursor, or, after a make-before-break
    swap, from ``swap_seen_ms`` (``Delivery.swap_backfill_since``). The shell answers with
    ``BackfillBegun``, or ``BackfillPostponed`` when the cursor cannot be read."""

    session_id: int
    swap_seen_ms: int | None = None


# --- timers (on the IoLoop; they come back as actors.events messages) ------------------


@dataclass(frozen=True)
class ArmReconnect(Effect):
    """``Reconnect(attempt)`` in ``delay_s``."""

    attempt: int
    delay_s: float


@dataclass(frozen=True)
class CancelReconnect(Effect):
    """Cancel the armed ``Reconnect`` timer (a late one is ignored anyway)."""


@dataclass(frozen=True)
class ArmProbation(Effect):
    """``ProbationExpired(op_id)`` in ``seconds``."""

    op_id: int
    seconds: float


@dataclass(frozen=True)
class CancelProbation(Effect):
    op_id: int


@dataclass(frozen=True)
class ArmBackfill(Effect):
    """``BackfillDue()`` in ``delay_s``."""

    delay_s: float


# --- storage (every write checks the fence first) ---------------------------------------


@dataclass(frozen=True)
class SaveToken(Effect):
    token: CachedToken


@dataclass(frozen=True)
class RecordCookieRefresh(Effect):
    """A token call's Set-Cookie changed the cookie: persist it (``fingerprint`` is the new
    value's, for the log)."""

    old_value: str = field(repr=False)
    new_value: str = field(repr=False)
    fingerprint: str = ""


@dataclass(frozen=True)
class RecordNeedsCookie(Effect):
    """Write the ``needs_cookie`` event (a failing audit log must not crash the actor)."""

    reason: str


@dataclass(frozen=True)
class BudgetExhausted(Effect):
    """The login budget held a connect back: record ``login_budget_exhausted`` (once per
    exhaustion; ``LoginBudget.note_exhausted`` decides)."""

    retry_in_s: float
    reason: str = ""  # what the account shows as its last error


# --- reporting --------------------------------------------------------------------------


@dataclass(frozen=True)
class Publish(Effect):
    """Publish a fresh ``AccountStatus`` built from ``view``."""

    view: ConnectionView


@dataclass(frozen=True)
class ReportState(Effect):
    """Tell the supervisor ``ChildStateChanged(state, error)``."""

    state: ChildState
    error: str | None = None


@dataclass(frozen=True)
class ReportSwap(Effect):
    """Tell the supervisor ``SwapFinished`` of swap ``op_id``."""

    op_id: int
    ok: bool
    reason: str | None = None
    swap_ms: float | None = None


@dataclass(frozen=True)
class Note(Effect):
    """A log line: ``event`` with ``fields``, at ``level`` (info unless an operator should look)."""

    event: str
    fields: Mapping[str, Any] = field(default_factory=dict, hash=False)
    level: Literal["debug", "info", "warning"] = "info"
