"""Supervision faults in a running service: a stuck handler is killed and fenced, a restart
storm parks the account in ``failed``; messages are answered exactly once throughout."""

from __future__ import annotations

import time

import pykka
import pytest

from actors.account import AccountActor
from common.errors import StorageError
from tests.plugins.faults import (
    FAULT_TIMINGS,
    Chat,
    event_kinds,
    row,
    wait_state,
)
from tests.plugins.simulator import sim_either_arbitration
from tests.plugins.timing import wait_for

pytestmark = pytest.mark.usefixtures("secrets_guard")
# under sessions_per_seller 1 and 2
sim = sim_either_arbitration


def account_actors() -> int:
    return len(pykka.ActorRegistry.get_by_class(AccountActor))


def test_stuck_handler_is_killed_in_time_and_the_fenced_generation_never_sends_again(
    sim, seller, service
):
    client = service.client
    chat = Chat(sim, seller)
    chat.push("before")
    chat.wait_answered()
    frozen = client.freeze("shop", 1.5)["generation"]
    pushed = sim.admin.user_state(seller.user_id)["pushed"]
    # delivered to the frozen generation's socket: its frame waits in the blocked mailbox
    chat.push("while frozen")
    wait_for(lambda: sim.admin.user_state(seller.user_id)["pushed"] > pushed, what="delivery")
    started = time.monotonic()
    result = client.restart("shop")
    assert time.monotonic() - started < FAULT_TIMINGS.stop_timeout_s + 1.0
    assert result["outcome"] == "killed_and_restarted"
    assert "killed" in event_kinds(client, "shop")
    wait_state(client, "shop", "online")
    chat.wait_answered()
    # the frozen generation wakes up, handles its queued frame behind the fence, and dies
    wait_for(lambda: account_actors() == 1, timeout=5, what="the fenced generation gone")
    chat.push("after")
    chat.wait_answered()
    chat.assert_each_answered_once()
    assert row(client, "shop")["restarts"] == 1
    assert client.freeze("shop", 0.01)["generation"] == frozen + 1


def test_restart_storm_engages_the_intensity_limit_then_an_operator_restart_recovers(
    sim, seller, service, monkeypatch
):
    client = service.client
    chat = Chat(sim, seller)
    chat.push("before")
    chat.wait_answered()

    def broken_load_token(account_id: str) -> None:
        raise StorageError(
            f"cannot read the token of {account_id!r}: database disk image is malformed"
        )

    monkeypatch.setattr(service.store, "load_token", broken_load_token)
    calls = sim.admin.user_state(seller.user_id)["token_calls"]
    client.kill("shop")  # every fresh generation now crashes in on_start
    status = wait_state(client, "shop", "failed")
    assert "ctl restart" in status["last_error"]
    kinds = event_kinds(client, "shop")
    assert kinds.count("crashed") == FAULT_TIMINGS.restart_intensity + 1
    assert kinds.count("failed") == 1
    assert sim.admin.user_state(seller.user_id)["token_calls"] == calls  # nothing hammered
    chat.push("while failed")

    monkeypatch.undo()  # the operator fixed the cause
    client.restart("shop")
    wait_state(client, "shop", "online")
    chat.push("after")
    chat.wait_answered()
    chat.assert_each_answered_once()
    assert event_kinds(client, "shop").count("crashed") == FAULT_TIMINGS.restart_intensity + 1
