"""What the account actor tells its machine (actors/machine.py), besides the session reports
and timers of ``actors.events``; and ``Now``, the world as one machine call sees it.

All frozen dataclasses; cookie values are secrets and are kept out of ``repr``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from actors.budget import BudgetView


@dataclass(frozen=True)
class Now:
    """The world as one call sees it."""

    wall: float  # epoch seconds: online_since, token ages
    mono: float  # monotonic seconds: how long a swap took
    rand: float = 0.5  # uniform in [0, 1): back-off jitter
    fenced: bool = False  # the generation's fence is tripped
    budget: BudgetView | None = None  # the account's login budget (None: unlimited)


# --- shell -> machine -----------------------------------------------------------------


@dataclass(frozen=True)
class SwapRequested:
    """``SwapCookie`` arrived; ``seen_ms`` is ``Delivery.newest_seen_ms`` at that moment."""

    op_id: int
    # a secret; unparsed: a bad value fails the swap, never the actor
    cookie: str = field(repr=False)
    seen_ms: int = 0


@dataclass(frozen=True)
class BackfillBegun:
    """The shell asked ``session_id`` for the history (``StartBackfill`` carried out)."""

    session_id: int


@dataclass(frozen=True)
class BackfillPostponed:
    """``StartBackfill`` could not read the sync cursor (database locked): try again later."""


@dataclass(frozen=True)
class BackfillSettled:
    """A backfill came back without error and ``Delivery`` handled it."""

    session_id: int
    has_deferred: bool  # some message still waits for an answer


@dataclass(frozen=True)
class PushHandled:
    """``Delivery`` handled a push (from any session, even one already let go)."""

    has_deferred: bool


@dataclass(frozen=True)
class ReplySettled:
    """A reply was settled: ``confirmed`` unless a message now waits for a backfill (no answer,
    or an answer about its session such as 401 after a swap's new /reg)."""

    confirmed: bool


@dataclass(frozen=True)
class Stopping:
    """The actor is stopping (``on_stop``)."""


@dataclass(frozen=True)
class Crashed:
    """The actor dies from an exception; ``error`` is its sentence (``crashed: ...``)."""

    error: str
