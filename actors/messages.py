"""Immutable messages and shared handles between the supervisor and an account actor.

Direction: the supervisor *tells* children what to do; children *tell* the supervisor
what happened through the ``notify`` callable they were given (never ``ask`` upward).
The supervisor never waits on a child: it reads ``StatusCell`` snapshots the child
publishes, and cuts a stuck child off through its ``Fence``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum


class ChildState(StrEnum):
    """What an account actor reports about its connection."""

    CONNECTING = "connecting"  # fetching a token / connecting / waiting for /reg's reply
    ONLINE = "online"  # registered: pushes flow and replies go out
    BACKOFF = "backoff"  # waiting before the next reconnect attempt
    NEEDS_COOKIE = "needs_cookie"  # the login session is dead; an operator must update it
    STOPPED = "stopped"


@dataclass(frozen=True)
class AccountSpec:
    """What a child generation needs to start. ``cookie`` is a secret: never log it."""

    account_id: str
    user_id: str
    cookie: str = field(repr=False)  # a secret: out of repr, so a logged spec leaks nothing
    cookie_version: int | None
    generation: int
    proxy: str = field(default="", repr=False)  # '' = direct; may hold credentials
    # an operator's restart/kill/enable/add started it: its first login is never held back
    # by the login budget (it still counts)
    operator: bool = False
    # the supervisor renews a dead login session itself (supervisor.renewals) and records
    # ``needs_cookie`` only when that cannot help: the child then leaves the event to it
    supervisor_renews: bool = False


@dataclass(frozen=True)
class AccountStatus:
    """A snapshot a child publishes whenever something an operator cares about changes."""

    account_id: str
    generation: int
    state: ChildState
    online_since: float | None = None  # epoch seconds
    last_error: str | None = None
    received: int = 0
    replied: int = 0
    reconnects: int = 0
    cookie_fingerprint: str | None = None
    swapping: bool = False
    # reconnects by why the previous session ended: sorted (reason, count) pairs
    reconnect_reasons: tuple[tuple[str, int], ...] = ()


# --- supervisor -> child (tell) -------------------------------------------------------


@dataclass(frozen=True)
class SwapCookie:
    """Make-before-break: register a session with ``cookie`` while the old one serves.

    The child answers with ``SwapFinished`` carrying the same ``op_id``.
    """

    op_id: int
    cookie: str = field(repr=False)  # a secret: out of repr, so a logged message leaks nothing


@dataclass(frozen=True)
class Freeze:
    """Test and demo hook: block this generation's handler for ``seconds``.

    It simulates a stuck handler (a hung call inside the actor), which is what
    timeout-kill exists for. Only ``actors.testing.FreezableAccountActor`` (the tests' and
    the demo's child) obeys it; a production ``AccountActor`` logs it as unknown.
    """

    seconds: float


# --- child -> supervisor (notify) -----------------------------------------------------


@dataclass(frozen=True)
class ChildStateChanged:
    account_id: str
    generation: int
    state: ChildState
    error: str | None = None


@dataclass(frozen=True)
class SwapFinished:
    account_id: str
    generation: int
    op_id: int
    ok: bool
    reason: str | None = None
    swap_ms: float | None = None  # swap requested -> new session registered


@dataclass(frozen=True)
class ChildStopped:
    """Sent from ``on_stop``: the generation released its connections."""

    account_id: str
    generation: int


@dataclass(frozen=True)
class ChildCrashed:
    """Sent when a generation dies from an exception (in ``on_start`` or a handler)."""

    account_id: str
    generation: int
    error: str


Notify = Callable[[object], None]


class Fence:
    """A generation's kill switch, shared by the supervisor and the child.

    Once tripped, the generation never sends, ACKs or writes again, even if its thread
    wakes up later: every side effect checks ``tripped`` first, and the connection
    closers registered here are run so the sockets go away at once.
    """

    def __init__(self, lease: Callable[[], bool] | None = None) -> None:
        self._tripped = threading.Event()
        self._lock = threading.Lock()
        self._closers: list[Callable[[], None]] = []
        # cluster mode: "is this node's lease on the account still valid locally?" (a
        # monotonic deadline, docs/cluster.md). A passed deadline stops every side effect at
        # once, before the supervisor hears of it: a node paused past its lease never sends.
        self._lease = lease

    @property
    def tripped(self) -> bool:
        return self._tripped.is_set() or (self._lease is not None and not self._lease())

    def add_closer(self, closer: Callable[[], None]) -> None:
        """Register a thread-safe callable that cuts a connection; runs now if already tripped."""
        with self._lock:
            if not self._tripped.is_set():
                self._closers.append(closer)
                return
        closer()

    def trip(self) -> None:
        with self._lock:
            self._tripped.set()
            closers, self._closers = self._closers, []
        for closer in closers:
            closer()


class StatusCell:
    """Holds the latest ``AccountStatus`` of one child; written by it, read by anyone.

    A plain attribute swap of an immutable snapshot: no lock needed to read.
    """

    def __init__(self, initial: AccountStatus) -> None:
        self._status = initial

    def publish(self, status: AccountStatus) -> None:
        self._status = status

    def read(self) -> AccountStatus:
        return self._status
