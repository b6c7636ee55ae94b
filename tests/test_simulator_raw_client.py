"""Done-when check: a client that is not the project's can use the simulator end to end."""

from __future__ import annotations

import asyncio

from simulator.server import SimulatorHandle
from tests.plugins.simulator import (
    RawClient,
    cookie_merge,
    decode_item,
    fetch_token,
    make_did,
    new_seller,
)


def test_raw_client_gets_token_registers_receives_push_and_replies(sim: SimulatorHandle) -> None:
    seller = new_seller(sim, nick="小店")
    did = make_did(seller.user_id)

    refused, _ = fetch_token(sim.api_url, seller.cookie, did, bad_sign=True)
    assert refused["ret"] == ["FAIL_SYS_ILLEGAL_ACCESS::非法请求"]
    answer, set_cookies = fetch_token(sim.api_url, seller.cookie, did)
    assert answer["ret"] == ["SUCCESS::调用成功"]
    assert answer["api"] == "mtop.taobao.idlemessage.pc.login.token" and answer["v"] == "1.0"
    token = answer["data"]["accessToken"]
    assert answer["data"]["accessTokenExpiredTime"] == 86400000
    cookie = cookie_merge(seller.cookie, set_cookies)

    async def scenario() -> None:
        client = await RawClient.open(sim.ws_url, cookie)
        reply = await client.register(token, did)
        assert reply["code"] == 200
        assert reply["headers"]["reg-uid"] == f"{seller.user_id}@goofish"
        assert reply["headers"]["sid"] and reply["body"]["unitName"] == "PNM"
        vulcan = await client.next_push("/s/vulcan")
        assert decode_item(vulcan["body"]["syncPushPackage"]["data"][0])["chatType"] == 1

        pushed = await asyncio.to_thread(sim.admin.push, seller.user_id, "1001", "还在吗", "555")
        frame = await client.next_push()
        items = frame["body"]["syncPushPackage"]["data"]
        assert [i["objectType"] for i in items] == [40000]
        message = decode_item(items[0])
        assert message[1][3] == pushed["message_id"]
        assert message[1][2] == f"{pushed['chat_id']}@goofish"
        assert message[1][1][1] == "1001@goofish"
        assert message[1][10]["reminderContent"] == "还在吗"
        assert message[1][10]["senderUserId"] == "1001"
        assert "itemId=555" in message[1][10]["reminderUrl"]
        assert message[3] == {"needPush": "true"}

        sent = await client.send_text(pushed["chat_id"], "1001", seller.user_id, "在的")
        assert sent["code"] == 200
        echo = decode_item((await client.next_push())["body"]["syncPushPackage"]["data"][0])
        assert echo[1][3] == sent["body"]["messageId"]
        assert echo[1][10]["senderUserId"] == seller.user_id
        assert echo[3] == {"needPush": "false"}
        await client.close()

        listed = await asyncio.to_thread(sim.admin.sent, seller.user_id)
        assert listed == [
            {
                "message_id": sent["body"]["messageId"],
                "chat_id": pushed["chat_id"],
                "to": "1001",
                "text": "在的",
                "at": sent["body"]["createAt"],
            }
        ]

    asyncio.run(scenario())
