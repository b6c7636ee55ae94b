"""The supervisor's bookkeeping for one account: its current child generation and its operations.

Only the supervisor actor's thread touches these objects; they need no locks. The child's
own view of itself arrives through its ``StatusCell``, read here without asking the child.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from actors.messages import AccountStatus, ChildState, Fence, StatusCell
from storage import Totals
from supervisor.machine import ApplyFlow, Candidate, ChildCondition, Flow
from supervisor.preflow import AccountView
from supervisor.renew_flow import RenewFlow
from supervisor.renewal_plan import RenewalState
from supervisor.requests import Request
from supervisor.restarts import RestartPolicy
from supervisor.status import Facts, account_state

_SWAPPABLE = frozenset({ChildState.CONNECTING, ChildState.ONLINE, ChildState.BACKOFF})


class ChildRef(Protocol):
    """What the supervisor uses of a child's ``pykka.ActorRef`` (never ``ask``: no waiting)."""

    def is_alive(self) -> bool: ...
    def tell(self, message: Any) -> None: ...
    def stop(self, *, block: bool = ...) -> Any: ...


@dataclass
class Child:
    """One running generation of an account actor."""

    ref: ChildRef
    generation: int
    fence: Fence
    status: StatusCell
    candidate: Candidate
    was_online: bool = False
    stopping: bool = False  # asked to stop; its ChildStopped is expected

    def read(self) -> AccountStatus:
        return self.status.read()


@dataclass
class AccountEntry:
    """What the supervisor knows and is doing about one account."""

    account_id: str
    user_id: str
    enabled: bool
    current: Candidate  # the cookie a fresh generation starts with
    policy: RestartPolicy
    unsaved: bool = False  # ``current`` is held in memory only (an update with save=False)
    child: Child | None = None
    generations: int = 0
    queue: deque[Request] = field(default_factory=deque)
    flow: Flow | None = None
    request: Request | None = None  # the request ``flow`` serves
    flow_id: int = 0
    deadline_seq: int = 0
    cancel_deadline: Callable[[], None] | None = None
    failed: str | None = None  # why the account was parked in ``failed``
    restart_token: int = 0
    cancel_restart: Callable[[], None] | None = None
    restarts: int = 0
    last_error: str | None = None
    # counters of earlier generations, so status totals survive restarts
    received: int = 0
    replied: int = 0
    reconnects: int = 0
    reconnects_by: dict[str, int] = field(default_factory=dict)  # reason -> count
    # restarts by cause (crash, timeout, operator, update, rollback, commit_failed), and
    # the cause a deadline kill left for the generation that follows it
    restarts_by: dict[str, int] = field(default_factory=dict)
    restart_cause: str | None = None
    proxy: str = field(default="", repr=False)  # '' = direct; may hold credentials
    # crashes and stops cut off at a deadline (not operator actions), since start
    crashes: int = 0
    # lifetime totals stored before this process started, and what it has stored since
    stored: Totals = field(default_factory=Totals)
    saved: Totals = field(default_factory=Totals)

    def since_start(self) -> Totals:
        """What this process counted for the account (finished generations and the live one)."""
        snapshot = self.child.read() if self.child is not None else None
        return Totals(
            self.received + (snapshot.received if snapshot else 0),
            self.replied + (snapshot.replied if snapshot else 0),
            self.crashes,
        )

    def unsaved_totals(self) -> Totals:
        """Counted but not yet added to the stored totals; the caller stores it, then marks."""
        return self.since_start() - self.saved

    renewal: RenewalState = field(default_factory=RenewalState)

    @property
    def restart_pending(self) -> bool:
        return self.cancel_restart is not None

    def view(self) -> AccountView:
        """The snapshot ``supervisor.preflow`` decides on."""
        return AccountView(
            account_id=self.account_id,
            user_id=self.user_id,
            enabled=self.enabled,
            current=self.current,
            unsaved=self.unsaved,
            has_child=self.child is not None,
        )

    def condition(self) -> ChildCondition:
        """How a flow beginning now finds the current generation."""
        if self.child is None or not self.child.ref.is_alive():
            return ChildCondition.ABSENT
        if self.child.read().state in _SWAPPABLE:
            return ChildCondition.SWAPPABLE
        return ChildCondition.UNUSABLE

    def retire_child(self) -> Child | None:
        """Forget the current generation, keeping its counters in the account's totals."""
        child, self.child = self.child, None
        if child is not None:
            snapshot = child.read()
            self.received += snapshot.received
            self.replied += snapshot.replied
            self.reconnects += snapshot.reconnects
            for reason, count in snapshot.reconnect_reasons:
                self.reconnects_by[reason] = self.reconnects_by.get(reason, 0) + count
            self.last_error = snapshot.last_error or self.last_error
        return child

    def count_restart(self, cause: str) -> None:
        self.restarts_by[cause] = self.restarts_by.get(cause, 0) + 1

    def metrics_row(self) -> dict[str, Any]:
        """The status entry plus what the metrics break down: ``serving`` (the live
        generation is registered, also while an update is on top), ``reconnects_by``
        (reason -> count) and ``restarts_by`` (cause -> count)."""
        row = self.status()
        snapshot = self.child.read() if self.child is not None else None
        reconnects_by = dict(self.reconnects_by)
        for reason, count in snapshot.reconnect_reasons if snapshot else ():
            reconnects_by[reason] = reconnects_by.get(reason, 0) + count
        row["serving"] = snapshot is not None and snapshot.state is ChildState.ONLINE
        row["reconnects_by"] = reconnects_by
        row["restarts_by"] = dict(self.restarts_by)
        return row

    def cancel_pending_restart(self) -> None:
        self.restart_token += 1
        if self.cancel_restart is not None:
            self.cancel_restart()
            self.cancel_restart = None

    def status(self) -> dict[str, Any]:
        """The control socket's status entry for this account."""
        snapshot = self.child.read() if self.child is not None else None
        lifetime = self.stored + self.since_start()
        facts = Facts(
            enabled=self.enabled,
            failed=self.failed is not None,
            # a dead session being renewed is being updated too
            updating=isinstance(self.flow, ApplyFlow)
            or (isinstance(self.flow, RenewFlow) and self.flow.session_expired),
            restart_pending=self.restart_pending or self.renewal.waiting,
            child=snapshot,
            was_online=self.child is not None and self.child.was_online,
        )
        return {
            "id": self.account_id,
            "user_id": self.user_id,
            "state": str(account_state(facts)),
            "enabled": self.enabled,
            "cookie_version": self.current.version,
            "unsaved": self.unsaved,
            "online_since": snapshot.online_since if snapshot else None,
            "restarts": self.restarts,  # since start, operator actions included
            "crashes": lifetime.crashes,
            "reconnects": self.reconnects + (snapshot.reconnects if snapshot else 0),
            "last_error": self.failed
            or self._gave_up()
            or (snapshot and snapshot.last_error)
            or self.last_error,
            "received": lifetime.received,
            "replied": lifetime.replied,
            "session_expires_at": self.renewal.session_expires_at,
            "last_renewal_at": self.renewal.last_renewal_at,
        }

    def _gave_up(self) -> str | None:
        """Why renewal cannot help this cookie (a person must log in): shown while the
        session still serves, too, so the operator hears it before it dies."""
        return self.renewal.needs_login
