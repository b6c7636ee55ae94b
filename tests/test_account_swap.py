"""Swapping the cookie of a live account, fencing, freezing and crashing."""

from __future__ import annotations

import threading
import time

import pytest

from actors.messages import ChildCrashed, ChildState, ChildStopped, Freeze, SwapCookie, SwapFinished
from actors.testing import FreezableAccountActor, with_timings
from bench.harness.naive_account import NaiveAccountActor
from storage import DefaultReply
from tests.plugins.accounts import BUYER, sent_texts
from tests.plugins.simulator import new_seller, sim_either_arbitration
from tests.plugins.timing import wait_for

# under sessions_per_seller 1 and 2
sim = sim_either_arbitration


@pytest.fixture
def default_reply(sqlite_store, seller) -> None:
    sqlite_store.add_account("shop-1", seller.cookie, seller.user_id)
    sqlite_store.set_rules("shop-1", [], DefaultReply("auto: {text}", once_per_chat=False))


class Pusher:
    """Pushes numbered buyer messages from a thread until stopped: traffic during a swap."""

    def __init__(self, sim, seller_id: str) -> None:
        self._sim = sim
        self._seller_id = seller_id
        self._stop = threading.Event()
        self.texts: list[str] = []
        self._thread = threading.Thread(target=self._run, name="pusher")

    def _run(self) -> None:
        while not self._stop.is_set():
            text = f"m{len(self.texts)}"
            self._sim.admin.push(to=self._seller_id, from_=BUYER, text=text)
            self.texts.append(text)
            self._stop.wait(0.02)  # a steady trickle, not a flood

    def __enter__(self) -> Pusher:
        self._thread.start()
        wait_for(lambda: len(self.texts) >= 2, what="the first pushes")
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def assert_each_answered_once(sim, seller, texts: list[str]) -> None:
    expected = sorted(f"auto: {t}" for t in texts)
    wait_for(lambda: len(sent_texts(sim, seller)) >= len(texts), what="every reply", timeout=10)
    assert sorted(sent_texts(sim, seller)) == expected


def test_swap_registers_the_new_cookie_before_releasing_the_old(
    sim, seller, default_reply, sqlite_store, start_account
) -> None:
    account = start_account(seller)
    account.wait_online()
    new_login = new_seller(sim, user_id=seller.user_id)
    old_fingerprint = account.status.cookie_fingerprint
    with Pusher(sim, seller.user_id) as pusher:
        account.tell(SwapCookie(op_id=7, cookie=new_login.cookie))
        finished = account.wait_notification(SwapFinished)
        wait_for(lambda: len(pusher.texts) >= 10, what="traffic after the swap")
    assert finished.ok, finished.reason
    assert finished.op_id == 7
    assert finished.swap_ms is not None and 0 < finished.swap_ms < 3000
    status = account.wait_online()
    assert status.cookie_fingerprint != old_fingerprint
    assert not status.swapping
    assert_each_answered_once(sim, seller, pusher.texts)


def test_failed_swap_keeps_the_old_session_serving(
    sim, seller, default_reply, start_account
) -> None:
    account = start_account(seller)
    account.wait_online()
    dead_login = new_seller(sim, user_id=seller.user_id)
    sim.admin.revoke(cookie=dead_login.cookie)
    with Pusher(sim, seller.user_id) as pusher:
        account.tell(SwapCookie(op_id=8, cookie=dead_login.cookie))
        finished = account.wait_notification(SwapFinished)
        wait_for(lambda: len(pusher.texts) >= 10, what="traffic after the failed swap")
    assert not finished.ok
    assert "session_expired" in (finished.reason or "")
    status = account.wait_online()
    assert status.reconnects == 0  # the old session never went away
    assert_each_answered_once(sim, seller, pusher.texts)


def test_swap_with_an_unparseable_cookie_fails_at_once(
    seller, default_reply, start_account
) -> None:
    account = start_account(seller)
    account.wait_online()
    account.tell(SwapCookie(op_id=9, cookie="no unb here=1"))
    finished = account.wait_notification(SwapFinished)
    assert not finished.ok
    assert "unb" in (finished.reason or "")


def test_naive_swap_recreates_the_original_restart(
    sim, seller, default_reply, start_account
) -> None:
    # the bench's strategy (bench/harness/naive_account.py), given as the actor class
    account = start_account(seller, actor_class=NaiveAccountActor)
    account.wait_online()
    new_login = new_seller(sim, user_id=seller.user_id)
    account.tell(SwapCookie(op_id=10, cookie=new_login.cookie))
    finished = account.wait_notification(SwapFinished)
    assert finished.ok, finished.reason
    # 0.5 s pause before reconnecting and 1 s between /reg and ackDiff, as the original did
    assert finished.swap_ms is not None and finished.swap_ms >= 1500
    sim.admin.push(to=seller.user_id, from_=BUYER, text="after naive swap")
    account.wait_status(lambda s: s.replied == 1)


def test_freeze_blocks_the_handler(sim, seller, default_reply, start_account) -> None:
    account = start_account(seller, actor_class=FreezableAccountActor)
    account.wait_online()
    started = time.monotonic()
    account.tell(Freeze(0.4))
    sim.admin.push(to=seller.user_id, from_=BUYER, text="wait for it")
    account.wait_status(lambda s: s.replied == 1)
    assert time.monotonic() - started >= 0.4


def test_tripped_fence_cuts_the_connection_and_silences_the_generation(
    sim, seller, default_reply, sqlite_store, start_account
) -> None:
    account = start_account(seller)
    account.wait_online()
    account.fence.trip()
    wait_for(lambda: sim.admin.user_state(seller.user_id)["connections"] == 0, what="cut")
    calls = sim.admin.user_state(seller.user_id)["token_calls"]
    pushed = sim.admin.push(to=seller.user_id, from_=BUYER, text="nobody home")
    account.stop_actor()
    assert account.wait_notification(ChildStopped)
    # no reconnect, no token call, no reply, no write
    assert sim.admin.user_state(seller.user_id)["token_calls"] == calls
    assert sent_texts(sim, seller) == []
    assert not sqlite_store.is_processed("shop-1", pushed["message_id"])


def test_stop_closes_the_session_and_reports(sim, seller, default_reply, start_account) -> None:
    account = start_account(seller)
    account.wait_online()
    account.stop_actor()
    assert account.status.state is ChildState.STOPPED
    assert account.wait_notification(ChildStopped).generation == 1
    wait_for(lambda: sim.admin.user_state(seller.user_id)["connections"] == 0, what="closed")


def test_crash_in_on_start_is_reported(seller, default_reply, sqlite_store, start_account) -> None:
    account = start_account(seller, start=False)
    account.cookie = "not a cookie"
    account.start()
    crashed = account.wait_notification(ChildCrashed)
    assert "unb" in crashed.error


def test_swap_not_registered_within_probation_fails_and_the_old_session_serves(
    sim, seller, default_reply, start_account
) -> None:
    account = start_account(seller, timings=with_timings(probation_s=0.3))
    account.wait_online()
    new_login = new_seller(sim, user_id=seller.user_id)
    # the new connection's handshake hangs far past the probation
    sim.admin.fault(seller.user_id, "slow_handshake", seconds=1)
    account.tell(SwapCookie(op_id=11, cookie=new_login.cookie))
    finished = account.wait_notification(SwapFinished)
    assert not finished.ok
    assert "within" in (finished.reason or "")
    assert account.status.state is ChildState.ONLINE
    sim.admin.push(to=seller.user_id, from_=BUYER, text="old one answers")
    account.wait_status(lambda s: s.replied == 1)
    assert account.status.reconnects == 0
