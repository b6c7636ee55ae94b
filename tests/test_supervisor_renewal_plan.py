"""When to renew and what an answer means (supervisor.renewal_plan), and the renewal flow
(supervisor.renew_flow), as tables: no clock, no network."""

from __future__ import annotations

from dataclasses import replace

import pytest

from common.settings import Backoff, Timings
from storage import SOURCE_RENEWAL
from supervisor import machine as m
from supervisor import preflow as pf
from supervisor import renewal_plan as plan
from supervisor.renew_flow import PassportAnswered, RenewFlow
from supervisor.requests import Renew, Update

T = Timings(
    renew_interval_s=100.0,
    renew_jitter=0.3,
    renew_min_gap_s=10.0,
    renew_spacing_s=1.0,
    risk_backoff=Backoff(base_s=50.0, cap_s=400.0, jitter=0.0),
)
CURRENT = m.Candidate("unb=1; cookie2=old", 3, "fp3")


@pytest.mark.parametrize(
    ("rand", "expected"),
    [(0.0, 70.0), (0.5, 100.0), (1.0, 130.0)],
)
def test_the_interval_is_jittered_by_thirty_percent_either_way(rand, expected):
    assert plan.interval_s(T, rand) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("expires_in", "expected"),
    [
        (None, 100.0),  # unknown end: the interval
        (1000.0, 100.0),  # far away: the interval
        (40.0, 30.0),  # closer: three quarters of the way there
        (0.5, 1.0),  # about to end: no sooner than the fleet spacing
        (-5.0, 1.0),  # already past: as soon as the spacing allows
    ],
)
def test_the_next_renewal_comes_before_the_session_ends(expires_in, expected):
    wall = 1_000.0
    expires_at = None if expires_in is None else wall + expires_in
    delay = plan.next_delay_s(T, rand=0.5, wall=wall, session_expires_at=expires_at)
    assert delay == pytest.approx(expected)


def test_the_spacer_hands_out_one_slot_per_spacing():
    spacer = plan.Spacer(1.0)
    assert [spacer.take(10.0) for _ in range(3)] == [0.0, 1.0, 2.0]
    assert spacer.take(20.0) == 0.0  # a quiet moment: no wait


@pytest.mark.parametrize(
    ("state", "now", "expected"),
    [
        (plan.RenewalState(), 100.0, plan.RenewNow()),
        (plan.RenewalState(last_attempt=95.0), 100.0, plan.Wait(5.0)),
        (plan.RenewalState(last_attempt=80.0), 100.0, plan.RenewNow()),
        (plan.RenewalState(needs_login="refused; log in"), 100.0, plan.GiveUp("refused; log in")),
    ],
    ids=["first", "inside the gap", "after the gap", "known impossible"],
)
def test_a_dead_session_is_renewed_at_most_once_per_gap(state, now, expected):
    assert plan.on_session_expired(state, T, now=now, account="shop") == expected


def test_a_renewal_whose_cookie_did_not_take_is_not_tried_again():
    state = plan.RenewalState(apply_failed="not online within 20s")
    decision = plan.on_session_expired(state, T, now=0.0, account="shop-7")
    assert isinstance(decision, plan.GiveUp)
    assert "not online within 20s" in decision.reason
    assert "ctl login shop-7" in decision.reason


def test_a_person_acting_lets_renewal_try_again():
    state = plan.RenewalState(needs_login="x", apply_failed="y", failures=3, gave_up=True)
    state.reset()
    assert state == replace(plan.RenewalState(), timer_token=state.timer_token)


FAILED, SKIPPED = "renewal_failed", "renewal_skipped"


@pytest.mark.parametrize(
    ("kind", "reactive", "failures", "expected"),
    [
        ("renewed", False, 0, plan.Verdict(None, "applied", apply=True)),
        ("renewed", True, 2, plan.Verdict(None, "applied", apply=True)),
        ("unchanged", False, 0, plan.Verdict(SKIPPED, "unchanged")),
        ("unchanged", True, 0, plan.Verdict(FAILED, "rolled_back", give_up=True)),
        ("fatigue", False, 0, plan.Verdict(SKIPPED, "unchanged", retry_in_s=30.0)),
        ("long_login_expired", False, 0, plan.Verdict(FAILED, "rolled_back", give_up=True)),
        ("refused", True, 0, plan.Verdict(FAILED, "rolled_back", give_up=True)),
        ("risk_control", False, 0, plan.Verdict(FAILED, "rolled_back", retry_in_s=50.0)),
        ("risk_control", True, 1, plan.Verdict(FAILED, "rolled_back", retry_in_s=100.0)),
        ("error", False, 0, plan.Verdict(FAILED, "rolled_back", retry_in_s=10.0)),
        ("error", True, 2, plan.Verdict(FAILED, "rolled_back", retry_in_s=40.0)),
        ("error", False, 9, plan.Verdict(FAILED, "rolled_back", retry_in_s=100.0)),  # capped
    ],
)
def test_each_answer_has_one_verdict(kind, reactive, failures, expected):
    verdict = plan.judge(
        kind, reactive=reactive, failures=failures, timings=T, rand=0.5, wall=0.0, retry_at=30.0
    )
    assert verdict == expected


# --- the flow ---------------------------------------------------------------------------


def answer(kind: str, **verdict: object) -> PassportAnswered:
    judged = plan.judge(kind, reactive=False, failures=0, timings=T, rand=0.5, wall=0.0)
    return PassportAnswered(kind, replace(judged, **verdict), f"{kind} said so", cookie="unb=1")


