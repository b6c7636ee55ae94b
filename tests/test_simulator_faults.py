"""Each fault kind's observable effect on a raw client, and one session per seller."""

from __future__ import annotations

import asyncio
import time

import pytest
from websockets.exceptions import ConnectionClosedError

from simulator.server import SimulatorHandle
from tests.plugins.simulator import (
    RawClient,
    decode_item,
    fetch_token_retrying,
    make_did,
    new_seller,
    online,
)

SHORT_S = 0.3  # how long "nothing arrives" is watched for


async def _admin(fn, *args, **kwargs):
    return await asyncio.to_thread(fn, *args, **kwargs)


def test_new_reg_closes_the_previous_connection_with_1000(sim: SimulatorHandle) -> None:
    seller = new_seller(sim)

    async def scenario() -> None:
        first = await online(sim, seller)
        second = await online(sim, seller)
        assert await asyncio.wait_for(first.closed, 5) is None
        assert first.ws.close_code == 1000
        state = await _admin(sim.admin.user_state, seller.user_id)
        assert state["registered"] == 1
        await _admin(sim.admin.push, seller.user_id, "1001", "hi")
        assert decode_item((await second.next_push())["body"]["syncPushPackage"]["data"][0])
        await second.close()

    asyncio.run(scenario())


def test_close_fault_closes_normally(sim: SimulatorHandle) -> None:
    seller = new_seller(sim)

    async def scenario() -> None:
        client = await online(sim, seller)
        answer = await _admin(sim.admin.fault, seller.user_id, "close")
        assert answer["connections"] == 1
        assert await asyncio.wait_for(client.closed, 5) is None
        assert client.ws.close_code == 1000

    asyncio.run(scenario())


def test_drop_fault_cuts_tcp_without_close_frame(sim: SimulatorHandle) -> None:
    seller = new_seller(sim)

    async def scenario() -> None:
        client = await online(sim, seller)
        await _admin(sim.admin.fault, seller.user_id, "drop")
        ended = await asyncio.wait_for(client.closed, 5)
        assert isinstance(ended, ConnectionClosedError)
        assert ended.rcvd is None  # no close frame came

    asyncio.run(scenario())


def test_zombie_answers_heartbeats_but_withholds_pushes_until_reconnect(
    sim: SimulatorHandle,
) -> None:
    seller = new_seller(sim)

    async def scenario() -> None:
        client = await online(sim, seller)
        await _admin(sim.admin.fault, seller.user_id, "zombie")
        assert (await client.request("/!"))["code"] == 200
        pushed = await _admin(sim.admin.push, seller.user_id, "1001", "lost?", "9")
        with pytest.raises(TimeoutError):
            await client.next_push(timeout=SHORT_S)
        create = [
            {"pairFirst": "1001@goofish", "pairSecond": f"{seller.user_id}@goofish",
             "bizType": "1", "extension": {"itemId": "9"}}
        ]  # fmt: skip
        assert (await client.request("/r/SingleChatConversation/create", create))["code"] == 400
        state = await _admin(sim.admin.user_state, seller.user_id)
        assert state["withheld"] == 1 and state["pushed"] == 0
        await client.close()

        fresh = await online(sim, seller)
        history = await fresh.request(
            "/r/MessageManager/listUserMessages",
            [f"{pushed['chat_id']}@goofish", False, 9007199254740991, 10, False],
        )
        ids = [m["message"]["messageId"] for m in history["body"]["userMessageModels"]]
        assert ids == [pushed["message_id"]]
        await _admin(sim.admin.push, seller.user_id, "1001", "now?", "9")
        assert (await fresh.next_push())["lwp"] == "/s/sync"
        await fresh.close()

    asyncio.run(scenario())


def test_garbage_fault_sends_one_malformed_push(sim: SimulatorHandle) -> None:
    seller = new_seller(sim)

    async def scenario() -> None:
        client = await online(sim, seller)
        await _admin(sim.admin.fault, seller.user_id, "garbage")
        items = (await client.next_push())["body"]["syncPushPackage"]["data"]
        assert len(items) == 1
        with pytest.raises(Exception):  # noqa: B017 (any decoder must fail on it)
            decode_item(items[0])
        await _admin(sim.admin.push, seller.user_id, "1001", "fine again")
        good = (await client.next_push())["body"]["syncPushPackage"]["data"]
        assert decode_item(good[0])[1][10]["reminderContent"] == "fine again"
        await client.close()

    asyncio.run(scenario())


def test_garbage_fault_without_connection_waits_for_next_registration(
    sim: SimulatorHandle,
) -> None:
    seller = new_seller(sim)
    assert sim.admin.fault(seller.user_id, "garbage")["connections"] == 0

    async def scenario() -> None:
        client = await online(sim, seller)
        items = (await client.next_push())["body"]["syncPushPackage"]["data"]
        with pytest.raises(Exception):  # noqa: B017
            decode_item(items[0])
        await client.close()

    asyncio.run(scenario())


def test_blackhole_stops_answering_but_keeps_tcp_open(sim: SimulatorHandle) -> None:
    seller = new_seller(sim)

    async def scenario() -> None:
        client = await online(sim, seller)
        await _admin(sim.admin.fault, seller.user_id, "blackhole")
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(asyncio.shield(client.request("/!")), SHORT_S)
        pong = await client.ws.ping()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(pong, SHORT_S)
        assert not client.closed.done()
        await _admin(sim.admin.push, seller.user_id, "1001", "into the void")
        assert (await _admin(sim.admin.user_state, seller.user_id))["withheld"] == 1
        client.ws.transport.abort()

        fresh = await online(sim, seller)  # a new connection is served normally
        assert (await fresh.request("/!"))["code"] == 200
        await fresh.close()

    asyncio.run(scenario())


def test_slow_handshake_delays_upgrade_and_reg_reply(sim: SimulatorHandle) -> None:
    seller = new_seller(sim)
    did = make_did(seller.user_id)
    token, cookie = fetch_token_retrying(sim.api_url, seller.cookie, did)
    sim.admin.fault(seller.user_id, "slow_handshake", seconds=0.2)

    async def scenario() -> None:
        started = time.monotonic()
        client = await RawClient.open(sim.ws_url, cookie)
        upgraded = time.monotonic()
        assert (await client.register(token, did))["code"] == 200
        registered = time.monotonic()
        assert upgraded - started >= 0.2
        assert registered - upgraded >= 0.2
        await client.close()

        # one-shot: the next connection is quick again
        started = time.monotonic()
        quick = await RawClient.open(sim.ws_url, cookie)
        assert time.monotonic() - started < 0.2
        await quick.close()

    asyncio.run(scenario())


def test_revoke_closes_connections_registered_with_that_session(sim: SimulatorHandle) -> None:
    seller = new_seller(sim)

    async def scenario() -> None:
        client = await online(sim, seller)
        assert await _admin(sim.admin.revoke, seller.user_id) == 1
        assert await asyncio.wait_for(client.closed, 5) is None
        assert client.ws.close_code == 1000

    asyncio.run(scenario())
