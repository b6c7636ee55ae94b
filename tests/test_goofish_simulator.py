"""The protocol layer against the simulator over real sockets: tokens, pushes, sends, history."""

from __future__ import annotations

import asyncio

from goofish import (
    FIRST_PAGE_CURSOR,
    ChatMessage,
    Cookie,
    ReadReceipt,
    TokenClient,
    TokenOutcome,
    TradeCard,
    decode_history,
    decode_push,
    frames,
    new_did,
    page_cursor,
    parse_conversations,
)
from simulator.server import SimulatorHandle
from tests.plugins.simulator import new_seller, online


def fetch(sim: SimulatorHandle, cookie: Cookie) -> TokenOutcome:
    async def main() -> TokenOutcome:
        client = TokenClient(sim.api_url, timeout_s=5, retry_delay_s=0)
        try:
            return await client.fetch(cookie, new_did(cookie.unb))
        finally:
            await client.close()

    return asyncio.run(main())


def test_token_client_gets_a_token_from_the_simulator(sim: SimulatorHandle) -> None:
    seller = new_seller(sim)
    outcome = fetch(sim, Cookie.parse(seller.cookie))
    assert outcome.result.kind == "success", outcome.result.message
    assert outcome.result.token
    assert outcome.cookie.unb == seller.user_id


def test_stale_mtop_token_is_rotated_and_retried_once(sim: SimulatorHandle) -> None:
    seller = new_seller(sim)
    cookie = Cookie.parse(seller.cookie)
    sim.admin.fault(seller.user_id, "token_expired")
    outcome = fetch(sim, cookie)
    assert outcome.result.kind == "success", outcome.result.message
    assert outcome.cookie.get("_m_h5_tk") != cookie.get("_m_h5_tk")


def test_revoked_session_is_session_expired(sim: SimulatorHandle) -> None:
    seller = new_seller(sim)
    sim.admin.revoke(user_id=seller.user_id)
    assert fetch(sim, Cookie.parse(seller.cookie)).result.kind == "session_expired"


def test_captcha_is_risk_control_with_punish_url(sim: SimulatorHandle) -> None:
    seller = new_seller(sim)
    sim.admin.fault(seller.user_id, "captcha", seconds=30)
    result = fetch(sim, Cookie.parse(seller.cookie)).result
    assert result.kind == "risk_control"
    assert "punish" in result.punish_url


def test_pushes_sends_and_history_decode_with_the_protocol_layer(sim: SimulatorHandle) -> None:
    seller = new_seller(sim, nick="小店")
    me = seller.user_id

    async def scenario() -> None:
        client = await online(sim, seller)
        pushed = await asyncio.to_thread(sim.admin.push, me, "1001", "还在吗", "555")
        [message] = decode_push(await client.next_push(), self_id=me)
        assert isinstance(message, ChatMessage)
        assert (message.message_id, message.chat_id) == (pushed["message_id"], pushed["chat_id"])
        assert (message.sender_id, message.text, message.item_id) == ("1001", "还在吗", "555")
        assert not message.is_own and message.need_push

        send = frames.send_text(message.chat_id, message.sender_id, me, "在的")
        answer = await client.request(send["lwp"], send["body"])
        [echo] = decode_push(await client.next_push(), self_id=me)
        assert echo.message_id == answer["body"]["messageId"]
        assert echo.is_own and not echo.need_push and echo.text == "在的"

        await asyncio.to_thread(
            sim.admin.push,
            me,
            "1001",
            "[我已拍下，待付款]",
            "555",
            kind="trade_card",
            order_id="4012345678901",
        )
        # The buyer's next message comes with a read receipt for our reply: two items, one frame.
        decoded_items = decode_push(await client.next_push(), self_id=me)
        [card] = [m for m in decoded_items if isinstance(m, TradeCard)]
        receipts = [m for m in decoded_items if isinstance(m, ReadReceipt)]
        assert all(r.message_id == echo.message_id for r in receipts)
        assert (card.order_id, card.chat_id) == ("4012345678901", message.chat_id)

        listing = frames.list_newest(FIRST_PAGE_CURSOR, 20)
        conversations = (await client.request(listing["lwp"], listing["body"]))["body"]
        assert [c.chat_id for c in parse_conversations(conversations)] == [message.chat_id]
        history = frames.list_user_messages(message.chat_id, FIRST_PAGE_CURSOR, 20)
        page = (await client.request(history["lwp"], history["body"]))["body"]
        decoded = decode_history(page, self_id=me)
        assert echo.message_id in [m.message_id for m in decoded]
        assert message.message_id in [m.message_id for m in decoded]
        assert page_cursor(page)[0] is False
        await client.close()

    asyncio.run(scenario())
