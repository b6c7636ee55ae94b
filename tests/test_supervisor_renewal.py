"""Session renewal end to end: a real service and supervisor against the simulator's passport,
with sessions that age (an accelerated clock). Nobody updates a cookie by hand here."""

from __future__ import annotations

import io
import time
from dataclasses import replace

import pytest

from common.settings import Settings
from control.cli import main as ctl_main
from control.client import ControlClient
from service.app import Service
from tests.plugins.faults import FAULT_TIMINGS, Chat, add_echo_account, event_kinds, row, wait_state
from tests.plugins.simulator import Seller, new_seller
from tests.plugins.timing import MS, scaled, wait_for
from tests.plugins.vocabulary import OUTCOME_FIELDS

pytestmark = pytest.mark.usefixtures("secrets_guard")

# renew every ~1.5 s (the accounts' sessions live 6 s), the whole fleet 50 ms apart
RENEWING = replace(
    FAULT_TIMINGS,
    renew_interval_s=scaled(1.5),
    renew_min_gap_s=scaled(0.5),
    renew_spacing_s=scaled(0.05),
    # the login budget's "hour" on the sessions' clock (6 s stand for a day)
    login_budget_window_s=scaled(1.0),
)
# long enough that no proactive renewal happens during a test
NOT_SOON = replace(FAULT_TIMINGS, renew_interval_s=3600.0)


def service_on(sim, short_dir, timings) -> Service:
    """A service (not started) on ``sim``'s IM, token API and passport."""
    settings = Settings(
        data_dir=short_dir / "svc",
        ws_url=sim.ws_url,
        api_url=sim.api_url,
        passport_url=sim.passport_url,
        timings=timings,
    )
    return Service(settings)


def renewal_versions(client, account: str) -> list[dict]:
    return [v for v in client.history(account)["versions"] if v["source"] == "renewal"]


def renewals(sim, seller: Seller) -> int:
    return sim.admin.user_state(seller.user_id)["renewals"]


@pytest.fixture
def ageing_sim(start_sim):
    """Sessions that live 6 s, an old one 2 s past a renewal, a 1 s fatigue window."""
    return start_sim(
        session_lifetime_s=scaled(6.0), renew_grace_s=scaled(2.0), sdk_silent_s=scaled(1.0)
    )


@pytest.mark.slow
def test_a_session_about_to_expire_is_renewed_and_every_message_answered_once(
    ageing_sim, short_dir
):
    sim = ageing_sim
    seller = new_seller(sim, nick="shop")
    with service_on(sim, short_dir, RENEWING) as service:
        client = service.client
        add_echo_account(client, "shop", seller)
        chat = Chat(sim, seller)
        # through two session lifetimes: without renewal the account would be dead twice
        deadline = time.monotonic() + scaled(12.0)
        n = 0
        while time.monotonic() < deadline:
            n += 1
            chat.push(f"m{n}")
            chat.wait_answered(timeout=10.0)
        wait_for(lambda: len(renewal_versions(client, "shop")) >= 3, what="3 renewals")
        chat.push("last")
        chat.wait_answered()
        chat.assert_each_answered_once()
        status = row(client, "shop")
        assert status["state"] == "online"
        assert status["last_renewal_at"] is not None
        assert status["session_expires_at"] > time.time()
        kinds = event_kinds(client, "shop")
        assert "renewal_applied" in kinds
        assert "needs_cookie" not in kinds
        # a send that met the old session just as the new /reg let it go was answered again
        assert "reply_refused" not in kinds
        assert renewal_versions(client, "shop")[0]["status"] in ("active", "pending")


def test_a_session_expired_now_is_renewed_on_its_own(sim, seller, start_service):
    service = start_service(timings=NOT_SOON)
    client = service.client
    add_echo_account(client, "shop", seller)
    chat = Chat(sim, seller)
    chat.push("before")
    chat.wait_answered()

    assert sim.admin.session(seller.user_id, expire_in_s=0) == 1
    wait_for(lambda: "renewal_applied" in event_kinds(client, "shop"), what="renewal_applied")
    wait_state(client, "shop", "online")
    chat.push("after")
    chat.wait_answered()
    chat.assert_each_answered_once()
    [version] = renewal_versions(client, "shop")
    assert version["status"] == "active"
    assert "needs_cookie" not in event_kinds(client, "shop")
    assert renewals(sim, seller) == 1


def test_an_expired_long_login_parks_in_needs_cookie_with_the_login_hint(
    sim, seller, start_service
):
    service = start_service(timings=NOT_SOON)
    client = service.client
    add_echo_account(client, "shop", seller)

    sim.admin.session(seller.user_id, long_login="expired", expire_in_s=0)
    status = wait_state(client, "shop", "needs_cookie")
    assert "ctl login shop" in status["last_error"]
    kinds = event_kinds(client, "shop")
    assert kinds.count("needs_cookie") == 1
    assert "renewal_failed" in kinds
    [needs] = [e for e in client.events("shop")["events"] if e["kind"] == "needs_cookie"]
    assert "ctl login shop" in needs["data"]["reason"]
    # no retry loop: one renewal call, and it stays that way
    calls = renewals(sim, seller)
    time.sleep(500 * MS)
    assert renewals(sim, seller) == calls
    assert event_kinds(client, "shop").count("needs_cookie") == 1
    assert row(client, "shop")["state"] == "needs_cookie"

    # the long-login is good again (say, extended elsewhere): an operator's renew brings the
    # dead session back, ignoring the fatigue window as a reactive renewal does
    sim.admin.session(seller.user_id, long_login="valid")
    assert client.renew("shop")["outcome"] == "applied"
    status = wait_state(client, "shop", "online")
    assert status["last_error"] is None or "ctl login" not in status["last_error"]


