"""Small pure helpers of the supervisor's effects: what an operation is, how an answer is
relayed or reported, what a caller hears of a failure."""

from __future__ import annotations

from typing import Any

from common import metrics_sink
from common.errors import XianyuSupervisorError
from supervisor import machine as m
from supervisor.entry import AccountEntry
from supervisor.requests import Reply


def restart_cause(entry: AccountEntry) -> str:
    """Why a generation replaces a previous one, when no crash or deadline said so."""
    flow = entry.flow
    return flow.operation if isinstance(flow, m.ApplyFlow) else "operator"


def observe_outcome(event: str, result: dict[str, Any]) -> None:
    """An update's or rollback's outcome (and swap time) for the metrics, if they are on."""
    operation = event.partition("_")[0]
    if operation not in ("update", "rollback"):
        return
    swap_ms = result.get("swap_ms")
    swap_s = swap_ms / 1000.0 if isinstance(swap_ms, int | float) else None
    metrics_sink.operation_finished(operation, str(result.get("outcome")), swap_s)


def operation_of(entry: AccountEntry) -> str:
    flow = entry.flow
    return flow.operation if isinstance(flow, m.ApplyFlow) else "update"


def relay(done: Reply, to: Reply) -> None:
    """Complete ``to`` as ``done`` completed (a renewal answered by its update)."""
    if to.done():
        return
    error = done.exception()
    if error is not None:
        to.set_exception(error)
    else:
        to.set_result({**done.result(), "renewal": "renewed"})


def as_project_error(exc: BaseException) -> BaseException:
    """What a caller hears of a failure: our own errors as they are, anything else wrapped."""
    if isinstance(exc, XianyuSupervisorError | ValueError):
        return exc
    return XianyuSupervisorError(f"the supervisor failed: {type(exc).__name__}: {exc}")
