"""The lifecycle flows as a table of transitions: (start phase, event) -> (next phase, effects)."""

from __future__ import annotations

import pytest

from common.settings import Backoff
from supervisor.machine import (
    ApplyFlow,
    ArmDeadline,
    Candidate,
    ChildCondition,
    ChildDied,
    Commit,
    DeadlineKind,
    DeadlinePassed,
    DeleteAccount,
    Finish,
    KillChild,
    KillFlow,
    LoginRejected,
    Online,
    Phase,
    Reject,
    StartChild,
    StopChild,
    StopFlow,
    Stopped,
    StopThen,
    SwapDone,
    TellSwap,
)
from supervisor.restarts import GiveUp, RestartIn, RestartPolicy

NEW = Candidate("unb=1; t=new", 2, "newfp")
OLD = Candidate("unb=1; t=old", 1, "oldfp")
PROBATION = ArmDeadline(DeadlineKind.PROBATION, 2.0)
STOP_DEADLINE = ArmDeadline(DeadlineKind.STOP, 0.5)
PROBATION_END = DeadlinePassed(DeadlineKind.PROBATION)
STOP_END = DeadlinePassed(DeadlineKind.STOP)


def apply_flow() -> ApplyFlow:
    return ApplyFlow(
        operation="update", candidate=NEW, previous=OLD, probation_s=2.0, stop_timeout_s=0.5
    )


def result(outcome: str, reason: str | None = None, swap_ms: float | None = None) -> dict:
    return {
        "outcome": outcome,
        "version": 2,
        "previous_version": 1,
        "reason": reason,
        "swap_ms": swap_ms,
    }


def applied(swap_ms: float) -> Finish:
    return Finish("update_applied", result("applied", swap_ms=swap_ms))


def rolled_back(reason: str) -> Finish:
    return Finish("update_rolled_back", result("rolled_back", reason=reason))


def apply_flow_in(phase: Phase) -> ApplyFlow:
    """A flow driven into ``phase`` the way the supervisor would, starting at t=0."""
    flow = apply_flow()
    if phase is Phase.SWAPPING:
        flow.begin(ChildCondition.SWAPPABLE, now=0.0)
    elif phase is Phase.STOPPING:
        flow.begin(ChildCondition.UNUSABLE, now=0.0)
    elif phase is Phase.STARTING:
        flow.begin(ChildCondition.ABSENT, now=0.0)
    elif phase is Phase.REVERTING:
        flow.begin(ChildCondition.ABSENT, now=0.0)
        flow.handle(LoginRejected("session expired"), now=0.1)
    assert flow.phase is phase
    return flow


@pytest.mark.parametrize(
    ("child", "phase", "effects"),
    [
        (ChildCondition.SWAPPABLE, Phase.SWAPPING, [TellSwap(NEW.cookie), PROBATION]),
        (ChildCondition.UNUSABLE, Phase.STOPPING, [StopChild(), STOP_DEADLINE]),
        (ChildCondition.ABSENT, Phase.STARTING, [StartChild(NEW), PROBATION]),
    ],
)
def test_apply_begins_by_swapping_live_children_and_restarting_parked_ones(child, phase, effects):
    flow = apply_flow()
    assert flow.begin(child, now=0.0) == effects
    assert flow.phase is phase


