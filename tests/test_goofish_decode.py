"""Push decoding of real-shaped frames: every item, every shape, malformed input (section 6)."""

import base64
import contextlib
import json
import random

import msgpack
import pytest

from common.errors import ProtocolError
from goofish.decode import decode_item, decode_push, decode_push_items, is_push
from goofish.messages import ChatMessage, ReadReceipt, SystemEvent, TradeCard, Typing

SELLER = "2202640918079"
BUYER = "1234567890"
CID = "48756309862"
ITEM = "901234567890"
ORDER = "4012345678901234567"


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def chat_payload(*, sender=BUYER, text="你好，在吗", need_push="true", msg="3593867116846.PNM"):
    """The int-keyed map of a 40000 chat message, laid out like the captured sample (6.3)."""
    content = json.dumps({"contentType": 1, "text": {"text": text}}, ensure_ascii=False)
    return {
        1: {
            1: {1: f"{sender}@goofish"},
            2: f"{CID}@goofish",
            3: msg,
            4: 0,
            5: 1751446438481,
            6: {1: 101, 3: {1: "", 2: text, 3: "", 4: 1, 5: content}},
            7: 2,
            8: 1,
            9: 0,
            12: 1,
            10: {
                "_platform": "web",
                "reminderContent": text,
                "reminderNotice": "发来一条新消息",
                "reminderTitle": "买家小王",
                "reminderUrl": (
                    f"fleamarket://message_chat?itemId={ITEM}&peerUserId={sender}"
                    f"&peerUserNick=x***&sid={CID}&messageId=0123456789abcdef0123456789abcdef&adv=no"
                ),
                "senderUserId": sender,
                "senderUserType": "0",
                "sessionType": "1",
                "bizTag": '{"sourceId":"S:1","messageId":"0123456789abcdef0123456789abcdef"}',
                "extJson": '{"quickReply":"1","messageId":"0123456789abcdef0123456789abcdef"}',
            },
        },
        3: {"needPush": need_push},
    }


def trade_card_payload():
    card = {
        "dxCard": {
            "item": {
                "main": {
                    "targetUrl": f"fleamarket://order_detail?id={ORDER}&role=seller",
                    "exContent": {
                        "title": "买家已拍下，待付款",
                        "button": {
                            "targetUrl": f"fleamarket://adjust_price?flutter=true&bizOrderId={ORDER}"
                        },
                    },
                }
            }
        }
    }
    return {
        1: {
            1: {1: f"{BUYER}@goofish"},
            2: f"{CID}@goofish",
            3: "3593867116999.PNM",
            4: 0,
            5: 1751446500000,
            6: {1: 101, 3: {1: "", 2: "[我已拍下，待付款]", 3: "", 4: 26, 5: json.dumps(card)}},
            7: 1,
            10: {
                "reminderContent": "[我已拍下，待付款]",
                "reminderTitle": "买家已拍下，待付款",
                "redReminder": "等待买家付款",
                "receiver": SELLER,
                "senderUserId": BUYER,
                "bizTag": '{"sourceId":"C2C:1","taskName":"已拍下_未付款_卖家"}',
                "extJson": json.dumps(
                    {
                        "msgArg1": "MsgCard",
                        "contentType": "26",
                        "updateKey": f"{CID}:{ORDER}:1_not_pay_seller",
                        "itemId": ITEM,
                    }
                ),
            },
        },
        3: {"needPush": "true"},
    }


def read_receipt_payload():
    return {1: "3593867116846.PNM", 2: 2, 3: 0, 4: f"{CID}@goofish", 5: 1, 6: 1751446440000}


def item(payload, object_type=40000, *, pad=True):
    raw = msgpack.packb(payload) if not isinstance(payload, bytes) else payload
    data = b64(raw) if pad else b64(raw).rstrip("=")
    return {"bizType": 40, "streamId": "40", "objectType": object_type, "data": data}


def push(*items, lwp="/s/sync"):
    return {
        "lwp": lwp,
        "headers": {"app-key": "k", "mid": "84a4001c 0", "sid": "S", "ua": "UA"},
        "body": {
            "syncPushPackage": {
                "maxHighPts": 0,
                "startSeq": 1,
                "endSeq": len(items),
                "minCreateTime": 1751446438481,
                "maxPts": 1751446438481000,
                "hasMore": 0,
                "timestamp": 1751446438481,
                "data": list(items),
            },
            "syncExtensionModel": {"reconnectType": 0, "failover": 0, "fingerprint": 1},
        },
    }


