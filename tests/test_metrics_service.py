"""``--metrics``: a real service on the simulator, scraped over HTTP (issue 12 §3).

Every figure is read from ``/metrics`` as Prometheus would, and parsed with
``prometheus_client``'s own parser; the tests push, update, restart and revoke through the
real parts and wait for the series to move.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

import pykka
import pytest
from prometheus_client.parser import text_string_to_metric_families

from actors.account import AccountActor
from common import metrics_sink
from service.app import Service
from simulator.server import SimulatorHandle
from tests.plugins.faults import FAULT_TIMINGS, Chat, add_echo_account, row, wait_state
from tests.plugins.simulator import Seller, new_seller, second_login
from tests.plugins.timing import SECOND, scaled, wait_for

LOOPBACK_ANY_PORT = "127.0.0.1:0"
# the labels the service may put on a series: nothing per chat, buyer or message
BOUNDED_LABELS = {"account", "state", "reason", "cause", "result", "outcome", "le"}


@dataclass(frozen=True)
class Reply:
    status: int
    body: str


def get(url: str) -> Reply:
    try:
        with urllib.request.urlopen(url, timeout=scaled(10)) as answer:
            return Reply(answer.status, answer.read().decode("utf-8"))
    except urllib.error.HTTPError as error:
        return Reply(error.code, error.read().decode("utf-8"))


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(service: Service) -> Samples:
    """Every sample of one scrape: (sample name, labels) -> value."""
    assert service.metrics_url is not None
    reply = get(service.metrics_url + "/metrics")
    assert reply.status == 200, reply.body
    samples: Samples = {}
    for family in text_string_to_metric_families(reply.body):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def wait_value(
    service: Service, name: str, expected: float, *, what: str = "", **labels: str
) -> Samples:
    """Scrape until ``name{labels}`` reaches ``expected``; the scrape that saw it."""
    holder: list[Samples] = []

    def reached() -> bool:
        holder[:] = [scrape(service)]
        return value(holder[0], name, **labels) >= expected

    wait_for(reached, timeout=10, what=what or f"{name}{labels} >= {expected}")
    return holder[0]


@pytest.fixture
def metered(start_service: Callable[..., Service], seller: Seller) -> Service:
    """A service with metrics on (any free port) and ``seller`` online as echo account ``shop``."""
    service = start_service(metrics=LOOPBACK_ANY_PORT)
    add_echo_account(service.client, "shop", seller)
    return service


def test_a_buyer_message_moves_received_replies_and_the_reply_histogram(
    metered: Service, sim: SimulatorHandle, seller: Seller
):
    before = scrape(metered)
    assert value(before, "xianyu_account_up", account="shop") == 1
    assert value(before, "xianyu_accounts", state="online") == 1
    assert value(before, "xianyu_accounts", state="needs_cookie") == 0
    assert value(before, "xianyu_token_calls_total", account="shop", result="success") >= 1
    replies = value(before, "xianyu_replies_total", account="shop")
    observed = value(before, "xianyu_reply_seconds_count")

    chat = Chat(sim, seller)
    chat.push("价格多少")
    chat.wait_answered()

    after = wait_value(metered, "xianyu_replies_total", replies + 1, account="shop")
    assert (
        value(after, "xianyu_messages_received_total", account="shop")
        == value(before, "xianyu_messages_received_total", account="shop") + 1
    )
    assert value(after, "xianyu_reply_seconds_count") == observed + 1
    assert 0 < value(after, "xianyu_reply_seconds_sum") < scaled(10)
    # the figures are the ones 'ctl status' shows
    status = row(metered.client, "shop")
    assert value(after, "xianyu_replies_total", account="shop") == status["replied"]
    assert value(after, "xianyu_messages_received_total", account="shop") == status["received"]


def test_labels_are_bounded_one_account_label_per_account(
    metered: Service, sim: SimulatorHandle, seller: Seller
):
    for n in range(3):
        sim.admin.push(to=seller.user_id, from_=f"88000{n}", text=f"hi {n}")
    wait_value(metered, "xianyu_replies_total", 3, account="shop")
    samples = scrape(metered)
    names = {name for (_sample, labels) in samples for name, _ in labels}
    assert names <= BOUNDED_LABELS, names - BOUNDED_LABELS
    accounts = {v for (_sample, labels) in samples for name, v in labels if name == "account"}
    assert accounts == {"shop"}


def test_an_update_counts_applied_and_observes_the_swap(
    metered: Service, sim: SimulatorHandle, seller: Seller
):
    result = metered.client.update("shop", second_login(sim, seller))
    assert result["outcome"] == "applied"
    samples = scrape(metered)
    assert value(samples, "xianyu_updates_total", outcome="applied") == 1
    assert value(samples, "xianyu_updates_total", outcome="rolled_back") == 0
    assert value(samples, "xianyu_swap_seconds_count") == 1
    assert value(samples, "xianyu_swap_seconds_sum") == pytest.approx(
        result["swap_ms"] / 1000.0, rel=1e-3
    )
    # the same cookie again: unchanged, no swap
    again = metered.client.update("shop", metered.store.active_cookie("shop").value)
    assert again["outcome"] == "unchanged"
    samples = scrape(metered)
    assert value(samples, "xianyu_updates_total", outcome="unchanged") == 1
    assert value(samples, "xianyu_swap_seconds_count") == 1


def test_a_dead_cookie_update_counts_rolled_back(
    metered: Service, sim: SimulatorHandle, seller: Seller
):
    dead = second_login(sim, seller)
    sim.admin.revoke(cookie=dead)
    assert metered.client.update("shop", dead)["outcome"] == "rolled_back"
    samples = scrape(metered)
    assert value(samples, "xianyu_updates_total", outcome="rolled_back") == 1
    assert value(samples, "xianyu_swap_seconds_count") == 0
    assert value(samples, "xianyu_account_up", account="shop") == 1


def test_reconnects_by_reason_and_restarts_by_cause(
    metered: Service, sim: SimulatorHandle, seller: Seller
):
    sim.admin.fault(seller.user_id, "drop")
    wait_for(lambda: row(metered.client, "shop")["reconnects"] >= 1, timeout=10, what="reconnect")
    wait_state(metered.client, "shop", "online")
    samples = scrape(metered)
    reasons = {
        dict(labels)["reason"]: v
        for (name, labels), v in samples.items()
        if name == "xianyu_reconnects_total"
    }
    assert reasons, "no reconnect series"
    assert sum(reasons.values()) == row(metered.client, "shop")["reconnects"]
    assert set(reasons) <= {"network", "normal_close", "auth", "risk", "token_changed"}

    assert metered.client.restart("shop")["outcome"] == "restarted"
    metered.client.kill("shop")
    samples = wait_value(metered, "xianyu_restarts_total", 2, account="shop", cause="operator")
    assert value(samples, "xianyu_restarts_total", account="shop", cause="crash") == 0

    # a generation stuck in a handler is cut off at the stop deadline: a timeout, not an operator
    wait_state(metered.client, "shop", "online")
    metered.client.freeze("shop", 3 * FAULT_TIMINGS.stop_timeout_s)
    assert metered.client.restart("shop")["outcome"] == "killed_and_restarted"
    samples = scrape(metered)
    assert value(samples, "xianyu_restarts_total", account="shop", cause="timeout") == 1
    assert value(samples, "xianyu_restarts_total", account="shop", cause="operator") == 2
    # the frozen generation wakes up behind its fence and goes (before the service stops)
    wait_for(
        lambda: len(pykka.ActorRegistry.get_by_class(AccountActor)) == 1,
        timeout=5,
        what="the fenced generation gone",
    )


def test_readyz_lists_an_account_only_while_it_does_not_wait_for_a_person(
    metered: Service, sim: SimulatorHandle
):
    assert metered.metrics_url is not None
    ready = get(metered.metrics_url + "/readyz")
    assert ready.status == 200, ready.body
    other = new_seller(sim, nick="other")
    add_echo_account(metered.client, "other", other)
    # risk control while it reconnects: backing off, not serving, no person asked for yet
    sim.admin.fault(other.user_id, "captcha", seconds=2 * SECOND)
    sim.admin.fault(other.user_id, "close")
    wait_for(
        lambda: get(metered.metrics_url + "/readyz").status == 503,  # type: ignore[operator]
        timeout=10,
        what="readyz 503 while 'other' backs off",
    )
    listed = get(metered.metrics_url + "/readyz")
    lines = listed.body.splitlines()
    assert lines[0] == "not ready: 1 of 2 enabled accounts not serving"
    assert lines[1].startswith("other ")
    assert "shop" not in listed.body

    # its login revoked: needs_cookie waits for a person, so the service is ready again
    sim.admin.revoke(user_id=other.user_id)
    wait_state(metered.client, "other", "needs_cookie", timeout=15)
    again = get(metered.metrics_url + "/readyz")
    assert again.status == 200, again.body
    samples = scrape(metered)
    assert value(samples, "xianyu_accounts", state="needs_cookie") == 1
    assert value(samples, "xianyu_account_up", account="other") == 0
    assert value(samples, "xianyu_account_up", account="shop") == 1
    # what the token API answered 'other', by result
    for result in ("success", "risk_control", "session_expired"):
        assert value(samples, "xianyu_token_calls_total", account="other", result=result) >= 1

    # a disabled account is no one's concern
    metered.client.disable("other")
    assert get(metered.metrics_url + "/readyz").status == 200


def test_healthz_answers_while_the_supervisor_does(metered: Service):
    assert metered.metrics_url is not None
    health = get(metered.metrics_url + "/healthz")
    assert (health.status, health.body) == (200, "ok\n")
    assert get(metered.metrics_url + "/nope").status == 404
    metered.client.actor_ref.stop(block=True)
    gone = get(metered.metrics_url + "/healthz")
    assert gone.status == 503
    assert "supervisor did not answer" in gone.body
    assert get(metered.metrics_url + "/readyz").status == 503
    assert value(scrape(metered), "xianyu_supervisor_up") == 0


def test_metrics_are_off_by_default(start_service: Callable[..., Service]):
    service = start_service()
    assert service.metrics_url is None
    assert metrics_sink._slot.sink is metrics_sink._OFF