APPLY_TABLE = [
    # swapping on a live child (make-before-break)
    (Phase.SWAPPING, SwapDone(ok=True, swap_ms=12.5), Phase.DONE, [Commit(NEW), applied(12.5)]),
    (
        Phase.SWAPPING,
        SwapDone(ok=False, reason="session expired"),
        Phase.DONE,
        [Reject(NEW, "session expired"), rolled_back("session expired")],
    ),
    (
        Phase.SWAPPING,
        PROBATION_END,
        Phase.REVERTING,
        [Reject(NEW, "new session not registered within 2s"), StopChild(), STOP_DEADLINE],
    ),
    (
        Phase.SWAPPING,
        ChildDied("boom"),
        Phase.DONE,
        [
            Reject(NEW, "child crashed during the swap: boom"),
            StartChild(OLD),
            rolled_back("child crashed during the swap: boom"),
        ],
    ),
    (Phase.SWAPPING, Online(), Phase.SWAPPING, []),
    (Phase.SWAPPING, STOP_END, Phase.SWAPPING, []),
    # stopping a parked child before starting the candidate
    (Phase.STOPPING, Stopped(), Phase.STARTING, [StartChild(NEW), PROBATION]),
    (Phase.STOPPING, ChildDied("gone"), Phase.STARTING, [StartChild(NEW), PROBATION]),
    (
        Phase.STOPPING,
        STOP_END,
        Phase.STARTING,
        [KillChild("stop timed out before the update"), StartChild(NEW), PROBATION],
    ),
    (Phase.STOPPING, PROBATION_END, Phase.STOPPING, []),
    # a fresh generation on probation
    (Phase.STARTING, Online(), Phase.DONE, [Commit(NEW), applied(1500.0)]),
    (
        Phase.STARTING,
        LoginRejected("session expired"),
        Phase.REVERTING,
        [Reject(NEW, "session expired"), StopChild(), STOP_DEADLINE],
    ),
    (
        Phase.STARTING,
        PROBATION_END,
        Phase.REVERTING,
        [Reject(NEW, "not online within 2s"), StopChild(), STOP_DEADLINE],
    ),
    (
        Phase.STARTING,
        ChildDied("on_start failed"),
        Phase.DONE,
        [
            Reject(NEW, "child crashed on start: on_start failed"),
            StartChild(OLD),
            rolled_back("child crashed on start: on_start failed"),
        ],
    ),
    (Phase.STARTING, SwapDone(ok=True), Phase.STARTING, []),
    # going back to the previous cookie
    (Phase.REVERTING, Stopped(), Phase.DONE, [StartChild(OLD), rolled_back("session expired")]),
    (
        Phase.REVERTING,
        ChildDied("x"),
        Phase.DONE,
        [StartChild(OLD), rolled_back("session expired")],
    ),
    (
        Phase.REVERTING,
        STOP_END,
        Phase.DONE,
        [
            KillChild("stop timed out during rollback"),
            StartChild(OLD),
            rolled_back("session expired"),
        ],
    ),
    (Phase.REVERTING, SwapDone(ok=True), Phase.REVERTING, []),
    (Phase.REVERTING, Online(), Phase.REVERTING, []),
]


@pytest.mark.parametrize(("start", "event", "end", "effects"), APPLY_TABLE)
def test_apply_transition(start, event, end, effects):
    flow = apply_flow_in(start)
    assert flow.handle(event, now=1.5) == effects
    assert flow.phase is end


def test_the_swap_backstop_waits_past_the_childs_own_probation():
    flow = ApplyFlow(
        operation="update",
        candidate=NEW,
        previous=OLD,
        probation_s=2.0,
        stop_timeout_s=0.5,
        swap_grace_s=0.5,
    )
    assert flow.begin(ChildCondition.SWAPPABLE, now=0.0)[1] == ArmDeadline(
        DeadlineKind.PROBATION, 2.5
    )


def test_a_finished_apply_flow_ignores_late_events():
    flow = apply_flow_in(Phase.SWAPPING)
    flow.handle(SwapDone(ok=True, swap_ms=1.0), now=1.0)
    assert flow.done
    assert flow.handle(PROBATION_END, now=3.0) == []
    assert flow.handle(ChildDied("late"), now=3.0) == []


def test_an_unsaved_candidate_reports_no_version():
    unsaved = Candidate("unb=1; t=mem", None, "memfp")
    flow = ApplyFlow(
        operation="update", candidate=unsaved, previous=OLD, probation_s=2.0, stop_timeout_s=0.5
    )
    flow.begin(ChildCondition.SWAPPABLE, now=0.0)
    effects = flow.handle(SwapDone(ok=True, swap_ms=3.0), now=0.1)
    assert effects[0] == Commit(unsaved)
    assert effects[1].result["version"] is None
    assert effects[1].result["previous_version"] == 1


def test_rollback_flow_names_its_events_after_the_operation():
    flow = ApplyFlow(
        operation="rollback", candidate=OLD, previous=NEW, probation_s=2.0, stop_timeout_s=0.5
    )
    flow.begin(ChildCondition.SWAPPABLE, now=0.0)
    finish = flow.handle(SwapDone(ok=True, swap_ms=3.0), now=0.1)[-1]
    assert finish.event == "rollback_applied"
    assert finish.result["version"] == 1
    assert finish.result["previous_version"] == 2


def restart_finish(outcome: str, stop_ms: float) -> Finish:
    return Finish("restarted", {"outcome": outcome, "stop_ms": stop_ms})


