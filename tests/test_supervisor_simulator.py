"""The supervisor with real AccountActors against the Goofish simulator, over real sockets."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pykka
import pytest

from actors.account import AccountActor
from actors.testing import FreezableAccountActor
from common.io_loop import IoLoop
from common.settings import Settings, Timings
from goofish.token import TokenClient
from storage import DefaultReply, Store
from supervisor import SupervisorClient, account_actor_factory, start_supervisor
from tests.plugins.faults import BUYER, FAULT_TIMINGS, row, wait_state
from tests.plugins.simulator import Seller, new_seller, second_login
from tests.plugins.timing import wait_for

TIMINGS = FAULT_TIMINGS


class CrashesOnFirstStart(AccountActor):
    """Generation 1 dies in ``on_start`` without a word (pykka reports it nowhere)."""

    def on_start(self) -> None:
        if self._spec.generation == 1:
            raise RuntimeError("crash in on_start")
        super().on_start()


class AlwaysCrashesOnStart(AccountActor):
    def on_start(self) -> None:
        raise RuntimeError("crash in on_start, every time")


@pytest.fixture
def boot(sim, sqlite_store: Store) -> Iterator[Callable[..., SupervisorClient]]:
    io = IoLoop("supervisor-test-io").start()
    token_client = TokenClient(sim.api_url, timeout_s=TIMINGS.token_timeout_s)
    clients: list[SupervisorClient] = []

    def _boot(
        timings: Timings = TIMINGS, actor_class: type[AccountActor] | None = None
    ) -> SupervisorClient:
        settings = Settings(ws_url=sim.ws_url, api_url=sim.api_url, timings=timings)
        factory = account_actor_factory(
            store=sqlite_store,
            io=io,
            token_client=token_client,
            settings=settings,
            actor_class=actor_class,
        )
        client = start_supervisor(sqlite_store, io, token_client, settings, child_factory=factory)
        clients.append(client)
        return client

    yield _boot
    for client in clients:
        client.shutdown(timeout=2.0)
    # a killed generation may still be blocked (Freeze): it must finish on a running loop
    pykka.ActorRegistry.stop_all(block=True, timeout=5)
    io.submit(token_client.close()).result(timeout=5)
    io.stop()


def add_echo_account(store: Store, account_id: str, seller: Seller) -> None:
    """An account that answers every message with ``auto: <text>``."""
    store.add_account(account_id, seller.cookie, seller.user_id)
    store.set_rules(account_id, [], DefaultReply("auto: {text}", once_per_chat=False))


def sent_texts(sim, seller: Seller) -> list[str]:
    return [m["text"] for m in sim.admin.sent(seller.user_id)]


def answered(sim, seller: Seller, texts: list[str]) -> bool:
    sent = sent_texts(sim, seller)
    return all(f"auto: {t}" in sent for t in texts)


def kinds(store: Store, account_id: str) -> list[str]:
    return [e.kind for e in store.events(account_id)]


def test_update_is_applied_with_a_measured_swap_and_keeps_answering(
    sim, seller, sqlite_store, boot
):
    add_echo_account(sqlite_store, "shop", seller)
    client = boot()
    wait_state(client, "shop", "online")
    result = client.update("shop", second_login(sim, seller))
    assert result["outcome"] == "applied"
    assert (result["version"], result["previous_version"]) == (2, 1)
    assert 0 < result["swap_ms"] < TIMINGS.probation_s * 1000
    assert row(client, "shop")["restarts"] == 0  # swapped live, no new generation
    sim.admin.push(to=seller.user_id, from_=BUYER, text="after the swap")
    wait_for(lambda: answered(sim, seller, ["after the swap"]), what="an answer")
    assert "update_applied" in kinds(sqlite_store, "shop")


def test_a_revoked_cookie_is_rolled_back_while_the_old_session_answers_everything(
    sim, seller, sqlite_store, boot
):
    add_echo_account(sqlite_store, "shop", seller)
    client = boot()
    wait_state(client, "shop", "online")
    revoked = second_login(sim, seller)
    sim.admin.revoke(cookie=revoked)

    pushed: list[str] = []
    done = threading.Event()

    def keep_pushing() -> None:
        n = 0
        while not done.is_set() or n < 3:
            text = f"during {n}"
            sim.admin.push(to=seller.user_id, from_=BUYER, text=text)
            pushed.append(text)
            n += 1
            done.wait(0.05)

    pusher = threading.Thread(target=keep_pushing)
    pusher.start()
    try:
        result = client.update("shop", revoked)
    finally:
        done.set()
        pusher.join()
    assert result["outcome"] == "rolled_back"
    assert result["reason"]
    versions = {v["version"]: v for v in client.history("shop")["versions"]}
    assert versions[2]["status"] == "failed" and versions[1]["status"] == "active"
    wait_for(lambda: answered(sim, seller, pushed), what="every message answered")
    sent = sent_texts(sim, seller)
    assert len(sent) == len(pushed)  # none lost, none twice
    assert row(client, "shop")["state"] == "online"
    assert row(client, "shop")["restarts"] == 0  # the old generation served throughout


def test_a_stuck_child_is_killed_within_the_deadline_and_replaced_by_one_that_answers(
    sim, seller, sqlite_store, boot
):
    add_echo_account(sqlite_store, "shop", seller)
    client = boot(actor_class=FreezableAccountActor)
    wait_state(client, "shop", "online")
    client.freeze("shop", 2.0)
    sim.admin.push(to=seller.user_id, from_=BUYER, text="while stuck")
    started = time.monotonic()
    result = client.restart("shop")
    assert time.monotonic() - started < TIMINGS.stop_timeout_s + 1.0
    assert result["outcome"] == "killed_and_restarted"
    wait_state(client, "shop", "online")
    sim.admin.push(to=seller.user_id, from_=BUYER, text="to the new generation")
    texts = ["while stuck", "to the new generation"]
    wait_for(lambda: answered(sim, seller, texts), what="both answered")
    # the fenced generation wakes up, handles what it queued, stops, and never answers
    wait_for(lambda: len(pykka.ActorRegistry.get_by_class(AccountActor)) == 1, what="old gone")
    assert len(sent_texts(sim, seller)) == 2
    assert "killed" in kinds(sqlite_store, "shop")


def test_shutdown_stops_every_child_in_parallel_within_the_deadline(sim, sqlite_store, boot):
    for i in range(5):
        add_echo_account(sqlite_store, f"shop-{i}", new_seller(sim, nick=f"s{i}"))
    client = boot()
    wait_for(lambda: all(a["state"] == "online" for a in client.status()["accounts"]))
    result = client.shutdown(timeout=TIMINGS.stop_timeout_s)
    assert result["outcome"] == "stopped" and result["killed"] == 0
    assert result["stop_ms"] < TIMINGS.stop_timeout_s * 1000
    assert pykka.ActorRegistry.get_all() == []


def test_a_crash_in_on_start_is_restarted_into_a_generation_that_answers(
    sim, seller, sqlite_store, boot
):
    add_echo_account(sqlite_store, "shop", seller)
    client = boot(actor_class=CrashesOnFirstStart)
    wait_state(client, "shop", "online")
    assert row(client, "shop")["restarts"] == 1
    sim.admin.push(to=seller.user_id, from_=BUYER, text="hello")
    wait_for(lambda: answered(sim, seller, ["hello"]), what="an answer")
    assert "crashed" in kinds(sqlite_store, "shop")


def test_restart_intensity_parks_the_account_in_failed_with_an_event(
    sim, seller, sqlite_store, boot
):
    add_echo_account(sqlite_store, "shop", seller)
    client = boot(actor_class=AlwaysCrashesOnStart)
    wait_state(client, "shop", "failed")
    assert kinds(sqlite_store, "shop").count("crashed") == TIMINGS.restart_intensity + 1
    assert kinds(sqlite_store, "shop").count("failed") == 1
    assert "ctl restart" in row(client, "shop")["last_error"]


def test_a_pending_version_left_by_a_kill_is_failed_at_the_next_boot(
    sim, seller, sqlite_store, boot
):
    add_echo_account(sqlite_store, "shop", seller)
    sqlite_store.propose_cookie("shop", second_login(sim, seller), source="admin")
    client = boot()
    wait_state(client, "shop", "online")
    statuses = [(v["version"], v["status"]) for v in client.history("shop")["versions"]]
    assert statuses == [(2, "failed"), (1, "active")]
    assert row(client, "shop")["cookie_version"] == 1


@pytest.mark.slow
def test_fifty_concurrent_updates_on_fifty_accounts(sim, sqlite_store, boot):
    sellers = [new_seller(sim, nick=f"shop{i}") for i in range(50)]
    for i, seller in enumerate(sellers):
        add_echo_account(sqlite_store, f"shop-{i:02d}", seller)
    # fifty accounts on two cores: heartbeats at 1 s, so scheduling noise is not a dead link
    client = boot(replace(TIMINGS, heartbeat_s=1.0, probation_s=10.0))
    wait_for(
        lambda: all(a["state"] == "online" for a in client.status()["accounts"]),
        timeout=30,
        what="fifty accounts online",
    )
    fresh = [second_login(sim, seller) for seller in sellers]
    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(
            pool.map(lambda i: client.update(f"shop-{i:02d}", fresh[i]), range(len(sellers)))
        )
    assert [r["outcome"] for r in results] == ["applied"] * 50
    accounts = client.status()["accounts"]
    assert {a["cookie_version"] for a in accounts} == {2}
    assert all(a["restarts"] == 0 for a in accounts)


def test_an_account_whose_session_died_is_brought_back_by_an_update(
    sim, seller, sqlite_store, boot
):
    add_echo_account(sqlite_store, "shop", seller)
    client = boot()
    wait_state(client, "shop", "online")
    sim.admin.revoke(user_id=seller.user_id)
    wait_state(client, "shop", "needs_cookie")
    assert "needs_cookie" in kinds(sqlite_store, "shop")
    result = client.update("shop", second_login(sim, seller))
    assert result["outcome"] == "applied" and result["version"] == 2
    wait_state(client, "shop", "online")
    sim.admin.push(to=seller.user_id, from_=BUYER, text="back again")
    wait_for(lambda: answered(sim, seller, ["back again"]), what="an answer")
