"""The supervisor's shutdown flow as a table: (event, still running) -> (effects, done)."""

from __future__ import annotations

import pytest

from supervisor.machine import ArmDeadline, DeadlineKind, DeadlinePassed, Finish, Phase
from supervisor.shutdown import (
    INTERRUPTED,
    KILL_REASON,
    ChildGone,
    EndOperations,
    KillChildren,
    ShutdownFlow,
    StopChildren,
)

STOP_END = DeadlinePassed(DeadlineKind.STOP)
PROBATION_END = DeadlinePassed(DeadlineKind.PROBATION)


def stopped(killed: int, stop_ms: float) -> Finish:
    return Finish(None, {"outcome": "stopped", "killed": killed, "stop_ms": stop_ms})


def flow_stopping(*running: str) -> ShutdownFlow:
    flow = ShutdownFlow(timeout_s=5.0)
    flow.begin(running, now=10.0)
    assert flow.phase is Phase.STOPPING
    return flow


def test_begin_ends_the_operations_stops_every_child_and_arms_the_deadline():
    flow = ShutdownFlow(timeout_s=5.0)
    assert flow.begin(["b", "a"], now=10.0) == [
        EndOperations(INTERRUPTED),
        StopChildren(("a", "b")),
        ArmDeadline(DeadlineKind.STOP, 5.0),
    ]
    assert flow.waiting == {"a", "b"}


def test_with_nothing_running_it_is_done_at_once():
    flow = ShutdownFlow(timeout_s=5.0)
    assert flow.begin([], now=10.0) == [EndOperations(INTERRUPTED), stopped(0, 0.0)]
    assert flow.done


SHUTDOWN_TABLE = [
    # (running at begin, events at t=10.25, effects of the last event, done)
    (("a", "b"), [ChildGone("a")], [], False),
    (("a", "b"), [ChildGone("a"), ChildGone("b")], [stopped(0, 250.0)], True),
    (("a",), [ChildGone("a")], [stopped(0, 250.0)], True),
    (("a",), [ChildGone("zz")], [], False),  # not one it waits for
    (("a",), [ChildGone("a"), ChildGone("a")], [], True),  # a late duplicate
    (
        ("a", "b", "c"),
        [ChildGone("b"), STOP_END],
        [KillChildren(("a", "c"), KILL_REASON), stopped(2, 250.0)],
        True,
    ),
    (("a",), [STOP_END], [KillChildren(("a",), KILL_REASON), stopped(1, 250.0)], True),
    (("a",), [PROBATION_END], [], False),  # shutdown has no probation
    (("a",), [STOP_END, STOP_END], [], True),  # a deadline after the end
    (("a",), [ChildGone("a"), STOP_END], [], True),
]


@pytest.mark.parametrize(("running", "events", "effects", "done"), SHUTDOWN_TABLE)
def test_shutdown_transition(running, events, effects, done):
    flow = flow_stopping(*running)
    last = []
    for event in events:
        last = flow.handle(event, now=10.25)
    assert last == effects
    assert flow.done is done
