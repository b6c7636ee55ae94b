"""Client frame builders compared with the documented shapes (sections 3.1, 3.3, 4, 5, 7)."""

import base64
import json

from goofish import FIRST_PAGE_CURSOR, IM_APP_KEY, REG_UA, frames

MID = "8701751446438481 0"


def test_reg_has_every_documented_header_and_no_body():
    assert frames.reg("TOKEN", "DID-1", mid=MID) == {
        "lwp": "/reg",
        "headers": {
            "cache-header": "app-key token ua wv",
            "app-key": IM_APP_KEY,
            "token": "TOKEN",
            "ua": REG_UA,
            "dt": "j",
            "wv": "im:3,au:3,sy:6",
            "sync": "0,0;0;0;",
            "did": "DID-1",
            "mid": MID,
        },
    }


def test_ack_diff_pts_is_microseconds_and_timestamp_milliseconds():
    assert frames.ack_diff(now_ms=1751446438481, mid=MID) == {
        "lwp": "/r/SyncStatus/ackDiff",
        "headers": {"mid": MID},
        "body": [
            {
                "pipeline": "sync",
                "tooLong2Tag": "PNM,1",
                "channel": "sync",
                "topic": "sync",
                "highPts": 0,
                "pts": 1751446438481000,
                "seq": 0,
                "timestamp": 1751446438481,
            }
        ],
    }


def test_heartbeat_is_bang_path_with_mid_only():
    assert frames.heartbeat(mid=MID) == {"lwp": "/!", "headers": {"mid": MID}}


def test_builders_make_a_fresh_mid_when_none_given():
    assert frames.heartbeat()["headers"]["mid"].endswith(" 0")
    assert frames.reg("t", "d")["headers"]["mid"].endswith(" 0")


def test_ack_copies_mid_sid_and_optional_headers_of_the_push():
    push = {
        "lwp": "/s/sync",
        "headers": {"mid": "84a4001c 0", "sid": "S1", "app-key": IM_APP_KEY, "ua": "UA", "x": "1"},
        "body": {"syncPushPackage": {"data": []}},
    }
    assert frames.ack(push) == {
        "code": 200,
        "headers": {"mid": "84a4001c 0", "sid": "S1", "app-key": IM_APP_KEY, "ua": "UA"},
    }


def test_ack_of_push_without_headers_uses_fresh_mid_and_empty_sid():
    ack = frames.ack({"lwp": "/s/para"})
    assert ack["code"] == 200
    assert ack["headers"]["sid"] == ""
    assert ack["headers"]["mid"].endswith(" 0")
    assert "lwp" not in ack and "body" not in ack


def test_send_text_matches_documented_shape_and_adds_id_suffixes():
    frame = frames.send_text("555", "111", "999", "你好", mid=MID, uuid="-17514464384811")
    data = frame["body"][0]["content"]["custom"].pop("data")
    assert frame == {
        "lwp": "/r/MessageSend/sendByReceiverScope",
        "headers": {"mid": MID},
        "body": [
            {
                "uuid": "-17514464384811",
                "cid": "555@goofish",
                "conversationType": 1,
                "content": {"contentType": 101, "custom": {"type": 1}},
                "redPointPolicy": 0,
                "extension": {"extJson": "{}"},
                "ctx": {"appVersion": "1.0", "platform": "web"},
                "mtags": {},
                "msgReadStatusSetting": 1,
            },
            {"actualReceivers": ["111@goofish", "999@goofish"]},
        ],
    }
    content = base64.b64decode(data).decode("utf-8")
    assert content == '{"contentType": 1, "text": {"text": "你好"}}'
    assert json.loads(content) == {"contentType": 1, "text": {"text": "你好"}}


def test_create_chat_matches_documented_shape():
    assert frames.create_chat("111", "999@goofish", "777", mid=MID) == {
        "lwp": "/r/SingleChatConversation/create",
        "headers": {"mid": MID},
        "body": [
            {
                "pairFirst": "111@goofish",
                "pairSecond": "999@goofish",
                "bizType": "1",
                "extension": {"itemId": "777"},
                "ctx": {"appVersion": "1.0", "platform": "web"},
            }
        ],
    }


def test_list_newest_body_is_cursor_and_limit():
    assert frames.list_newest(FIRST_PAGE_CURSOR, 20, mid=MID) == {
        "lwp": "/r/Conversation/listNewestPagination",
        "headers": {"mid": MID},
        "body": [9007199254740991, 20],
    }


def test_list_user_messages_body_is_positional():
    assert frames.list_user_messages("555", 1751446438481, 50, mid=MID) == {
        "lwp": "/r/MessageManager/listUserMessages",
        "headers": {"mid": MID},
        "body": ["555@goofish", False, 1751446438481, 50, False],
    }


def test_dumps_is_compact_json_keeping_non_ascii():
    assert frames.dumps({"a": [1, "你"]}) == '{"a":[1,"你"]}'