STOP_TABLE = [
    (StopThen.RESTART, Stopped(), [StartChild(OLD), restart_finish("restarted", 250.0)]),
    (StopThen.RESTART, ChildDied("x"), [StartChild(OLD), restart_finish("restarted", 250.0)]),
    (
        StopThen.RESTART,
        STOP_END,
        [
            KillChild("did not stop within 0.5s (restart)"),
            StartChild(OLD),
            restart_finish("killed_and_restarted", 250.0),
        ],
    ),
    (StopThen.DISABLE, Stopped(), [Finish("disabled", {"outcome": "disabled", "stop_ms": 250.0})]),
    (
        StopThen.DISABLE,
        STOP_END,
        [
            KillChild("did not stop within 0.5s (disable)"),
            Finish("disabled", {"outcome": "disabled", "stop_ms": 250.0}),
        ],
    ),
    (
        StopThen.REMOVE,
        Stopped(),
        [DeleteAccount(), Finish("removed", {"outcome": "removed", "stop_ms": 250.0})],
    ),
]


@pytest.mark.parametrize(("then", "event", "effects"), STOP_TABLE)
def test_stop_transition(then, event, effects):
    flow = StopFlow(then=then, current=OLD, stop_timeout_s=0.5)
    assert flow.begin(ChildCondition.SWAPPABLE, now=1.0) == [StopChild(), STOP_DEADLINE]
    assert flow.phase is Phase.STOPPING
    assert flow.handle(event, now=1.25) == effects
    assert flow.done


def test_stop_flow_without_a_child_goes_straight_to_its_next_step():
    flow = StopFlow(then=StopThen.RESTART, current=OLD, stop_timeout_s=0.5)
    assert flow.begin(ChildCondition.ABSENT, now=1.0) == [
        StartChild(OLD),
        restart_finish("restarted", 0.0),
    ]
    assert flow.done


def test_stop_flow_ignores_probation_deadlines():
    flow = StopFlow(then=StopThen.DISABLE, current=OLD, stop_timeout_s=0.5)
    flow.begin(ChildCondition.SWAPPABLE, now=0.0)
    assert flow.handle(PROBATION_END, now=0.1) == []
    assert flow.phase is Phase.STOPPING


@pytest.mark.parametrize(
    ("child", "restart", "effects"),
    [
        (
            ChildCondition.SWAPPABLE,
            True,
            [KillChild("operator kill"), StartChild(OLD), Finish(None, {"outcome": "killed"})],
        ),
        (ChildCondition.ABSENT, True, [StartChild(OLD), Finish(None, {"outcome": "killed"})]),
        (
            ChildCondition.UNUSABLE,
            False,
            [KillChild("operator kill"), Finish(None, {"outcome": "killed"})],
        ),
    ],
)
def test_kill_fences_at_once_and_restarts_unless_disabled(child, restart, effects):
    flow = KillFlow(current=OLD, restart=restart)
    assert flow.begin(child, now=0.0) == effects
    assert flow.done


# --- restart policy -----------------------------------------------------------------------


def policy(intensity: int = 3, window_s: float = 10.0) -> RestartPolicy:
    return RestartPolicy(
        Backoff(base_s=0.5, cap_s=2.0, jitter=0.5), intensity=intensity, window_s=window_s
    )


def test_restart_delays_grow_exponentially_up_to_the_cap_with_jitter():
    p = policy(intensity=10)
    delays = [p.on_crash(now=float(i), rand=0.0) for i in range(4)]
    assert delays == [RestartIn(0.5, 0), RestartIn(1.0, 1), RestartIn(2.0, 2), RestartIn(2.0, 3)]
    assert p.on_crash(now=4.0, rand=1.0 - 1e-9).delay_s == pytest.approx(3.0)


def test_past_the_intensity_limit_the_policy_gives_up():
    p = policy(intensity=3, window_s=10.0)
    for t in (0.0, 1.0, 2.0):
        assert isinstance(p.on_crash(now=t, rand=0.0), RestartIn)
    decision = p.on_crash(now=3.0, rand=0.0)
    assert decision == GiveUp(3, 10.0)
    assert "ctl restart" in decision.reason


def test_crashes_outside_the_window_do_not_count():
    p = policy(intensity=2, window_s=10.0)
    p.on_crash(now=0.0, rand=0.0)
    p.on_crash(now=1.0, rand=0.0)
    assert p.on_crash(now=20.0, rand=0.0) == RestartIn(0.5, 0)


def test_reset_forgets_the_restarts():
    p = policy(intensity=1)
    p.on_crash(now=0.0, rand=0.0)
    assert isinstance(p.on_crash(now=1.0, rand=0.0), GiveUp)
    p.reset()
    assert p.on_crash(now=2.0, rand=0.0) == RestartIn(0.5, 0)