def test_the_flow_asks_the_passport_first_with_a_backstop():
    flow = RenewFlow(current=CURRENT, trigger="reactive", deadline_s=70.0)
    effects = flow.begin(m.ChildCondition.UNUSABLE, now=0.0)
    assert effects == [
        m.AskPassport(CURRENT.cookie, session_expired=True),
        m.ArmDeadline(m.DeadlineKind.PROBATION, 70.0),
    ]
    assert flow.phase is m.Phase.ASKING
    # the child's reports do not move it
    assert flow.handle(m.LoginRejected("dead"), now=1.0) == []
    assert flow.handle(m.Online(), now=1.0) == []


def test_a_renewed_session_goes_through_the_update_path():
    flow = RenewFlow(current=CURRENT, trigger="scheduled", deadline_s=70.0)
    flow.begin(m.ChildCondition.SWAPPABLE, now=0.0)
    assert flow.answered(answer("renewed"), now=1.0) == [m.ApplyRenewal("unb=1")]
    assert flow.done
    assert flow.answered(answer("renewed"), now=2.0) == []  # once


@pytest.mark.parametrize(
    ("kind", "event", "outcome"),
    [
        ("fatigue", SKIPPED, "unchanged"),
        ("unchanged", SKIPPED, "unchanged"),
        ("refused", FAILED, "rolled_back"),
        ("error", FAILED, "rolled_back"),
    ],
)
def test_any_other_answer_finishes_with_the_verdicts_event(kind, event, outcome):
    flow = RenewFlow(current=CURRENT, trigger="operator", deadline_s=70.0)
    flow.begin(m.ChildCondition.SWAPPABLE, now=0.0)
    [finish] = flow.answered(answer(kind), now=1.0)
    assert isinstance(finish, m.Finish)
    assert finish.event == event
    assert finish.result["outcome"] == outcome
    assert finish.result["renewal"] == kind
    assert finish.result["version"] == CURRENT.version
    assert finish.result["reason"] == f"{kind} said so"
    assert finish.result["trigger"] == "operator"
    assert finish.result.get("why") == (kind if event == SKIPPED else None)


def test_no_answer_by_the_deadline_fails_the_renewal():
    flow = RenewFlow(current=CURRENT, trigger="scheduled", deadline_s=70.0)
    flow.begin(m.ChildCondition.SWAPPABLE, now=0.0)
    [finish] = flow.handle(m.DeadlinePassed(m.DeadlineKind.PROBATION), now=70.0)
    assert isinstance(finish, m.Finish)
    assert finish.event == FAILED
    assert "did not answer within 70s" in finish.result["reason"]
    assert flow.answered(answer("renewed"), now=71.0) == []  # too late: ignored


def test_a_renewal_update_that_fails_is_a_renewal_failed_event():
    flow = m.ApplyFlow(
        operation="renewal",
        candidate=m.Candidate("unb=1; cookie2=new", 4, "fp4"),
        previous=CURRENT,
        probation_s=2.0,
        stop_timeout_s=0.5,
    )
    flow.begin(m.ChildCondition.SWAPPABLE, now=0.0)
    effects = flow.handle(m.SwapDone(ok=False, reason="token refused"), now=1.0)
    assert [type(e) for e in effects] == [m.Reject, m.Finish]
    assert effects[1].event == "renewal_failed"  # type: ignore[union-attr]
    flow = m.ApplyFlow(
        operation="renewal",
        candidate=flow.candidate,
        previous=CURRENT,
        probation_s=2.0,
        stop_timeout_s=0.5,
    )
    flow.begin(m.ChildCondition.SWAPPABLE, now=0.0)
    effects = flow.handle(m.SwapDone(ok=True, swap_ms=5.0), now=1.0)
    assert effects[-1].event == "renewal_applied"  # type: ignore[union-attr]


# --- what a renewal request and a renewed cookie's update are, before any flow ------------

VIEW = pf.AccountView("shop", "1", enabled=True, current=CURRENT, unsaved=False, has_child=True)


def test_renew_begins_a_renewal_flow_unless_disabled():
    assert pf.plan(Renew("shop", trigger="scheduled"), VIEW) == pf.Plan(pf.RenewNow("scheduled"))
    refused = pf.plan(Renew("shop"), replace(VIEW, enabled=False)).action
    assert isinstance(refused, pf.Refuse)
    assert "ctl enable shop" in str(refused.error)


def test_a_renewed_cookie_is_a_renewal_operation_not_an_operators_act():
    update = Update("shop", cookie="unb=1; cookie2=new", source=SOURCE_RENEWAL)
    decided = pf.plan(update, VIEW)
    assert isinstance(decided.action, pf.TryCookie)
    assert decided.action.operation == "renewal"
    assert decided.action.source == SOURCE_RENEWAL
    assert not decided.operator_acted  # a failed account stays failed, crashes still count
    by_hand = pf.plan(Update("shop", cookie="unb=1; cookie2=new"), VIEW)
    assert by_hand.operator_acted
    assert by_hand.action == pf.TryCookie("update", by_hand.action.candidate, save=True)  # type: ignore[union-attr]


def test_the_renewal_timings_are_serve_options_and_environment_variables():
    from service.cli import build_parser, settings_from_args

    env = {"XIANYU_RENEW_MIN_GAP_S": "7"}
    args = build_parser(env).parse_args(["--renew-interval-s", "120", "--renew-spacing-s", "0.5"])
    timings = settings_from_args(args).timings
    assert (timings.renew_interval_s, timings.renew_min_gap_s) == (120.0, 7.0)
    assert timings.renew_spacing_s == 0.5
    assert settings_from_args(build_parser({}).parse_args([])).timings == Timings()
