"""The project's protocol layer (goofish/) against the simulator over real sockets."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

from goofish import frames
from goofish.cookies import Cookie
from goofish.decode import decode_push
from goofish.history import decode_history, parse_conversations
from goofish.ids import new_did
from goofish.messages import ChatMessage, ReadReceipt
from goofish.token import TokenClient
from simulator.server import SimulatorHandle
from tests.plugins.simulator import RawClient, new_seller


async def _fetch(sim: SimulatorHandle, cookie: Cookie, did: str):
    client = TokenClient(sim.api_url, timeout_s=5, retry_delay_s=0)
    try:
        return await client.fetch(cookie, did)
    finally:
        await client.close()


def test_token_client_classifies_every_simulated_answer(sim: SimulatorHandle) -> None:
    seller = new_seller(sim)
    cookie = Cookie.parse(seller.cookie)
    did = new_did(seller.user_id)

    async def scenario() -> None:
        assert (await _fetch(sim, cookie, did)).result.kind == "success"
        await asyncio.to_thread(sim.admin.fault, seller.user_id, "token_expired")
        rotated = await _fetch(sim, cookie, did)  # one retry with the merged cookie
        assert rotated.result.kind == "success"
        assert rotated.cookie.mtop_token != cookie.mtop_token
        await asyncio.to_thread(sim.admin.fault, seller.user_id, "captcha", 30)
        risk = await _fetch(sim, rotated.cookie, did)
        assert risk.result.kind == "risk_control" and "punish" in risk.result.punish_url
        await asyncio.to_thread(sim.admin.revoke, seller.user_id)
        other = Cookie.parse((await asyncio.to_thread(new_seller, sim)).cookie)
        await asyncio.to_thread(sim.admin.revoke, None, other.serialize())
        dead = await _fetch(sim, other, new_did(other.unb))
        assert dead.result.kind == "session_expired"

    asyncio.run(scenario())


def test_goofish_frames_and_decoders_work_against_the_simulator(
    start_sim: Callable[..., SimulatorHandle],
) -> None:
    sim = start_sim(read_receipts=1.0)
    seller = new_seller(sim)
    cookie = Cookie.parse(seller.cookie)
    did = new_did(seller.user_id)

    async def scenario() -> None:
        outcome = await _fetch(sim, cookie, did)
        client = await RawClient.open(sim.ws_url, outcome.cookie.serialize())

        async def ask(frame: dict) -> dict:
            headers = {k: v for k, v in frame["headers"].items() if k != "mid"}  # RawClient's mid
            return await client.request(frame["lwp"], frame.get("body"), headers=headers)

        assert (await ask(frames.reg(outcome.result.token, did)))["code"] == 200
        await client.next_push("/s/vulcan")
        assert (await ask(frames.ack_diff(now_ms=1)))["code"] == 200
        assert (await ask(frames.heartbeat()))["code"] == 200

        pushed = await asyncio.to_thread(sim.admin.push, seller.user_id, "1001", "在吗", "7")
        [message] = decode_push(await client.next_push(), self_id=seller.user_id)
        assert isinstance(message, ChatMessage)
        assert (message.message_id, message.chat_id, message.item_id, message.is_own) == (
            pushed["message_id"],
            pushed["chat_id"],
            "7",
            False,
        )
        sent = await ask(frames.send_text(message.chat_id, "1001", seller.user_id, "在"))
        [echo] = decode_push(await client.next_push(), self_id=seller.user_id)
        assert echo.message_id == sent["body"]["messageId"] and echo.is_own
        await asyncio.to_thread(sim.admin.push, seller.user_id, "1001", "好", "7")
        receipt, _ = decode_push(await client.next_push(), self_id=seller.user_id)
        assert isinstance(receipt, ReadReceipt) and receipt.message_id == echo.message_id

        convs = await ask(frames.list_newest(9007199254740991, 10))
        [ref] = parse_conversations(convs["body"])
        assert ref.chat_id == message.chat_id
        history = await ask(frames.list_user_messages(ref.chat_id, 9007199254740991, 10))
        texts = [m.text for m in decode_history(history["body"], self_id=seller.user_id)]
        assert texts == ["好", "在", "在吗"]
        created = await ask(frames.create_chat("1001", seller.user_id, "7"))
        assert created["body"]["singleChatConversation"]["cid"] == f"{message.chat_id}@goofish"
        await client.ws.send(json.dumps(frames.ack({"headers": {"mid": "x 0", "sid": "s"}})))
        await client.close()

    asyncio.run(scenario())