def test_buyer_text_message_decodes_every_field():
    [message] = decode_push(push(item(chat_payload())), self_id=SELLER)
    assert message == ChatMessage(
        message_id="3593867116846.PNM",
        chat_id=CID,
        sender_id=BUYER,
        sender_nick="买家小王",
        text="你好，在吗",
        item_id=ITEM,
        created_at_ms=1751446438481,
        is_own=False,
        need_push=True,
        content_type=1,
    )


def test_echo_of_own_message_is_own_and_not_need_push():
    payload = chat_payload(sender=SELLER, text="bot reply", need_push="false")
    [message] = decode_push(push(item(payload)), self_id=f"{SELLER}@goofish")
    assert message.is_own is True
    assert message.need_push is False


def test_every_item_of_a_multi_item_frame_is_decoded_in_order():
    frame = push(
        item(read_receipt_payload(), 40103),
        item(chat_payload(msg="1.PNM", text="one")),
        item(chat_payload(msg="2.PNM", text="two")),
    )
    messages = decode_push(frame, self_id=SELLER)
    assert [type(m) for m in messages] == [ReadReceipt, ChatMessage, ChatMessage]
    assert [m.text for m in messages[1:]] == ["one", "two"]


def test_a_bad_item_becomes_an_error_naming_it_and_the_others_still_decode():
    frame = push(item(chat_payload(msg="1.PNM")), {"data": "!!!not base64!!!"}, item(b"\xc1"))
    results = decode_push_items(frame, self_id=SELLER)
    assert isinstance(results[0], ChatMessage)
    assert isinstance(results[1], ProtocolError)
    assert "item 1 of 3" in str(results[1]) and "base64" in str(results[1])
    assert isinstance(results[2], ProtocolError)
    assert "item 2 of 3" in str(results[2])
    assert decode_push(frame, self_id=SELLER) == [results[0]]


def test_base64_without_padding_is_accepted():
    [message] = decode_push(push(item(chat_payload(), pad=False)), self_id=SELLER)
    assert message.text == "你好，在吗"


def test_read_receipt_six_key_layout():
    [receipt] = decode_push(push(item(read_receipt_payload(), 40103)), self_id=SELLER)
    assert receipt == ReadReceipt(chat_id=CID, message_id="3593867116846.PNM", at_ms=1751446440000)


def test_read_receipt_four_key_variant():
    payload = {1: f"{CID}@goofish", 2: 1, 3: "3593867116846.PNM", 4: 1751446440000}
    [receipt] = decode_push(push(item(payload, 40103)), self_id=SELLER)
    assert receipt == ReadReceipt(chat_id=CID, message_id="3593867116846.PNM", at_ms=1751446440000)


def test_typing_signal_has_a_list_under_key_one():
    payload = {1: [{1: f"{CID}@goofish", 2: 1, 3: 1, 4: f"{BUYER}@goofish"}]}
    [typing] = decode_push(push(item(payload, 40006), lwp="/s/para"), self_id=SELLER)
    assert typing == Typing(chat_id=CID, user_id=BUYER)


def test_trade_card_with_order_id_from_card_urls():
    [card] = decode_push(push(item(trade_card_payload())), self_id=SELLER)
    assert card == TradeCard(
        chat_id=CID,
        message_id="3593867116999.PNM",
        sender_id=BUYER,
        title="买家已拍下，待付款",
        text="[我已拍下，待付款]",
        order_id=ORDER,
        item_id=ITEM,
        created_at_ms=1751446500000,
    )


def test_trade_card_order_id_falls_back_to_update_key():
    payload = trade_card_payload()
    payload[1][6][3][5] = "{}"
    [card] = decode_push(push(item(payload)), self_id=SELLER)
    assert card.order_id == ORDER


def test_json_item_with_chat_type_is_a_system_event():
    event = {
        "chatType": 1,
        "incrementType": 1,
        "operation": {"content": {"contentType": 8, "sessionArouse": {}}},
        "receiverIds": [SELLER],
        "sessionId": CID,
    }
    data = {"objectType": 370000, "data": b64(json.dumps(event).encode())}
    [decoded] = decode_push(push(data, lwp="/s/vulcan"), self_id=SELLER)
    assert decoded == SystemEvent(event)


def test_unknown_msgpack_shape_is_a_system_event_with_string_keys():
    payload = {1: "status", 2: f"{CID}@goofish", 4: {"reminderContent": "x"}, 5: 1}
    [decoded] = decode_push(push(item(payload)), self_id=SELLER)
    assert isinstance(decoded, SystemEvent)
    assert decoded.raw["2"] == f"{CID}@goofish"