def test_ctl_renew_answers_applied_and_history_shows_the_renewal(sim, seller, start_service):
    service = start_service(timings=NOT_SOON)
    client = service.client
    add_echo_account(client, "shop", seller)
    chat = Chat(sim, seller)

    with ControlClient(service.socket_path, timeout=scaled(30.0)) as control:
        result = control.call("renew", account="shop")
    assert result.keys() >= OUTCOME_FIELDS
    assert result["outcome"] == "applied", result
    assert result["renewal"] == "renewed"
    assert result["version"] == result["previous_version"] + 1
    [version] = renewal_versions(client, "shop")
    assert version["status"] == "active"
    assert version["version"] == result["version"]
    status = row(client, "shop")
    assert status["state"] == "online"
    assert status["last_renewal_at"] is not None
    assert status["session_expires_at"] is not None
    chat.push("after the renewal")
    chat.wait_answered()
    chat.assert_each_answered_once()
    assert "renewal_applied" in event_kinds(client, "shop")


def test_ctl_renew_inside_the_fatigue_window_answers_unchanged(sim, seller, start_service):
    service = start_service(timings=NOT_SOON)
    client = service.client
    add_echo_account(client, "shop", seller)
    assert client.renew("shop")["outcome"] == "applied"
    # the renewal set sdkSilent an hour ahead: the ladder does not call again
    again = client.renew("shop")
    assert again["outcome"] == "unchanged"
    assert again["renewal"] == "fatigue"
    assert "fatigue" in again["reason"]
    assert renewals(sim, seller) == 1
    assert "renewal_skipped" in event_kinds(client, "shop")
    # the same through the command line
    out, err = io.StringIO(), io.StringIO()
    code = ctl_main(["--socket", str(service.socket_path), "renew", "shop"], stdout=out, stderr=err)
    assert code == 0, err.getvalue()
    assert out.getvalue().startswith("unchanged version 2 renewal: fatigue reason: ")


def test_a_passport_that_fails_leaves_the_old_cookie_serving(sim, seller, start_service):
    service = start_service(timings=NOT_SOON)
    client = service.client
    add_echo_account(client, "shop", seller)
    chat = Chat(sim, seller)
    sim.admin.fault(seller.user_id, "renew_error", seconds=30.0)

    failed = client.renew("shop")
    assert failed["outcome"] == "rolled_back"
    assert failed["renewal"] == "error"
    assert failed["version"] == 1
    assert renewal_versions(client, "shop") == []
    chat.push("while the passport is down")
    chat.wait_answered()
    assert row(client, "shop")["state"] == "online"
    [event] = [e for e in client.events("shop")["events"] if e["kind"] == "renewal_failed"]
    assert event["data"]["renewal"] == "error"
    assert event["data"]["retry_in_s"] > 0  # tried again later, on its own
    chat.assert_each_answered_once()


def test_risk_control_on_the_passport_reports_the_punish_url(start_sim, short_dir):
    # no fatigue window: the second renewal reaches the passport, which has had enough
    sim = start_sim(renew_risk_per_h=1, sdk_silent_s=0.0)
    seller = new_seller(sim, nick="shop")
    with service_on(sim, short_dir, NOT_SOON) as service:
        client = service.client
        add_echo_account(client, "shop", seller)
        assert client.renew("shop")["outcome"] == "applied"
        refused = client.renew("shop")
        assert refused["outcome"] == "rolled_back"
        assert refused["renewal"] == "risk_control"
        assert refused["punish_url"]
        assert row(client, "shop")["state"] == "online"


def test_automatic_renewals_wait_for_the_login_budget(ageing_sim, short_dir):
    # renewing every ~1.5 s with 2 logins per (real) hour: the budget stops them
    sim = ageing_sim
    seller = new_seller(sim, nick="shop")
    budgeted = replace(RENEWING, login_budget_per_h=2, login_budget_window_s=3600.0)
    with service_on(sim, short_dir, budgeted) as service:
        client = service.client
        add_echo_account(client, "shop", seller)
        wait_for(
            lambda: "login_budget_exhausted" in event_kinds(client, "shop"),
            timeout=20.0,
            what="the login budget to run out",
        )
        spent = renewals(sim, seller)
        (event,) = [
            e for e in client.events("shop")["events"] if e["kind"] == "login_budget_exhausted"
        ]
        assert "login budget" in event["data"]["reason"]
        assert row(client, "shop")["login_budget_left"] == 0
        # nothing more is asked of the passport on the account's own account
        renewed_at = len(renewal_versions(client, "shop"))
        time.sleep(scaled(3.0))  # two more renewal intervals: proves nothing happens
        assert renewals(sim, seller) == spent
        assert len(renewal_versions(client, "shop")) == renewed_at
