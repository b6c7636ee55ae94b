"""Which (account, kind) transitions notify, and when: cooldown, grouping, recovery. Pure.

The watcher feeds ``Signal``s (a condition began or ended) with ``observe(signal, now)``
and calls ``tick(now)`` about once a second; ``tick`` answers with the notices whose group
window has closed and the condition records to persist. Nothing here reads a clock or
does I/O: ``now`` (epoch seconds) is always passed in.

- **Cooldown.** A problem notice for (account, kind) goes out at most once per
  ``cooldown_s``, counted from the last one (persisted, so a restart does not reset it).
  A condition that begins inside its cooldown is announced when the cooldown ends, if it
  is still open then: the operator is never left believing a dead account is fine.
- **Recovery.** The end of an announced condition is announced ("shop-7 is online
  again"); the end of one that was never announced is not. A condition that ends while
  its notice still waits in a group window is dropped from the group: nothing is sent.
  A condition that begins again while its recovery notice waits cancels that recovery.
- **Grouping.** Notices of one kind (and phase) go out as one notice listing every account.
  The window closes ``group_s`` after the last account joined it (accounts whose sessions die
  together reach ``needs_cookie`` one renewal try after another, spaced apart), but no later
  than ``GROUP_MAX_S`` after the first: a steady trickle still gets told.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

from notify.kinds import recovered
from storage.outbox import NotifyCondition

# a group window never stays open longer than this, however many accounts keep joining it
GROUP_MAX_S: Final = 300.0

PROBLEM: Final = "problem"
RECOVERY: Final = "recovery"


@dataclass(frozen=True)
class Signal:
    """What the watcher saw: a condition of an account began (``opened``) or ended."""

    account_id: str
    kind: str
    opened: bool
    detail: str = ""
    # False: it ended without a recovery worth announcing (the account was disabled or removed)
    announce: bool = True


@dataclass(frozen=True)
class Member:
    account_id: str
    detail: str


@dataclass(frozen=True)
class Group:
    """A notice due; ``kind`` is the outbox kind (``needs_cookie``, ``needs_cookie_recovered``)."""

    kind: str
    members: tuple[Member, ...]


@dataclass(frozen=True)
class Decision:
    groups: list[Group]
    changed: list[NotifyCondition]


@dataclass
class _State:
    opened_at: float | None = None
    notified_at: float | None = None
    episode_notified: bool = False
    detail: str = ""
    queued: str | None = None  # PROBLEM or RECOVERY: waiting in that group's window


@dataclass
class _Window:
    started_at: float
    joined_at: float  # when the newest member joined
    members: dict[str, str] = field(default_factory=dict)  # account id -> detail, in order


def _seconds(moment: datetime | None) -> float | None:
    return None if moment is None else moment.timestamp()


def _moment(seconds: float | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, tz=UTC)


class Policy:
    """The notification decisions for every (account, kind); not thread-safe (one watcher)."""

    def __init__(
        self, *, cooldown_s: float, group_s: float, conditions: Iterable[NotifyCondition] = ()
    ) -> None:
        if cooldown_s < 0 or group_s < 0:
            raise ValueError("notify_cooldown_s and notify_group_s must be 0 or more seconds")
        self._cooldown_s = cooldown_s
        self._group_s = group_s
        self._states: dict[tuple[str, str], _State] = {}
        for c in conditions:
            self._states[(c.account_id, c.kind)] = _State(
                opened_at=_seconds(c.opened_at),
                notified_at=_seconds(c.notified_at),
                episode_notified=c.episode_notified,
                detail=c.detail,
            )
        self._windows: dict[tuple[str, str], _Window] = {}  # (kind, phase) -> window
        self._dirty: set[tuple[str, str]] = set()

    # --- reading ----------------------------------------------------------------------------

    def tracked_accounts(self) -> set[str]:
        """Accounts with an open condition or a notice waiting in a window."""
        return {
            account
            for (account, _), state in self._states.items()
            if state.opened_at is not None or state.queued is not None
        }

    # --- feeding ----------------------------------------------------------------------------

    def observe(self, signal: Signal, now: float) -> None:
        key = (signal.account_id, signal.kind)
        if signal.opened:
            self._begin(key, signal.detail, now)
        else:
            self._end(key, announce=signal.announce, now=now)

    def _begin(self, key: tuple[str, str], detail: str, now: float) -> None:
        state = self._states.setdefault(key, _State())
        if state.opened_at is not None:
            return  # already open: one episode, one notice
        state.opened_at = now
        state.detail = detail
        self._dirty.add(key)
        if state.queued == RECOVERY:
            # it ended and began again inside the window: the recovery did not last, and
            # the episode that was announced goes on
            self._unqueue(key, state)
            state.episode_notified = True
            return
        state.episode_notified = False
        self._queue_if_due(key, state, now)

    def _end(self, key: tuple[str, str], *, announce: bool, now: float) -> None:
        state = self._states.get(key)
        if state is None or state.opened_at is None:
            return
        if state.queued == PROBLEM:
            self._unqueue(key, state)  # over before anyone was told: tell nobody
        elif state.episode_notified and announce:
            self._queue(key, state, RECOVERY, now=now)
        state.opened_at = None
        state.episode_notified = False
        self._dirty.add(key)

    # --- deciding ---------------------------------------------------------------------------

    def tick(self, now: float) -> Decision:
        """Queue what came out of its cooldown; hand out the groups whose window closed."""
        for key, state in self._states.items():
            if state.opened_at is not None and not state.episode_notified:
                self._queue_if_due(key, state, now)
        groups = []
        closed = [k for k, w in self._windows.items() if self._closes(w, now)]
        for kind, phase in closed:
            window = self._windows.pop((kind, phase))
            members = []
            for account_id, detail in window.members.items():
                state = self._states[(account_id, kind)]
                state.queued = None
                if phase == PROBLEM:
                    state.notified_at = now
                    state.episode_notified = True
                    self._dirty.add((account_id, kind))
                members.append(Member(account_id, detail))
            groups.append(Group(kind if phase == PROBLEM else recovered(kind), tuple(members)))
        return Decision(groups=groups, changed=self._take_changes())

    def _closes(self, window: _Window, now: float) -> bool:
        quiet = now >= window.joined_at + self._group_s
        return quiet or now >= window.started_at + max(GROUP_MAX_S, self._group_s)

    def _take_changes(self) -> list[NotifyCondition]:
        changed = [
            NotifyCondition(
                account_id=account_id,
                kind=kind,
                opened_at=_moment(state.opened_at),
                notified_at=_moment(state.notified_at),
                episode_notified=state.episode_notified,
                detail=state.detail,
            )
            for account_id, kind in sorted(self._dirty)
            for state in (self._states[(account_id, kind)],)
        ]
        self._dirty.clear()
        return changed

    # --- windows ----------------------------------------------------------------------------

    def _queue_if_due(self, key: tuple[str, str], state: _State, now: float) -> None:
        if state.queued is not None:
            return
        if state.notified_at is not None and now - state.notified_at < self._cooldown_s:
            return  # tick() queues it when the cooldown is over, if it is still open
        self._queue(key, state, PROBLEM, now=now)

    def _queue(self, key: tuple[str, str], state: _State, phase: str, *, now: float) -> None:
        account_id, kind = key
        window = self._windows.get((kind, phase))
        if window is None:
            window = self._windows[(kind, phase)] = _Window(started_at=now, joined_at=now)
        window.joined_at = now
        window.members[account_id] = state.detail if phase == PROBLEM else ""
        state.queued = phase

    def _unqueue(self, key: tuple[str, str], state: _State) -> None:
        account_id, kind = key
        assert state.queued is not None
        window = self._windows.get((kind, state.queued))
        if window is not None:
            window.members.pop(account_id, None)
            if not window.members:
                del self._windows[(kind, state.queued)]
        state.queued = None
