"""The status vocabulary as a table: what the supervisor knows -> the word an operator sees."""

from __future__ import annotations

import pytest

from actors.messages import AccountStatus, ChildState
from supervisor.status import Facts, State, account_state
from tests.plugins.vocabulary import STATES


def child(state: ChildState, *, swapping: bool = False) -> AccountStatus:
    return AccountStatus("shop", 1, state, swapping=swapping)


def facts(**overrides) -> Facts:
    base = {
        "enabled": True,
        "failed": False,
        "updating": False,
        "restart_pending": False,
        "child": child(ChildState.ONLINE),
        "was_online": True,
    }
    return Facts(**{**base, **overrides})


@pytest.mark.parametrize(
    ("given", "state"),
    [
        (facts(), State.ONLINE),
        (facts(enabled=False, failed=True, updating=True), State.DISABLED),
        (facts(failed=True, child=None), State.FAILED),
        (facts(updating=True), State.UPDATING),
        (facts(child=child(ChildState.ONLINE, swapping=True)), State.UPDATING),
        (facts(child=None), State.STOPPED),
        (facts(child=None, restart_pending=True), State.BACKOFF),
        (facts(child=child(ChildState.CONNECTING), was_online=False), State.STARTING),
        (facts(child=child(ChildState.CONNECTING), was_online=True), State.RECONNECTING),
        (facts(child=child(ChildState.BACKOFF)), State.BACKOFF),
        (facts(child=child(ChildState.NEEDS_COOKIE)), State.NEEDS_COOKIE),
        (facts(child=child(ChildState.STOPPED)), State.STOPPED),
    ],
)
def test_account_state(given, state):
    assert account_state(given) is state


def test_the_vocabulary_is_the_control_sockets():
    assert {str(s) for s in State} == STATES
