"""The naive swap strategy: a RE-CREATION of the original project's restart, for the bench.

``python bench/swap.py --strategy naive`` runs the service with ``NaiveAccountActor``
(``serve_naive.py``) to put a figure beside ours. On a cookie update the original stopped the
old connection, waited for it to close, slept 0.5 s, connected with the new cookie, sent
/reg, slept 1 s and sent ackDiff with pts = now (``NaiveSession``), and never looked back for
what it missed. Here that is a subclass of the production machine and actor through their
hooks; nothing of it lives in the service itself.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import time
from dataclasses import dataclass
from typing import Any, ClassVar

from actors.account import AccountActor
from actors.effects import Effect
from actors.inputs import Now
from actors.machine import AccountMachine
from actors.messages import ChildState
from actors.session import Session, SessionPlan

from .naive_session import NaiveSession

# the original's sleep before reconnecting (the 1 s after /reg is NaiveSession's)
NAIVE_RESTART_PAUSE_S = 0.5


@dataclass(frozen=True)
class CloseAndWait(Effect):
    """Close the session politely and block until it is closed (bounded by stop_timeout_s)."""

    session_id: int


@dataclass(frozen=True)
class Pause(Effect):
    """Block the actor for ``seconds``, as the original did."""

    seconds: float


class NaiveAccountMachine(AccountMachine):
    """Break before make, and no backfill to settle what the switch lost."""

    def make_room_for_swap(self, now: Now) -> list[Effect]:
        effects: list[Effect] = []
        if self._current is not None:
            effects.append(CloseAndWait(self._current))
            self._current = None
        effects += self._set_state(ChildState.CONNECTING)
        effects.append(Pause(NAIVE_RESTART_PAUSE_S))
        return effects

    def backfill_after_swap(self, now: Now, *, swap_seen_ms: int | None) -> list[Effect]:
        return []  # the original never looked back for what it missed

    def retry_backfill(self) -> list[Effect]:
        return []


class NaiveAccountActor(AccountActor):
    """``AccountActor`` with the naive machine, and ``NaiveSession`` for a swap's session."""

    machine_class = NaiveAccountMachine

    def _make_session(
        self, plan: SessionPlan, *, for_swap: bool, cls: type[Session] = Session
    ) -> Session:
        # only the swap is re-created: (re)connects are not what the figure compares
        return super()._make_session(plan, for_swap=for_swap, cls=NaiveSession if for_swap else cls)

    def _close_and_wait(self, effect: CloseAndWait) -> None:
        session = self._sessions.retire(effect.session_id, abort=False)
        if session is not None:
            with contextlib.suppress(concurrent.futures.TimeoutError, RuntimeError):
                self._io.submit(session.wait_closed()).result(timeout=self._timings.stop_timeout_s)

    def _pause(self, effect: Pause) -> None:
        time.sleep(effect.seconds)

    _effect_handlers: ClassVar[dict[type, Any]] = {
        **AccountActor._effect_handlers,
        CloseAndWait: _close_and_wait,
        Pause: _pause,
    }
