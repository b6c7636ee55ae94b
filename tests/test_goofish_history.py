"""History pages: listNewestPagination conversations and listUserMessages entries (7.4)."""

import base64
import json

import pytest

from common.errors import ProtocolError
from goofish.decode import decode_history, decode_history_message, page_cursor, parse_conversations
from goofish.history import is_flow_controlled
from goofish.messages import ChatMessage, ConversationRef

SELLER = "2202640918079"
BUYER = "1234567890"


def content_data(text):
    raw = json.dumps({"contentType": 1, "text": {"text": text}}, ensure_ascii=False)
    return base64.b64encode(raw.encode()).decode()


def model(*, sender=BUYER, text="还在吗", mid="1751446438481.PNM", at=1751446438481):
    return {
        "message": {
            "messageId": mid,
            "cid": "555@goofish",
            "createAt": at,
            "sender": {"uid": f"{sender}@goofish"},
            "extension": {
                "reminderTitle": "买家小王",
                "senderUserId": sender,
                "reminderContent": text,
                "reminderUrl": f"fleamarket://message_chat?itemId=777&peerUserId={sender}&sid=555",
            },
            "content": {"contentType": 101, "custom": {"type": 1, "data": content_data(text)}},
        }
    }


def conversations_body():
    def conv(cid, at, item):
        return {
            "type": 1,
            "singleChatUserConversation": {
                "singleChatConversation": {
                    "cid": f"{cid}@goofish",
                    "bizType": "1",
                    "extension": {"itemId": item},
                },
                "modifyTime": at,
            },
        }

    return {
        "hasMore": 1,
        "nextCursor": 1751446000000,
        "userConvs": [
            conv("555", 1751446438481, "777"),
            {"type": 2},
            conv("556", 1751446000000, ""),
        ],
    }


def test_history_message_decodes_like_a_push():
    assert decode_history_message(model(), self_id=SELLER) == ChatMessage(
        message_id="1751446438481.PNM",
        chat_id="555",
        sender_id=BUYER,
        sender_nick="买家小王",
        text="还在吗",
        item_id="777",
        created_at_ms=1751446438481,
        is_own=False,
        need_push=True,
        content_type=1,
    )


def test_own_history_message_is_own():
    message = decode_history_message(model(sender=SELLER), self_id=SELLER)
    assert message.is_own and not message.need_push


def test_history_text_falls_back_to_content_json():
    entry = model(text="内容")
    del entry["message"]["extension"]["reminderContent"]
    assert decode_history_message(entry, self_id=SELLER).text == "内容"


@pytest.mark.parametrize(
    "entry",
    [
        None,
        {},
        {"message": []},
        {"message": {"messageId": "1.PNM"}},
        {"message": {**model()["message"], "createAt": "now"}},
        {"message": {**model()["message"], "content": {"custom": {"data": "%%%"}}}},
    ],
)
def test_malformed_history_entry_raises_protocol_error(entry):
    with pytest.raises(ProtocolError):
        decode_history_message(entry, self_id=SELLER)


def test_decode_history_keeps_good_entries_and_reports_bad_ones():
    body = {"hasMore": 0, "nextCursor": 0, "userMessageModels": [model(), {"message": {}}]}
    good, bad = decode_history(body, self_id=SELLER)
    assert isinstance(good, ChatMessage)
    assert isinstance(bad, ProtocolError) and "userMessageModels[1]" in str(bad)


def test_parse_conversations_keeps_single_chats_in_order():
    assert parse_conversations(conversations_body()) == [
        ConversationRef("555", 1751446438481, "777"),
        ConversationRef("556", 1751446000000, None),
    ]


def test_parse_conversations_rejects_malformed_bodies():
    with pytest.raises(ProtocolError, match="userConvs"):
        parse_conversations({"hasMore": 0})
    broken = {"userConvs": [{"singleChatUserConversation": {"modifyTime": 1}}]}
    with pytest.raises(ProtocolError, match=r"userConvs\[0\].*singleChatConversation"):
        parse_conversations(broken)


def test_page_cursor_reads_has_more_and_next_cursor():
    assert page_cursor(conversations_body()) == (True, 1751446000000)
    assert page_cursor({"hasMore": 0, "nextCursor": 5}) == (False, 5)
    with pytest.raises(ProtocolError):
        page_cursor({"hasMore": 1})


def test_flow_control_body_is_recognised():
    assert is_flow_controlled({"code": "400600001"})
    assert not is_flow_controlled(conversations_body())
