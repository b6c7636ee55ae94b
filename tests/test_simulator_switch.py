"""The simulator's switch-over between two registrations of one seller: the knob
``sessions_per_seller`` and the ``slow_switch`` fault, checked with the raw client."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from simulator.server import SimulatorHandle
from tests.plugins.simulator import (
    WAIT_S,
    RawClient,
    decode_item,
    fetch_token_retrying,
    make_did,
    new_seller,
    online,
)

LIST_NEWEST = "/r/Conversation/listNewestPagination"


async def _admin(fn, *args, **kwargs):
    return await asyncio.to_thread(fn, *args, **kwargs)


def _text(push: dict) -> str:
    item = push["body"]["syncPushPackage"]["data"][-1]
    return decode_item(item)[1][10]["reminderContent"]


def test_two_sessions_per_seller_both_get_every_push(
    start_sim: Callable[..., SimulatorHandle],
) -> None:
    sim = start_sim(sessions_per_seller=2)
    seller = new_seller(sim)

    async def scenario() -> None:
        first = await online(sim, seller)
        second = await online(sim, seller)
        assert (await _admin(sim.admin.user_state, seller.user_id))["registered"] == 2
        await _admin(sim.admin.push, seller.user_id, "1001", "to both")
        assert _text(await first.next_push()) == _text(await second.next_push()) == "to both"
        third = await online(sim, seller)  # beyond the number: the oldest is closed
        assert await asyncio.wait_for(first.closed, WAIT_S) is None
        assert first.ws.close_code == 1000
        assert (await _admin(sim.admin.user_state, seller.user_id))["registered"] == 2
        await second.close()
        await third.close()

    asyncio.run(scenario())


def test_slow_switch_registers_the_new_connection_before_answering_it(
    sim: SimulatorHandle,
) -> None:
    seller = new_seller(sim)

    async def scenario() -> None:
        old = await online(sim, seller)
        await _admin(sim.admin.fault, seller.user_id, "slow_switch", 1.0)
        did = make_did(seller.user_id)
        token, cookie = await asyncio.to_thread(
            fetch_token_retrying, sim.api_url, seller.cookie, did
        )
        new = await RawClient.open(sim.ws_url, cookie)
        registering = asyncio.create_task(new.register(token, did))
        deadline = time.monotonic() + WAIT_S
        while (await old.request(LIST_NEWEST, [0, 1]))["code"] != 401:  # unregistered at once
            assert time.monotonic() < deadline, "the old connection stayed registered"
        assert not old.closed.done()  # ... but still open
        await _admin(sim.admin.push, seller.user_id, "1001", "early")
        assert _text(await new.next_push()) == "early"  # pushed before the /reg answer
        assert not registering.done()
        assert (await registering)["code"] == 200
        assert await asyncio.wait_for(old.closed, WAIT_S) is None
        assert old.ws.close_code == 1000
        await new.close()

    asyncio.run(scenario())
