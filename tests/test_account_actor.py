"""The account actor against the simulator: real sockets, a real SQLite store."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from actors.testing import AccountHarness
from storage import Rule, Store
from tests.conftest import wait_for
from tests.plugins.simulator import Seller, new_seller

BUYER = "880001"


@pytest.fixture
def seller(sim) -> Seller:
    return new_seller(sim, nick="shop")


@pytest.fixture
def start_account(sim, sqlite_store: Store) -> Iterator[Callable[..., AccountHarness]]:
    harnesses: list[AccountHarness] = []

    def start(seller: Seller, *, account_id: str = "shop-1", **options) -> AccountHarness:
        harness = AccountHarness(
            store=sqlite_store,
            ws_url=sim.ws_url,
            api_url=sim.api_url,
            account_id=account_id,
            user_id=seller.user_id,
            cookie=seller.cookie,
            **options,
        )
        harnesses.append(harness)
        return harness.start()

    yield start
    for harness in reversed(harnesses):
        harness.stop()


def sent_texts(sim, seller: Seller) -> list[str]:
    return [m["text"] for m in sim.admin.sent(seller.user_id)]


def test_account_goes_online_and_replies_by_rule(sim, seller, sqlite_store, start_account) -> None:
    account = start_account(seller)
    sqlite_store.set_rules("shop-1", [Rule("price", "It is 10 yuan, {buyer_name}")], None)
    account.wait_online()
    sim.admin.push(to=seller.user_id, from_=BUYER, text="What is the PRICE?")
    wait_for(lambda: sent_texts(sim, seller), what="a reply")
    assert sent_texts(sim, seller)[0].startswith("It is 10 yuan, ")
    status = account.wait_status(lambda s: s.replied == 1)
    assert status.received == 1
