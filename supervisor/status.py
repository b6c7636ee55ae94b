"""Map what the supervisor knows about an account to the control socket's status vocabulary.

Pure: the supervisor gathers the facts (its own bookkeeping plus the child's latest
``AccountStatus`` snapshot, read from its StatusCell without asking the child) and this
module names the state.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from actors.messages import AccountStatus, ChildState


class State(StrEnum):
    STARTING = "starting"  # connecting before the first ``online`` of this generation
    ONLINE = "online"
    RECONNECTING = "reconnecting"  # connecting again after having been online
    BACKOFF = "backoff"  # waiting to reconnect, or to restart after a crash
    UPDATING = "updating"  # a cookie swap or its probation is in flight
    NEEDS_COOKIE = "needs_cookie"
    FAILED = "failed"  # crashed past the restart intensity; waits for an operator
    STOPPED = "stopped"
    DISABLED = "disabled"
    UNOWNED = "unowned"  # cluster: no live node holds the account's lease right now


@dataclass(frozen=True)
class Facts:
    enabled: bool
    failed: bool
    updating: bool
    restart_pending: bool  # a crash restart, or a dead session's renewal, is due later
    child: AccountStatus | None  # None: no live generation
    was_online: bool


_FROM_CHILD = {
    ChildState.ONLINE: State.ONLINE,
    ChildState.BACKOFF: State.BACKOFF,
    ChildState.NEEDS_COOKIE: State.NEEDS_COOKIE,
    ChildState.STOPPED: State.STOPPED,
}


def account_state(facts: Facts) -> State:
    """The one word an operator sees for an account."""
    if not facts.enabled:
        return State.DISABLED
    if facts.failed:
        return State.FAILED
    if facts.updating or (facts.child is not None and facts.child.swapping):
        return State.UPDATING
    if facts.child is None:
        return State.BACKOFF if facts.restart_pending else State.STOPPED
    if facts.child.state is ChildState.CONNECTING:
        return State.RECONNECTING if facts.was_online else State.STARTING
    state = _FROM_CHILD[facts.child.state]
    # a dead session whose renewal waits (the min gap, risk control) is backing off
    return State.BACKOFF if state is State.NEEDS_COOKIE and facts.restart_pending else state
