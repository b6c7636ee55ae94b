"""When a connection counts as dead. Pure: callers pass the clock in.

Two socket rules (issue 4, fact sheet section 4), in ``Liveness``:

* a heartbeat sent ``heartbeat_misses`` intervals ago is still unanswered, or
* no frame of any kind arrived for ``silence_intervals`` intervals.

Neither catches the zombie of PR #290 (heartbeats answered, business pushes withheld): a
zombie looks alive on the socket. Two guards catch it: a token that changed forces a
reconnect (the session's token check), and ``ZombieProbe`` judges the answers of the
periodic sync probe (``listNewestPagination``, one conversation) the session sends every
``silence_intervals`` heartbeats: the newest conversation moved on past every message that
reached us, and two probes in a row saw the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from common.errors import ProtocolError
from goofish.history import is_flow_controlled, parse_conversations


@dataclass
class Liveness:
    heartbeat_s: float
    heartbeat_misses: int
    silence_intervals: int
    last_frame_at: float = 0.0
    # send time of the oldest heartbeat that has not been answered yet
    unanswered_since: float | None = None

    def started(self, now: float) -> None:
        """The connection opened: silence is measured from here."""
        self.last_frame_at = now
        self.unanswered_since = None

    def frame_received(self, now: float) -> None:
        self.last_frame_at = now

    def heartbeat_sent(self, now: float) -> None:
        if self.unanswered_since is None:
            self.unanswered_since = now

    def heartbeat_answered(self, now: float) -> None:
        self.unanswered_since = None
        self.last_frame_at = now

    def verdict(self, now: float) -> str | None:
        """Why the connection is dead, or None while it looks alive."""
        if self.unanswered_since is not None:
            waited = now - self.unanswered_since
            if waited >= self.heartbeat_misses * self.heartbeat_s:
                return f"no heartbeat reply for {waited:.1f}s"
        silent = now - self.last_frame_at
        if silent >= self.silence_intervals * self.heartbeat_s:
            return f"no frame for {silent:.1f}s"
        return None


@dataclass
class ZombieProbe:
    """Are business pushes withheld? Fed the newest message time of everything that reached
    the session (pushes, backfills) and the answers of its sync probes.

    One probe that sees a newer conversation only makes the session suspect: the push may
    simply be on its way. The same conversation time seen by the next probe too, with no
    message of that age having arrived in between, is the verdict.
    """

    # newest message time (server ms) this session knows of
    newest_seen_ms: int = 0
    # the conversation time the previous probe found newer than anything we saw
    suspect_ms: int | None = None

    def saw(self, created_at_ms: int) -> None:
        """A message of this time reached the session (a push or a backfill)."""
        self.newest_seen_ms = max(self.newest_seen_ms, created_at_ms)

    def answered(self, response: dict[str, Any]) -> str | None:
        """Judge one probe's response: why the session is a zombie, or None."""
        if response.get("code") != 200:
            return f"sync probe refused (code {response.get('code')})"
        body = response.get("body")
        if is_flow_controlled(body):
            return None  # no news either way: keep the suspicion as it is
        try:
            refs = parse_conversations(body)
        except ProtocolError as exc:
            return f"sync probe answer unreadable: {exc}"
        newest = refs[0].modified_at_ms if refs else 0
        if newest <= self.newest_seen_ms:
            self.suspect_ms = None
            return None
        if self.suspect_ms == newest:
            return "zombie: conversations moved on without pushes"
        self.suspect_ms = newest
        return None
