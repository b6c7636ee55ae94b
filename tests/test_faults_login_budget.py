"""The restart economy (issue 16 section 2), counted by the simulator's ``token_calls``: the
cached IM token carries an account through restart, kill, reconnects and a service restart
without a token call; a flapping connection stops asking at the login budget and waits
(``backoff``, "login budget"); an operator's restart past the budget still goes through."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from service.app import Service
from simulator.server import SimulatorHandle
from tests.plugins.faults import FAULT_TIMINGS, add_echo_account, event_kinds, row, wait_state
from tests.plugins.simulator import Seller
from tests.plugins.timing import MS, scaled, wait_for

pytestmark = pytest.mark.usefixtures("secrets_guard")

BUDGET = 3
BUDGET_TIMINGS = replace(FAULT_TIMINGS, login_budget_per_h=BUDGET)
# an IM token the simulator refuses at /reg once it is this old: every reconnect after it
# needs a token call (the flapping that costs logins)
SHORT_TOKEN_S = scaled(0.3)


@pytest.fixture
def sim(start_sim: Callable[..., SimulatorHandle], request: pytest.FixtureRequest) -> Any:
    return start_sim(**getattr(request, "param", {}))


def token_calls(sim: SimulatorHandle, seller: Seller) -> int:
    return int(sim.admin.user_state(seller.user_id)["token_calls"])


def test_restart_kill_reconnect_and_a_service_restart_reuse_the_cached_token(
    sim: SimulatorHandle, start_service: Callable[..., Service], seller: Seller
) -> None:
    service = start_service(timings=BUDGET_TIMINGS)
    add_echo_account(service.client, "shop", seller)
    assert token_calls(sim, seller) == 1  # the first login
    assert row(service.client, "shop")["login_budget_left"] == BUDGET - 1

    service.client.restart("shop")
    wait_state(service.client, "shop", "online")
    service.client.kill("shop")
    wait_for(lambda: row(service.client, "shop")["restarts"] == 2, what="the kill's generation")
    wait_state(service.client, "shop", "online")
    sim.admin.fault(seller.user_id, "close")
    wait_for(
        lambda: (r := row(service.client, "shop"))["reconnects"] >= 1 and r["state"] == "online",
        what="a reconnect",
    )
    assert token_calls(sim, seller) == 1

    data_dir = service.settings.data_dir
    service.stop()
    again = start_service(timings=BUDGET_TIMINGS, data_dir=data_dir)
    wait_state(again.client, "shop", "online")
    assert token_calls(sim, seller) == 1
    assert sim.admin.user_state(seller.user_id)["registered"] == 1


def flap_once(sim: SimulatorHandle, service: Service, seller: Seller) -> None:
    """Close the account's connection once its token is too old to register again."""
    wait_for(
        lambda: (
            (r := row(service.client, "shop"))["state"] == "online"
            and time.time() - r["online_since"] > SHORT_TOKEN_S
        ),
        what="online on a token the simulator no longer takes",
    )
    sim.admin.fault(seller.user_id, "close")


@pytest.mark.parametrize("sim", [{"token_lifetime_s": SHORT_TOKEN_S}], indirect=True)
def test_a_flapping_connection_stops_at_the_budget_and_an_operator_restart_goes_through(
    sim: SimulatorHandle, start_service: Callable[..., Service], seller: Seller
) -> None:
    service = start_service(timings=BUDGET_TIMINGS)
    add_echo_account(service.client, "shop", seller)
    for calls in range(2, BUDGET + 1):  # each flap: the cached token is refused, a new one
        flap_once(sim, service, seller)
        wait_for(lambda c=calls: token_calls(sim, seller) == c, what=f"token call {calls}")
    flap_once(sim, service, seller)  # the budget is spent: this one waits

    held = wait_for(
        lambda: (
            (r := row(service.client, "shop"))["state"] == "backoff"
            and "login budget" in (r["last_error"] or "")
            and r
        ),
        what="backoff for the login budget",
    )
    assert held["login_budget_left"] == 0
    time.sleep(300 * MS)  # the rare real wait: prove nobody asks again
    assert token_calls(sim, seller) == BUDGET
    assert row(service.client, "shop")["state"] == "backoff"
    kinds = event_kinds(service.client, "shop")
    assert kinds.count("login_budget_exhausted") == 1
    exhausted = next(
        e for e in service.client.events("shop")["events"] if e["kind"] == "login_budget_exhausted"
    )
    assert "login budget" in exhausted["data"]["reason"]  # what the notification says
    assert exhausted["data"]["per_h"] == BUDGET

    service.client.restart("shop")  # an operator is never refused by the budget
    wait_state(service.client, "shop", "online")
    assert token_calls(sim, seller) == BUDGET + 1
    assert row(service.client, "shop")["login_budget_left"] == 0
