"""Failure classes and reconnect back-off (actors/failures.py)."""

from __future__ import annotations

from actors.failures import FailureClass, RetryPolicy, classify_token_failure
from common.settings import Backoff, Timings

TIMINGS = Timings(
    heartbeat_s=1.0,
    network_backoff=Backoff(base_s=1.0, cap_s=8.0, jitter=0.0),
    auth_backoff=Backoff(base_s=10.0, cap_s=100.0, jitter=0.0),
    risk_backoff=Backoff(base_s=300.0, cap_s=3600.0, jitter=0.0),
)


def test_token_outcomes_map_to_classes() -> None:
    assert classify_token_failure("risk_control", network=False) is FailureClass.RISK
    assert classify_token_failure("session_expired", network=False) is FailureClass.SESSION_EXPIRED
    assert classify_token_failure("token_expired", network=False) is FailureClass.AUTH
    assert classify_token_failure("error", network=False) is FailureClass.AUTH
    assert classify_token_failure("error", network=True) is FailureClass.NETWORK


def test_each_class_backs_off_exponentially_up_to_its_cap() -> None:
    policy = RetryPolicy(TIMINGS)
    delays = [policy.delay(FailureClass.NETWORK, rand=0.0, registered_for_s=None) for _ in range(5)]
    assert delays == [1.0, 2.0, 4.0, 8.0, 8.0]
    assert policy.delay(FailureClass.AUTH, rand=0.0, registered_for_s=None) == 10.0
    assert policy.delay(FailureClass.RISK, rand=0.0, registered_for_s=None) == 300.0


def test_risk_control_waits_far_longer_than_network_errors() -> None:
    timings = Timings()
    network = RetryPolicy(timings).delay(FailureClass.NETWORK, rand=0.5, registered_for_s=None)
    risk = RetryPolicy(timings).delay(FailureClass.RISK, rand=0.5, registered_for_s=None)
    assert network is not None and risk is not None
    assert risk >= 100 * network


def test_session_expired_is_not_retried() -> None:
    assert (
        RetryPolicy(TIMINGS).delay(FailureClass.SESSION_EXPIRED, rand=0.0, registered_for_s=5)
        is None
    )


def test_normal_close_of_a_registered_session_reconnects_at_once() -> None:
    policy = RetryPolicy(TIMINGS)
    assert policy.delay(FailureClass.NORMAL_CLOSE, rand=0.0, registered_for_s=30.0) == 0.0
    assert policy.delay(FailureClass.TOKEN_CHANGED, rand=0.0, registered_for_s=30.0) == 0.0


def test_normal_close_right_after_registering_backs_off_like_a_network_error() -> None:
    policy = RetryPolicy(TIMINGS)
    assert policy.delay(FailureClass.NORMAL_CLOSE, rand=0.0, registered_for_s=0.1) == 1.0
    assert policy.delay(FailureClass.NORMAL_CLOSE, rand=0.0, registered_for_s=None) == 2.0


def test_reset_starts_from_the_base_delay_again() -> None:
    policy = RetryPolicy(TIMINGS)
    policy.delay(FailureClass.NETWORK, rand=0.0, registered_for_s=None)
    policy.delay(FailureClass.NETWORK, rand=0.0, registered_for_s=None)
    policy.reset()
    assert policy.delay(FailureClass.NETWORK, rand=0.0, registered_for_s=None) == 1.0
