"""Fixtures of the account-actor suites (``tests/test_account_*``): one real actor per test.

- ``start_account(seller, **options)``: an ``AccountHarness`` (own IoLoop, TokenClient, Fence)
  against ``sim`` on ``sqlite_store``, started unless ``start=False``; stopped after the test.
  Its timings are ``TEST_TIMINGS`` (``TINY_TIMINGS`` stretched by the time scale) unless the
  test passes ``timings=``.
- ``sent_texts(sim, seller)``: what the seller has sent, oldest first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from actors.testing import TINY_TIMINGS, AccountHarness
from simulator.server import SimulatorHandle
from storage import Store
from tests.plugins.simulator import Seller
from tests.plugins.timing import scaled_timings

BUYER = "880001"
TEST_TIMINGS = scaled_timings(TINY_TIMINGS)


def sent_texts(sim: SimulatorHandle, seller: Seller) -> list[str]:
    return [m["text"] for m in sim.admin.sent(seller.user_id)]


@pytest.fixture
def start_account(
    sim: SimulatorHandle, sqlite_store: Store
) -> Iterator[Callable[..., AccountHarness]]:
    harnesses: list[AccountHarness] = []

    def start(
        seller: Seller, *, account_id: str = "shop-1", start: bool = True, **options: Any
    ) -> AccountHarness:
        options.setdefault("timings", TEST_TIMINGS)
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
        return harness.start() if start else harness

    yield start
    for harness in reversed(harnesses):
        harness.stop()
