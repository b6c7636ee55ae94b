"""An account's named timers on the shared I/O loop.

The machine asks for timers by effect (``ArmReconnect``, ``ArmProbation``, ...); the shell keeps
them here by name so it can cancel them. When a timer fires, its message goes to the actor's
inbox like any other event: the machine decides whether it still matters (a stale reconnect
attempt or probation is ignored there), so cancelling is an economy, not a correctness rule.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

from common.io_loop import IoLoop


class Timers:
    """Timers by key; arming a key again replaces its timer."""

    def __init__(self, io: IoLoop, fire: Callable[[object], None]) -> None:
        self._io = io
        self._fire = fire
        self._cancels: dict[Hashable, Callable[[], None]] = {}

    def arm(self, key: Hashable, delay_s: float, message: object) -> None:
        """In ``delay_s`` seconds, ``fire(message)`` (on the loop's thread)."""
        self.cancel(key)
        self._cancels[key] = self._io.call_later(delay_s, self._fire, message)

    def cancel(self, key: Hashable) -> None:
        cancel = self._cancels.pop(key, None)
        if cancel is not None:
            cancel()
