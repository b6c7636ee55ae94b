"""Notifications end to end: a real service against the simulator, a real local HTTP endpoint
receiving apprise's ``json://`` posts (``tests/plugins/webhook.py``)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from common.settings import Backoff
from service.app import Service
from simulator.server import SimulatorHandle
from tests.plugins.faults import (
    FAULT_TIMINGS,
    Chat,
    add_echo_account,
    cookie_secrets,
    wait_state,
    world_secrets,
)
from tests.plugins.simulator import Seller, new_seller, second_login
from tests.plugins.timing import wait_for
from tests.plugins.webhook import Webhook

TIMINGS = replace(
    FAULT_TIMINGS,
    notify_poll_s=0.05,
    notify_backoff=Backoff(base_s=0.1, cap_s=0.3, jitter=0.0),
    notify_attempts=1000,
    # dead sessions get one renewal try each before needs_cookie: keep the fleet's spacing short
    renew_spacing_s=0.02,
)


def start(start_service: Callable[..., Service], hook: Webhook, **settings: object) -> Service:
    values = {"notify_urls": (hook.url,), "notify_group_s": 0.3, "notify_cooldown_s": 600.0}
    return start_service(timings=TIMINGS, **{**values, **settings})


def quiet_for(service: Service, polls: int = 10) -> None:
    """Let the watcher look ``polls`` more times (what it would have said, it has said)."""
    seen = service.notifier.polls
    wait_for(lambda: service.notifier.polls >= seen + polls, what=f"{polls} more looks")


def titles(hook: Webhook) -> list[str]:
    return [post["title"] for post in hook.received()]


def test_a_dead_session_notifies_once_and_a_fresh_cookie_once_more(
    sim: SimulatorHandle, seller: Seller, start_service: Callable[..., Service], webhook: Webhook
) -> None:
    service = start(start_service, webhook)
    add_echo_account(service.client, "shop-7", seller)
    sim.admin.revoke(user_id=seller.user_id)
    wait_state(service.client, "shop-7", "needs_cookie")
    (notice,) = webhook.wait(1)
    assert notice["title"] == "shop-7 needs a new cookie"
    assert notice["type"] == "failure"
    assert "- shop-7: " in notice["message"] and "ctl update ACCOUNT" in notice["message"]
    quiet_for(service)
    assert len(webhook.received()) == 1

    fresh = second_login(sim, seller)
    assert service.client.update("shop-7", fresh)["outcome"] == "applied"
    webhook.wait(2)
    quiet_for(service)
    assert titles(webhook) == ["shop-7 needs a new cookie", "shop-7 is online again"]
    assert webhook.received()[1]["type"] == "success"
    assert {n.status for n in service.store.notices()} == {"sent"}

    secrets = cookie_secrets(seller.cookie) | cookie_secrets(fresh) | world_secrets(sim)
    for body in webhook.raw:
        assert not [s for s in secrets if s in body], "a cookie value in a notice"


def test_fifty_sessions_dying_at_once_make_one_notice(
    sim: SimulatorHandle, start_service: Callable[..., Service], webhook: Webhook
) -> None:
    service = start(start_service, webhook, notify_group_s=6.0)  # margin for a loaded machine
    sellers = {f"shop-{i:02}": new_seller(sim, nick=f"s{i}") for i in range(50)}
    for account_id, seller in sellers.items():
        service.client.add(account_id, seller.cookie)

    def states() -> set[str]:
        return {row["state"] for row in service.client.status()["accounts"]}

    wait_for(lambda: states() == {"online"}, timeout=60, what="50 accounts online")
    for seller in sellers.values():
        sim.admin.revoke(user_id=seller.user_id)
    wait_for(lambda: states() == {"needs_cookie"}, timeout=60, what="50 accounts need a cookie")
    (notice,) = webhook.wait(1)
    assert notice["title"] == "50 accounts need a new cookie"
    listed = notice["message"].splitlines()[0]
    assert listed == "Accounts: " + ", ".join(sorted(sellers))
    quiet_for(service)
    assert len(webhook.received()) == 1


def test_an_endpoint_that_is_down_is_retried_and_delays_no_reply(
    sim: SimulatorHandle, seller: Seller, start_service: Callable[..., Service], webhook: Webhook
) -> None:
    webhook.stop()  # connections to it are refused from now on
    service = start(start_service, webhook)
    add_echo_account(service.client, "shop", seller)
    doomed = new_seller(sim, nick="doomed")
    add_echo_account(service.client, "doomed", doomed)
    sim.admin.revoke(user_id=doomed.user_id)
    wait_state(service.client, "doomed", "needs_cookie")
    wait_for(
        lambda: any(n.attempts >= 3 and n.status == "pending" for n in service.store.notices()),
        what="the notice retried while the endpoint is down",
    )
    chat = Chat(sim, seller)
    for text in ("still", "serving"):
        chat.push(text)
    chat.wait_answered(timeout=5)
    assert wait_state(service.client, "shop", "online")

    webhook.start()  # back, on the same port
    (notice,) = webhook.wait(1)
    assert notice["title"] == "doomed needs a new cookie"
    (row,) = service.store.notices()
    wait_for(lambda: service.store.notices()[0].status == "sent", what="the row marked sent")
    assert row.attempts >= 3
    chat.assert_each_answered_once()


@pytest.fixture
def black_hole() -> Iterator[tuple[str, threading.Event]]:
    """An endpoint that accepts connections and never answers; the event: one was accepted."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted = threading.Event()
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            held.append(conn)
            accepted.set()

    threading.Thread(target=accept, name="black-hole", daemon=True).start()
    yield f"json://127.0.0.1:{server.getsockname()[1]}/hook", accepted
    server.close()
    for conn in held:
        conn.close()


