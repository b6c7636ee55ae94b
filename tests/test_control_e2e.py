"""Every control command end to end: a real service (store, supervisor, account actors)
against the Goofish simulator, driven through the real UNIX socket."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from actors.testing import TINY_TIMINGS
from common.settings import Backoff, Settings
from control.client import ControlClient
from control.errors import ControlError
from service.app import Service
from tests.plugins.simulator import Seller, new_seller
from tests.plugins.timing import wait_for
from tests.plugins.vocabulary import (
    EVENT_FIELDS,
    OUTCOME_FIELDS,
    STATES,
    STATUS_FIELDS,
    VERSION_FIELDS,
)

BUYER = "880001"
TIMINGS = replace(
    TINY_TIMINGS,
    probation_s=2.0,
    stop_timeout_s=0.5,
    restart_backoff=Backoff(base_s=0.02, cap_s=0.1),
)


@pytest.fixture
def service(sim, short_dir: Path) -> Iterator[Service]:
    settings = Settings(data_dir=short_dir, ws_url=sim.ws_url, api_url=sim.api_url, timings=TIMINGS)
    svc = Service(settings).start()
    yield svc
    svc.stop()


@pytest.fixture
def ctl(service: Service) -> Iterator[ControlClient]:
    with ControlClient(service.socket_path, timeout=30) as client:
        yield client


def row(ctl: ControlClient, account: str) -> dict[str, Any]:
    return ctl.call("status", account=account)["accounts"][0]


def wait_state(ctl: ControlClient, account: str, state: str) -> dict[str, Any]:
    return wait_for(
        lambda: (r := row(ctl, account))["state"] == state and r, what=f"{account} {state}"
    )


def add_online(ctl: ControlClient, account: str, seller: Seller) -> None:
    ctl.call("add", account=account, cookie=seller.cookie)
    wait_state(ctl, account, "online")


def test_ping_and_status_of_an_online_account(ctl, seller):
    assert ctl.call("ping")["version"]
    add_online(ctl, "shop", seller)
    (entry,) = ctl.call("status")["accounts"]
    assert set(entry) >= STATUS_FIELDS
    assert entry["state"] in STATES
    assert (entry["id"], entry["user_id"], entry["cookie_version"]) == ("shop", seller.user_id, 1)
    assert entry["enabled"] is True
    assert entry["unsaved"] is False


def test_rules_are_set_atomically_and_replies_flow(ctl, sim, seller):
    add_online(ctl, "shop", seller)
    rules = [
        {"keyword": "价格", "reply": "不议价"},
        {"keyword": "包邮", "reply": "包邮", "item_id": "77"},
    ]
    summary = ctl.call("set_rules", account="shop", rules=rules, default_reply={"text": "在的"})
    assert summary == {"outcome": "stored", "rules": 2, "item_rules": 1, "default_reply": True}
    result = ctl.call("rules", account="shop")
    assert result["rules"][1] == {"keyword": "包邮", "reply": "包邮", "item_id": "77"}
    assert result["default_reply"] == {"text": "在的", "once_per_chat": True}
    sim.admin.push(to=seller.user_id, from_=BUYER, text="价格多少")
    wait_for(lambda: "不议价" in [m["text"] for m in sim.admin.sent(seller.user_id)], what="reply")
    wait_for(lambda: row(ctl, "shop")["replied"] >= 1, what="replied counter")


def test_update_applied_unchanged_conflict_and_rolled_back(ctl, sim, seller):
    add_online(ctl, "shop", seller)
    fresh = sim.admin.create_user(user_id=seller.user_id)["cookie"]
    applied = ctl.call("update", account="shop", cookie=fresh)
    assert set(applied) == OUTCOME_FIELDS
    assert (applied["outcome"], applied["version"], applied["previous_version"]) == (
        "applied",
        2,
        1,
    )
    assert applied["swap_ms"] > 0
    assert ctl.call("update", account="shop", cookie=fresh)["outcome"] == "unchanged"
    other = new_seller(sim, nick="other")
    with pytest.raises(ControlError) as caught:
        ctl.call("update", account="shop", cookie=other.cookie)
    assert caught.value.code == "conflict"
    revoked = sim.admin.create_user(user_id=seller.user_id)["cookie"]
    sim.admin.revoke(cookie=revoked)
    rolled = ctl.call("update", account="shop", cookie=revoked)
    assert rolled["outcome"] == "rolled_back"
    assert rolled["reason"]
    assert row(ctl, "shop")["cookie_version"] == 2


def test_update_without_waiting_is_accepted_and_lands_in_events(ctl, sim, seller):
    add_online(ctl, "shop", seller)
    fresh = sim.admin.create_user(user_id=seller.user_id)["cookie"]
    assert ctl.call("update", account="shop", cookie=fresh, wait=False)["outcome"] == "accepted"
    wait_for(lambda: row(ctl, "shop")["cookie_version"] == 2, what="version 2 active")
    kinds = [e["kind"] for e in ctl.call("events", account="shop")["events"]]
    assert "update_applied" in kinds


def test_update_of_a_disabled_account_is_stored(ctl, sim, seller):
    ctl.call("add", account="shop", cookie=seller.cookie, enabled=False)
    assert row(ctl, "shop")["state"] == "disabled"
    fresh = sim.admin.create_user(user_id=seller.user_id)["cookie"]
    assert ctl.call("update", account="shop", cookie=fresh)["outcome"] == "stored"


def test_history_shows_fingerprints_never_cookie_values(ctl, sim, seller):
    add_online(ctl, "shop", seller)
    fresh = sim.admin.create_user(user_id=seller.user_id)["cookie"]
    ctl.call("update", account="shop", cookie=fresh)
    versions = ctl.call("history", account="shop")["versions"]
    assert [v["version"] for v in versions] == [2, 1]
    assert set(versions[0]) == VERSION_FIELDS
    assert versions[0]["status"] == "active"
    text = str(versions)
    for part in (seller.cookie, fresh):
        for pair in part.split(";"):
            value = pair.partition("=")[2]
            if len(value) > 12:
                assert value not in text
    assert len(ctl.call("history", account="shop", limit=1)["versions"]) == 1


def test_rollback_returns_to_the_previous_version(ctl, sim, seller):
    add_online(ctl, "shop", seller)
    ctl.call(
        "update", account="shop", cookie=sim.admin.create_user(user_id=seller.user_id)["cookie"]
    )
    result = ctl.call("rollback", account="shop")
    assert set(result) == OUTCOME_FIELDS
    assert (result["outcome"], result["version"], result["previous_version"]) == ("applied", 1, 2)
    assert ctl.call("rollback", account="shop", to_version=2)["version"] == 2
    with pytest.raises(ControlError) as caught:
        ctl.call("rollback", account="shop", to_version=99)
    assert caught.value.code == "not_found"


def test_restart_and_kill_start_fresh_generations(ctl, seller):
    add_online(ctl, "shop", seller)
    restarted = ctl.call("restart", account="shop")
    assert restarted["outcome"] in ("restarted", "killed_and_restarted")
    assert restarted["stop_ms"] >= 0
    wait_state(ctl, "shop", "online")
    assert ctl.call("kill", account="shop") == {"outcome": "killed"}
    wait_state(ctl, "shop", "online")


def test_disable_enable_set_and_remove(ctl, seller):
    add_online(ctl, "shop", seller)
    ctl.call("disable", account="shop")
    wait_state(ctl, "shop", "disabled")
    ctl.call("enable", account="shop")
    wait_state(ctl, "shop", "online")
    account = ctl.call("set", account="shop", remark="main store", pause_minutes=3)["account"]
    assert (account["remark"], account["pause_minutes"]) == ("main store", 3)
    assert ctl.call("set", account="shop", remark="x")["account"]["pause_minutes"] == 3
    ctl.call("remove", account="shop")
    assert ctl.call("status")["accounts"] == []
    with pytest.raises(ControlError) as caught:
        ctl.call("status", account="shop")
    assert caught.value.code == "not_found"


def test_add_errors_exists_and_bad_cookie(ctl, seller):
    add_online(ctl, "shop", seller)
    with pytest.raises(ControlError) as caught:
        ctl.call("add", account="shop", cookie=seller.cookie)
    assert caught.value.code == "exists"
    with pytest.raises(ControlError) as caught:
        ctl.call("add", account="nounb", cookie="cookie2=abc; _m_h5_tk=x_1")
    assert caught.value.code == "bad_request"


def test_events_filter_by_account_limit_and_since(ctl, seller):
    add_online(ctl, "shop", seller)
    events = ctl.call("events")["events"]
    assert events
    assert set(events[0]) == EVENT_FIELDS
    assert all(e["account"] == "shop" for e in ctl.call("events", account="shop")["events"])
    assert len(ctl.call("events", limit=1)["events"]) == 1
    assert ctl.call("events", since="2999-01-01T00:00:00+00:00")["events"] == []
    assert ctl.call("events", since=0)["events"]


def test_garbage_between_commands_does_not_disturb_the_service(ctl, seller):
    add_online(ctl, "shop", seller)
    ctl.send_raw(b"\xc3\x28 garbage\n")
    assert ctl.read_response()["error"]["code"] == "bad_request"
    ctl.send_raw(b"x" * (3 * 1024 * 1024) + b"\n")
    assert ctl.read_response()["error"]["code"] == "too_large"
    assert row(ctl, "shop")["state"] == "online"


def test_no_cookie_value_reaches_any_log_line(sim, short_dir, seller):
    import io
    import logging

    from service.logging import configure_logging, reset_logging

    buffer = io.StringIO()
    configure_logging("json", stream=buffer, level=logging.DEBUG)
    fresh = sim.admin.create_user(user_id=seller.user_id)["cookie"]
    revoked = sim.admin.create_user(user_id=seller.user_id)["cookie"]
    sim.admin.revoke(cookie=revoked)
    try:
        settings = Settings(
            data_dir=short_dir, ws_url=sim.ws_url, api_url=sim.api_url, timings=TIMINGS
        )
        with Service(settings) as svc, ControlClient(svc.socket_path, timeout=30) as ctl:
            add_online(ctl, "shop", seller)
            assert ctl.call("update", account="shop", cookie=fresh)["outcome"] == "applied"
            assert ctl.call("update", account="shop", cookie=revoked)["outcome"] == "rolled_back"
            ctl.send_raw(b'{"cmd": "add", "account": 1, "cookie": "' + fresh.encode() + b'"}\n')
            assert ctl.read_response()["error"]["code"] == "bad_request"
    finally:
        reset_logging()
    output = buffer.getvalue()
    assert len(output.splitlines()) > 10
    assert "update_applied" in output
    for cookie in (seller.cookie, fresh, revoked):
        for pair in cookie.split(";"):
            name, _, value = pair.strip().partition("=")
            if name != "unb" and len(value) >= 6:
                assert value not in output, name


def test_events_of_an_unknown_account_is_not_found(ctl, seller):
    add_online(ctl, "shop", seller)
    with pytest.raises(ControlError) as caught:
        ctl.call("events", account="nope")
    assert caught.value.code == "not_found"
    assert ctl.call("events", account="shop")["events"]