def test_item_id_falls_back_to_ext_json():
    payload = chat_payload()
    del payload[1][10]["reminderUrl"]
    payload[1][10]["extJson"] = json.dumps({"itemId": "42"})
    assert decode_push(push(item(payload)), self_id=SELLER)[0].item_id == "42"


def test_item_id_is_none_when_nowhere_to_be_found():
    payload = chat_payload()
    del payload[1][10]["reminderUrl"]
    assert decode_push(push(item(payload)), self_id=SELLER)[0].item_id is None


def test_text_falls_back_to_content_json_and_sender_to_top_id():
    payload = chat_payload(text="hello")
    del payload[1][10]
    [message] = decode_push(push(item(payload)), self_id=SELLER)
    assert (message.text, message.sender_id, message.sender_nick) == ("hello", BUYER, "")


def test_bin_values_become_text():
    payload = chat_payload()
    payload[1][3] = b"77.PNM"
    assert decode_push(push(item(payload)), self_id=SELLER)[0].message_id == "77.PNM"


@pytest.mark.parametrize(
    ("path", "why"),
    [((1, 2), "'1.2' is missing"), ((1, 3), "'1.3' is missing"), ((1, 5), "'1.5' is missing")],
)
def test_missing_required_field_names_it(path, why):
    payload = chat_payload()
    del payload[path[0]][path[1]]
    [error] = decode_push_items(push(item(payload)), self_id=SELLER)
    assert isinstance(error, ProtocolError)
    assert why in str(error)


def test_wrong_type_of_required_field_names_it():
    payload = chat_payload()
    payload[1][5] = "yesterday"
    [error] = decode_push_items(push(item(payload)), self_id=SELLER)
    assert "'1.5' is a string, expected an integer" in str(error)


def test_is_push_only_for_frames_with_items():
    assert is_push(push(item(chat_payload())))
    assert not is_push(push())
    assert not is_push({"code": 200, "headers": {"mid": "1 0"}})
    assert not is_push({"body": {"syncPushPackage": {"data": "x"}}})
    assert not is_push(None)


@pytest.mark.parametrize("frame", [None, {}, {"body": []}, {"body": {"syncPushPackage": 3}}])
def test_non_push_frame_raises_protocol_error(frame):
    with pytest.raises(ProtocolError, match="not a push"):
        decode_push(frame, self_id=SELLER)


BAD_ITEMS = [
    None,
    7,
    "data",
    [],
    {},
    {"data": None},
    {"data": 12},
    {"data": ""},
    {"data": "a"},
    {"data": b64(b"[1, 2]")},
    {"data": b64(b'"just a string"')},
    {"data": b64(msgpack.packb([1, 2, 3]))},
    {"data": b64(msgpack.packb(5))},
    {"data": b64(msgpack.packb({1: []}))},
    {"data": b64(msgpack.packb({1: [7]}))},
    {"data": b64(msgpack.packb({1: {}}))},
    {"data": b64(msgpack.packb({1: {1: 5, 2: 3, 3: None, 5: True}}))},
    {"data": b64(msgpack.packb({1: "1.PNM", 4: "c@goofish", 6: "late"}))},
    {"data": b64(msgpack.packb(chat_payload())[:-9])},
    {"data": b64(msgpack.packb(chat_payload()) + b"\x00")},
    {"data": b64(b"\x91" * 5000)},
]


@pytest.mark.parametrize("bad", BAD_ITEMS)
def test_malformed_items_raise_only_protocol_error(bad):
    with pytest.raises(ProtocolError):
        decode_item(bad, self_id=SELLER)


def test_random_bytes_never_raise_anything_but_protocol_error():
    rng = random.Random(20240601)
    payloads = [bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64))) for _ in range(500)]
    base = msgpack.packb(chat_payload())
    # Single-byte corruptions of a valid message exercise the decoder's deeper paths.
    for _ in range(500):
        corrupted = bytearray(base)
        corrupted[rng.randrange(len(corrupted))] = rng.randrange(256)
        payloads.append(bytes(corrupted))
    for raw in payloads:
        with contextlib.suppress(ProtocolError):
            decode_item({"data": b64(raw)}, self_id=SELLER)


def test_platform_tips_are_system_events_not_chat():
    payload = chat_payload(text="AI正在帮你回复消息")
    payload[1][10]["extJson"] = json.dumps({"msgArg1": "MsgTips"})
    [decoded] = decode_push(push(item(payload)), self_id=SELLER)
    assert isinstance(decoded, SystemEvent)