def test_an_endpoint_that_hangs_holds_up_no_reply(
    sim: SimulatorHandle,
    seller: Seller,
    start_service: Callable[..., Service],
    webhook: Webhook,
    black_hole: tuple[str, threading.Event],
) -> None:
    url, accepted = black_hole
    service = start(start_service, webhook, notify_urls=(url,))
    add_echo_account(service.client, "shop", seller)
    doomed = new_seller(sim, nick="doomed")
    add_echo_account(service.client, "doomed", doomed)
    sim.admin.revoke(user_id=doomed.user_id)
    assert accepted.wait(15), "the notice was never sent"
    # the worker now waits on the endpoint (apprise's read timeout is 4 s); replies do not
    chat = Chat(sim, seller)
    chat.push("are you there")
    chat.wait_answered(timeout=3)
    assert service.client.status("shop")["accounts"][0]["state"] == "online"


def test_the_cooldown_holds_across_a_restart_of_the_service(
    sim: SimulatorHandle,
    seller: Seller,
    start_service: Callable[..., Service],
    webhook: Webhook,
    short_dir: Path,
) -> None:
    data_dir = short_dir / "kept"
    first = start(start_service, webhook, data_dir=data_dir)
    add_echo_account(first.client, "shop", seller)
    sim.admin.revoke(user_id=seller.user_id)
    webhook.wait(1)
    first.stop()

    second = start(start_service, webhook, data_dir=data_dir)
    wait_state(second.client, "shop", "needs_cookie")
    quiet_for(second)
    assert titles(webhook) == ["shop needs a new cookie"]
    fresh = second_login(sim, seller)
    assert second.client.update("shop", fresh)["outcome"] == "applied"
    webhook.wait(2)  # the episode announced before the restart ends with a notice, too
    assert titles(webhook)[1] == "shop is online again"


def test_a_rolled_back_update_notifies_and_a_working_one_ends_it(
    sim: SimulatorHandle, seller: Seller, start_service: Callable[..., Service], webhook: Webhook
) -> None:
    service = start(start_service, webhook)
    add_echo_account(service.client, "shop", seller)
    dead = second_login(sim, seller)
    sim.admin.revoke(cookie=dead)
    assert service.client.update("shop", dead)["outcome"] == "rolled_back"
    (notice,) = webhook.wait(1)
    assert notice["title"] == "shop: a new cookie was rolled back"
    assert "keeps serving on its previous cookie" in notice["message"]
    assert service.client.update("shop", second_login(sim, seller))["outcome"] == "applied"
    webhook.wait(2)
    assert titles(webhook)[1] == "shop has a working new cookie"


def test_risk_control_notifies_and_so_does_the_way_out(
    sim: SimulatorHandle, seller: Seller, start_service: Callable[..., Service], webhook: Webhook
) -> None:
    service = start(start_service, webhook)
    sim.admin.fault(seller.user_id, "captcha", seconds=1.0)
    add_echo_account(service.client, "shop", seller, online=False)
    (notice,) = webhook.wait(1)
    assert notice["title"] == "shop is held by risk control"
    assert "punish URL" in notice["message"]
    wait_state(service.client, "shop", "online")
    webhook.wait(2)
    assert titles(webhook)[1] == "shop is online again"


def test_with_no_url_nothing_is_watched_and_an_added_url_hears_what_is_wrong(
    sim: SimulatorHandle, seller: Seller, start_service: Callable[..., Service], webhook: Webhook
) -> None:
    service = start(start_service, webhook, notify_urls=())
    add_echo_account(service.client, "shop", seller)
    sim.admin.revoke(user_id=seller.user_id)
    wait_state(service.client, "shop", "needs_cookie")
    quiet_for(service)
    assert service.store.notify_conditions() == []
    service.client.set_account("shop", notify=[webhook.url])
    (notice,) = webhook.wait(1)
    assert notice["title"] == "shop needs a new cookie"
