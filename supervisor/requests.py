"""Messages the supervisor actor receives from its client and from its own timers.

Operator requests carry a ``concurrent.futures.Future`` the supervisor completes with a plain
dict (or an exception) once the outcome is known; the caller waits on it, the supervisor never
waits on anything. Timer messages carry enough identity (flow id, sequence, token) for the
supervisor to drop the ones that went stale.
"""

from __future__ import annotations

import concurrent.futures
from dataclasses import dataclass, field
from typing import Any

from supervisor.machine import DeadlineKind

Reply = concurrent.futures.Future[Any]


def _future() -> Reply:
    return concurrent.futures.Future()


# --- operator requests ------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    """Base of every operator request; ``reply`` is completed by the supervisor."""

    account_id: str
    reply: Reply = field(default_factory=_future, repr=False, compare=False)


@dataclass(frozen=True)
class Add(Request):
    cookie: str = field(default="", repr=False)
    enabled: bool = True
    remark: str = ""
    proxy: str = field(default="", repr=False)  # may hold credentials


@dataclass(frozen=True)
class Remove(Request):
    pass


@dataclass(frozen=True)
class Enable(Request):
    pass


@dataclass(frozen=True)
class Disable(Request):
    pass


@dataclass(frozen=True)
class SetProxy(Request):
    """Store the account's proxy ('' = direct) and restart a running generation onto it."""

    proxy: str = field(default="", repr=False)  # may hold credentials


@dataclass(frozen=True)
class Update(Request):
    cookie: str = field(default="", repr=False)
    save: bool = True
    force: bool = False
    wait: bool = True
    source: str = "admin"  # storage.SOURCE_*: "renewal" for a renewed session's cookie


@dataclass(frozen=True)
class Restart(Request):
    wait: bool = True


@dataclass(frozen=True)
class Kill(Request):
    pass


@dataclass(frozen=True)
class Rollback(Request):
    to_version: int | None = None


@dataclass(frozen=True)
class Renew(Request):
    """Renew the login session now (``ctl renew``), or on the schedule or after the token
    API said the session expired (``trigger``); answered like an update."""

    trigger: str = "operator"  # "operator", "scheduled" or "reactive"


@dataclass(frozen=True)
class Release(Request):
    """Cluster: hand the account off (stop its generation gracefully, then forget it here);
    the lease keeper releases the lease once this is answered (docs/cluster.md)."""


@dataclass(frozen=True)
class FreezeChild(Request):
    """Test/demo hook: tell the account's current generation to block for ``seconds``."""

    seconds: float = 0.0


@dataclass(frozen=True)
class Status:
    """Every account's status, or one (``account_id``); answered at once from StatusCells."""

    account_id: str | None = None
    reply: Reply = field(default_factory=_future, repr=False, compare=False)


@dataclass(frozen=True)
class Observe:
    """Every account's status row plus the breakdowns the metrics label (reconnects by
    reason, restarts by cause); answered at once, like ``Status``."""

    reply: Reply = field(default_factory=_future, repr=False, compare=False)


@dataclass(frozen=True)
class Shutdown:
    """Stop every child in parallel within ``timeout_s``, kill the rest, then stop."""

    timeout_s: float
    reply: Reply = field(default_factory=_future, repr=False, compare=False)


# --- cluster mode: the lease keeper's word (docs/cluster.md) ----------------------------


@dataclass(frozen=True)
class Adopt:
    """This node now holds the account's lease (``epoch``): serve it."""

    account_id: str
    epoch: int
    start_in_s: float = 0.0  # spread like boot: a claim of hundreds must not stampede


@dataclass(frozen=True)
class LeaseLost:
    """This node no longer holds the account's lease: cut its generation off at once."""

    account_id: str
    reason: str


# --- the supervisor's own timers ----------------------------------------------------------


@dataclass(frozen=True)
class StartDue:
    """Boot: the rate limiter's turn for this account to start."""

    account_id: str


@dataclass(frozen=True)
class RestartDue:
    """A crash back-off elapsed; ``token`` invalidates restarts an operator overtook."""

    account_id: str
    token: int


@dataclass(frozen=True)
class FlowDeadline:
    """A flow's probation or stop deadline; stale unless ``flow_id`` and ``seq`` still match."""

    account_id: str
    flow_id: int
    seq: int
    kind: DeadlineKind


@dataclass(frozen=True)
class RenewalDue:
    """An account's renewal timer fired; stale unless ``token`` still matches.

    ``reactive``: the session is dead and this is the retry; ``slotted``: the fleet-wide
    spacing slot was already taken for it."""

    account_id: str
    token: int
    reactive: bool = False
    slotted: bool = False


@dataclass(frozen=True)
class RenewalAnswered:
    """The passport ladder of flow ``flow_id`` finished (``outcome``: a RenewalOutcome)."""

    account_id: str
    flow_id: int
    outcome: Any = field(repr=False)


@dataclass(frozen=True)
class ShutdownDeadline:
    pass


@dataclass(frozen=True)
class Sweep:
    """Periodic check for children that died without telling (e.g. a crash in ``on_start``)."""


@dataclass(frozen=True)
class Reap:
    """A generation found dead by ``Sweep``: handled after any notice it sent is processed."""

    account_id: str
    generation: int


@dataclass(frozen=True)
class ChildAlreadyGone:
    """A flow waits on a generation that no longer exists: it hears ``Stopped`` in turn."""

    account_id: str
    flow_id: int


@dataclass(frozen=True)
class Ping:
    """Asked (not told) once after start: its answer proves ``on_start`` finished."""
