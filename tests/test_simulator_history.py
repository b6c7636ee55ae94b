"""History requests: conversations and messages page newest first, own replies included."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable

from simulator.server import SimulatorHandle
from tests.plugins.simulator import new_seller, online

FIRST = 9007199254740991


def test_conversations_page_newest_first_without_gaps(sim: SimulatorHandle) -> None:
    seller = new_seller(sim)
    chats = [
        sim.admin.push(seller.user_id, f"90{i}", f"m{i}", f"70{i}")["chat_id"] for i in range(5)
    ]

    async def scenario() -> list[str]:
        client = await online(sim, seller)
        seen: list[str] = []
        cursor, has_more = FIRST, 1
        while has_more:
            page = await client.request("/r/Conversation/listNewestPagination", [cursor, 2])
            body = page["body"]
            for conv in body["userConvs"]:
                inner = conv["singleChatUserConversation"]
                assert conv["type"] == 1 and inner["modifyTime"] < cursor
                assert inner["singleChatConversation"]["bizType"] == "1"
                seen.append(inner["singleChatConversation"]["cid"].removesuffix("@goofish"))
            cursor, has_more = body["nextCursor"], body["hasMore"]
        await client.close()
        return seen

    assert asyncio.run(scenario()) == list(reversed(chats))


def test_messages_page_includes_own_replies(sim: SimulatorHandle) -> None:
    seller = new_seller(sim, nick="店主")

    async def scenario() -> None:
        client = await online(sim, seller)
        first = await asyncio.to_thread(sim.admin.push, seller.user_id, "1001", "q1", "42")
        cid = first["chat_id"]
        await client.next_push()
        reply = await client.send_text(cid, "1001", seller.user_id, "a1")
        await client.next_push()
        last = await asyncio.to_thread(sim.admin.push, seller.user_id, "1001", "q2", "42")
        assert last["chat_id"] == cid  # stable chat for (buyer, seller, item)

        texts, senders, cursor, has_more = [], [], FIRST, 1
        while has_more:
            page = await client.request(
                "/r/MessageManager/listUserMessages", [f"{cid}@goofish", False, cursor, 2, False]
            )
            for model in page["body"]["userMessageModels"]:
                message = model["message"]
                assert message["cid"] == f"{cid}@goofish" and message["createAt"] < cursor
                content = json.loads(base64.b64decode(message["content"]["custom"]["data"]))
                texts.append(content["text"]["text"])
                senders.append(message["extension"]["senderUserId"])
                assert "itemId=42" in message["extension"]["reminderUrl"]
            cursor, has_more = page["body"]["nextCursor"], page["body"]["hasMore"]
        assert texts == ["q2", "a1", "q1"]
        assert senders == ["1001", seller.user_id, "1001"]
        assert reply["body"]["messageId"].endswith(".PNM")
        await client.close()

    asyncio.run(scenario())


def test_create_is_idempotent_per_pair_and_item(sim: SimulatorHandle) -> None:
    seller = new_seller(sim)

    async def scenario() -> None:
        client = await online(sim, seller)

        async def create(item: str) -> str:
            body = [
                {"pairFirst": "1001@goofish", "pairSecond": f"{seller.user_id}@goofish",
                 "bizType": "1", "extension": {"itemId": item},
                 "ctx": {"appVersion": "1.0", "platform": "web"}}
            ]  # fmt: skip
            answer = await client.request("/r/SingleChatConversation/create", body)
            return answer["body"]["singleChatConversation"]["cid"]

        first, again, other = await create("1"), await create("1"), await create("2")
        assert first == again != other and first.endswith("@goofish")
        pushed = await asyncio.to_thread(sim.admin.push, seller.user_id, "1001", "hi", "1")
        assert f"{pushed['chat_id']}@goofish" == first
        await client.close()

    asyncio.run(scenario())


def test_requests_before_reg_are_refused_but_heartbeats_answered(sim: SimulatorHandle) -> None:
    from tests.plugins.simulator import RawClient

    async def scenario() -> None:
        client = await RawClient.open(sim.ws_url)
        assert (await client.request("/!"))["code"] == 200
        answer = await client.request("/r/Conversation/listNewestPagination", [FIRST, 5])
        assert answer["code"] == 401
        await client.close()

    asyncio.run(scenario())


def test_malformed_request_body_answers_400(sim: SimulatorHandle) -> None:
    seller = new_seller(sim)

    async def scenario() -> None:
        client = await online(sim, seller)
        answer = await client.request("/r/Conversation/listNewestPagination", ["x"])
        assert answer["code"] == 400 and answer["body"]["reason"]
        answer = await client.request("/r/MessageSend/sendByReceiverScope", [{"cid": "1@goofish"}])
        assert answer["code"] == 400
        await client.close()

    asyncio.run(scenario())


def test_flow_control_knob_refuses_the_first_history_requests(
    start_sim: Callable[..., SimulatorHandle],
) -> None:
    sim = start_sim(flow_control_first_n=1)
    seller = new_seller(sim)

    async def scenario() -> None:
        client = await online(sim, seller)
        first = await client.request("/r/Conversation/listNewestPagination", [FIRST, 5])
        assert first["code"] == 200 and first["body"]["code"] == "400600001"
        second = await client.request("/r/Conversation/listNewestPagination", [FIRST, 5])
        assert second["body"]["userConvs"] == []
        await client.close()

    asyncio.run(scenario())
