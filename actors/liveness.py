"""When a connection counts as dead. Pure: callers pass the clock in.

Two rules (issue 4, fact sheet section 4):

* a heartbeat sent ``heartbeat_misses`` intervals ago is still unanswered, or
* no frame of any kind arrived for ``silence_intervals`` intervals.

Neither catches the zombie of PR #290 (heartbeats answered, business pushes withheld): a
zombie looks alive on the socket. It is caught elsewhere: a token that changed forces a
reconnect, and the periodic sync probe (``actors/session.py``) notices conversations that
moved on without a push reaching us.
"""

from __future__ import annotations

from dataclasses import dataclass


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
