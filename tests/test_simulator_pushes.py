"""Push shapes: multi-item frames, typing, trade cards, manual messages, send knobs."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

from simulator.server import SimulatorHandle
from tests.plugins.simulator import decode_item, new_seller, online


def _items(frame: dict) -> list[dict]:
    return frame["body"]["syncPushPackage"]["data"]


def test_buyer_message_after_a_reply_carries_a_read_receipt_first(
    start_sim: Callable[..., SimulatorHandle],
) -> None:
    sim = start_sim(read_receipts=1.0)
    seller = new_seller(sim)

    async def scenario() -> None:
        client = await online(sim, seller)
        first = await asyncio.to_thread(sim.admin.push, seller.user_id, "1001", "q", "1")
        await client.next_push()
        reply = await client.send_text(first["chat_id"], "1001", seller.user_id, "a")
        await client.next_push()  # the echo
        await asyncio.to_thread(sim.admin.push, seller.user_id, "1001", "thanks", "1")
        frame = await client.next_push()
        items = _items(frame)
        assert [i["objectType"] for i in items] == [40103, 40000]
        receipt = decode_item(items[0])
        assert receipt[1] == reply["body"]["messageId"]
        assert receipt[4] == f"{first['chat_id']}@goofish"
        assert decode_item(items[1])[1][10]["reminderContent"] == "thanks"
        package = frame["body"]["syncPushPackage"]
        assert package["endSeq"] - package["startSeq"] == 1
        assert package["maxPts"] == package["timestamp"] * 1000
        await client.close()

    asyncio.run(scenario())


def test_read_receipts_knob_is_a_probability(start_sim: Callable[..., SimulatorHandle]) -> None:
    sim = start_sim()  # the default: half of the buyer messages after a reply carry one
    seller = new_seller(sim)

    async def scenario() -> list[int]:
        client = await online(sim, seller)
        shapes = []
        for n in range(24):  # both shapes by chance: 1 - 2 * 0.5**24
            buyer = str(2000 + n)
            first = await asyncio.to_thread(sim.admin.push, seller.user_id, buyer, "q", "1")
            await client.next_push()
            await client.send_text(first["chat_id"], buyer, seller.user_id, "a")
            await client.next_push()  # the echo
            await asyncio.to_thread(sim.admin.push, seller.user_id, buyer, "thanks", "1")
            shapes.append(len(_items(await client.next_push())))
        await client.close()
        return shapes

    shapes = asyncio.run(scenario())
    assert set(shapes) == {1, 2}, shapes  # the message alone, or receipt + message


def test_typing_knob_sends_para_push_before_the_message(
    start_sim: Callable[..., SimulatorHandle],
) -> None:
    sim = start_sim(typing_before_message=True)
    seller = new_seller(sim)

    async def scenario() -> None:
        client = await online(sim, seller)
        pushed = await asyncio.to_thread(sim.admin.push, seller.user_id, "1001", "hi", "1")
        typing = await client.next_push(lwp=None)
        assert typing["lwp"] == "/s/para"
        item = _items(typing)[0]
        assert item["objectType"] == 40006
        signal = decode_item(item)[1]
        assert signal == [{1: f"{pushed['chat_id']}@goofish", 2: 1, 3: 1, 4: "1001@goofish"}]
        assert (await client.next_push())["lwp"] == "/s/sync"
        await client.close()

    asyncio.run(scenario())


def test_trade_card_push(sim: SimulatorHandle) -> None:
    seller = new_seller(sim)

    async def scenario() -> None:
        client = await online(sim, seller)
        await asyncio.to_thread(
            sim.admin.push,
            seller.user_id,
            "1001",
            "",
            "1",
            kind="trade_card",
            order_id="1234567890123",
        )
        card = decode_item(_items(await client.next_push())[0])
        assert card[1][6][3][4] == 26
        assert card[1][10]["reminderContent"] == "[我已付款，等待你发货]"
        content = json.loads(card[1][6][3][5])
        assert "order_detail?id=1234567890123" in content["dxCard"]["item"]["main"]["targetUrl"]
        await client.close()

    asyncio.run(scenario())


def test_seller_typing_elsewhere_arrives_as_own_message(sim: SimulatorHandle) -> None:
    seller = new_seller(sim)

    async def scenario() -> None:
        client = await online(sim, seller)
        await asyncio.to_thread(sim.admin.push, seller.user_id, "1001", "q", "1")
        await client.next_push()
        manual = await asyncio.to_thread(sim.admin.push, seller.user_id, seller.user_id, "by hand")
        message = decode_item(_items(await client.next_push())[0])
        assert message[1][3] == manual["message_id"]
        assert message[1][10]["senderUserId"] == seller.user_id
        assert message[3] == {"needPush": "false"}
        assert await asyncio.to_thread(sim.admin.sent, seller.user_id) == []  # the bot sent nothing
        await client.close()

    asyncio.run(scenario())


def test_send_response_delay_and_forbidden_words(
    start_sim: Callable[..., SimulatorHandle],
) -> None:
    sim = start_sim(send_response_delay_s=0.05, forbidden_words=("微信",))
    seller = new_seller(sim)

    async def scenario() -> None:
        client = await online(sim, seller)
        pushed = await asyncio.to_thread(sim.admin.push, seller.user_id, "1001", "q", "1")
        await client.next_push()
        answer = await client.send_text(pushed["chat_id"], "1001", seller.user_id, "ok")
        assert answer["body"]["messageId"].endswith(".PNM")
        refused = await client.send_text(pushed["chat_id"], "1001", seller.user_id, "加微信")
        assert refused["body"]["moreInfo"] == "CSI_FORBID||安全拦截"
        sent = await asyncio.to_thread(sim.admin.sent, seller.user_id)
        assert [s["text"] for s in sent] == ["ok"]
        await client.close()

    asyncio.run(scenario())


def test_state_counts_connections_pushes_and_echoes(sim: SimulatorHandle) -> None:
    seller = new_seller(sim)

    async def scenario() -> None:
        client = await online(sim, seller)
        pushed = await asyncio.to_thread(sim.admin.push, seller.user_id, "1001", "q", "1")
        await client.next_push()
        await client.send_text(pushed["chat_id"], "1001", seller.user_id, "a")
        await client.next_push()
        state = await asyncio.to_thread(sim.admin.user_state, seller.user_id)
        assert state["connections"] == 1 and state["registered"] == 1
        assert state["pushed"] == 1 and state["echoed"] == 1 and state["tokens_issued"] == 1
        assert state["acks"] >= 3  # vulcan, message, echo
        await client.close()

    asyncio.run(scenario())
