"""One-for-one restarts of crashed children: capped back-off with jitter, intensity limit.

Like Erlang/OTP's ``intensity``/``period``: more than ``intensity`` restarts within ``window_s``
means the crash is not transient, so the account is parked in ``failed`` until an operator acts.
Pure: the caller passes the time and the random draw.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from common.settings import Backoff


@dataclass(frozen=True)
class RestartIn:
    """Restart after ``delay_s``; ``attempt`` counts restarts inside the current window."""

    delay_s: float
    attempt: int


@dataclass(frozen=True)
class GiveUp:
    """The intensity limit is reached: stop restarting until an operator intervenes."""

    restarts: int
    window_s: float

    @property
    def reason(self) -> str:
        return (
            f"crashed more than {self.restarts} times within {self.window_s:g}s; "
            "fix the cause, then run 'ctl restart' (or enable/update) to start it again"
        )


class RestartPolicy:
    """Decides, crash by crash, whether and when one account's child is restarted."""

    def __init__(self, backoff: Backoff, *, intensity: int, window_s: float) -> None:
        self._backoff = backoff
        self._intensity = intensity
        self._window_s = window_s
        self._restarts: deque[float] = deque()

    def on_crash(self, *, now: float, rand: float) -> RestartIn | GiveUp:
        """Record a crash at ``now``; ``rand`` is uniform in [0, 1) for the jitter."""
        while self._restarts and now - self._restarts[0] > self._window_s:
            self._restarts.popleft()
        if len(self._restarts) >= self._intensity:
            return GiveUp(self._intensity, self._window_s)
        attempt = len(self._restarts)
        self._restarts.append(now)
        return RestartIn(self._backoff.delay(attempt, rand), attempt)

    def reset(self) -> None:
        """An operator restarted the account: start counting afresh."""
        self._restarts.clear()
