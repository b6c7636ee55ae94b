"""The supervisor's shutdown in progress: its flow (``supervisor.shutdown`` decides, as data),
the caller waiting on it, and carrying the flow's effects out."""

from __future__ import annotations

from collections.abc import Callable

import structlog

from common.errors import XianyuSupervisorError
from common.io_loop import IoLoop
from supervisor import machine as m
from supervisor import shutdown as sd
from supervisor.effects import Effects
from supervisor.entry import AccountEntry
from supervisor.requests import Reply, Shutdown, ShutdownDeadline, Sweep

log = structlog.get_logger(__name__)


class ShutdownEffects:
    """Ends the operations, stops and kills the children, answers the shutdown's caller."""

    def __init__(
        self,
        effects: Effects,
        entries: dict[str, AccountEntry],
        io: IoLoop,
        tell_self: Callable[[object], None],
    ) -> None:
        self._effects = effects
        self._entries = entries
        self._io = io
        self._tell_self = tell_self
        self._shutdown: tuple[sd.ShutdownFlow, Reply] | None = None

    @property
    def in_progress(self) -> bool:
        return self._shutdown is not None

    def begin(self, message: Shutdown, *, now: float) -> bool:
        """Start stopping every child; True when nothing was left to wait for."""
        flow = sd.ShutdownFlow(timeout_s=message.timeout_s)
        self._shutdown = (flow, message.reply)
        running = [e.account_id for e in self._entries.values() if e.child is not None]
        log.info("supervisor_stopping", children=len(running))
        return self._run(flow.begin(running, now=now))

    def feed(self, event: sd.ShutdownEvent, *, now: float) -> bool:
        """A child gone or the deadline passed; True once the shutdown is complete."""
        if self._shutdown is None:
            return False
        return self._run(self._shutdown[0].handle(event, now=now))

    def _run(self, effects: list[sd.ShutdownEffect]) -> bool:
        assert self._shutdown is not None
        flow, reply = self._shutdown
        for effect in effects:
            self.carry_out(effect, reply)
        return flow.done

    def abandon(self) -> None:
        """The supervisor stopped (outside a shutdown flow too): stop asking, tell the waiting."""
        for entry in self._entries.values():
            entry.cancel_pending_restart()
            if entry.cancel_deadline is not None:
                entry.cancel_deadline()
            if entry.child is not None:
                entry.child.ref.stop(block=False)
            for request in [entry.request, *entry.queue]:
                if request is not None and not request.reply.done():
                    request.reply.set_exception(
                        XianyuSupervisorError("the supervisor stopped before finishing")
                    )

    def carry_out(self, effect: sd.ShutdownEffect, reply: Reply) -> None:
        if isinstance(effect, sd.EndOperations):
            interrupted = XianyuSupervisorError(effect.reason)
            for entry in self._entries.values():
                entry.cancel_pending_restart()
                for request in [entry.request, *entry.queue]:
                    if request is not None:
                        self._effects.fail_request(request, interrupted)
                self._effects.end_flow(entry)
                entry.queue.clear()
        elif isinstance(effect, sd.StopChildren):
            for account_id in effect.accounts:
                child = self._entries[account_id].child
                if child is not None:
                    child.stopping = True
                    child.ref.stop(block=False)
            self._tell_self(Sweep())  # children already dead are reaped at once
        elif isinstance(effect, sd.KillChildren):
            for account_id in effect.accounts:
                self._effects.kill_child(self._entries[account_id], effect.reason)
        elif isinstance(effect, m.ArmDeadline):
            self._io.call_later(effect.seconds, self._tell_self, ShutdownDeadline())
        elif not reply.done():  # Finish
            self._effects.save_totals()
            killed, stop_ms = effect.result["killed"], effect.result["stop_ms"]
            log.info("supervisor_stopped", killed=killed, stop_ms=stop_ms)
            reply.set_result(dict(effect.result))
