"""The wire format without sockets: line splitting, request parsing, argument checks."""

from __future__ import annotations

import json

import pytest

from control.errors import BAD_REQUEST, UNKNOWN_COMMAND, ControlError
from control.protocol import TOO_LARGE, LineSplitter, error_response, ok_response, parse_request


def test_splitter_joins_lines_across_chunks():
    splitter = LineSplitter(max_line=100)
    assert splitter.feed(b'{"a"') == []
    assert splitter.feed(b':1}\n{"b":2}\n{"c"') == [b'{"a":1}', b'{"b":2}']
    assert splitter.feed(b":3}\n") == [b'{"c":3}']


def test_splitter_reports_an_overlong_line_once_and_discards_it_to_the_newline():
    splitter = LineSplitter(max_line=10)
    assert splitter.feed(b"x" * 8) == []
    assert splitter.feed(b"x" * 8) == [TOO_LARGE]
    assert splitter.feed(b"x" * 1000) == []
    assert splitter.feed(b'xx\n{"ok":1}\n') == [b'{"ok":1}']


def test_splitter_accepts_a_line_exactly_at_the_limit():
    splitter = LineSplitter(max_line=4)
    assert splitter.feed(b"abcd\nabcde\n") == [b"abcd", TOO_LARGE]


def test_parse_request_fills_defaults():
    request = parse_request(b'{"id": 7, "cmd": "update", "account": "a", "cookie": "unb=1"}')
    assert request.id == 7
    assert dict(request.args) == {
        "account": "a",
        "cookie": "unb=1",
        "save": True,
        "force": False,
        "wait": True,
    }


def test_null_optional_argument_counts_as_absent():
    request = parse_request(b'{"cmd": "history", "account": "a", "limit": null}')
    assert request.args["limit"] == 20


@pytest.mark.parametrize(
    ("line", "field"),
    [
        (b'{"id": 1, "cmd": "update", "account": "a"}', "cookie"),
        (b'{"id": 1, "cmd": "update", "account": 5, "cookie": "x"}', "account"),
        (b'{"id": 1, "cmd": "update", "account": "a", "cookie": "x", "wait": "yes"}', "wait"),
        (b'{"id": 1, "cmd": "history", "account": "a", "limit": 0}', "limit"),
        (b'{"id": 1, "cmd": "history", "account": "a", "limit": true}', "limit"),
        (b'{"id": 1, "cmd": "rollback", "account": "a", "to_version": 1.5}', "to_version"),
        (
            b'{"id": 1, "cmd": "set_rules", "account": "a", "rules": [{"reply": "r"}]}',
            "rules[0].keyword",
        ),
        (b'{"id": 1, "cmd": "set_rules", "account": "a", "rules": {}}', "rules"),
        (b'{"id": 1, "cmd": "set", "account": "a", "pause_minutes": -1}', "pause_minutes"),
        (b'{"id": 1, "cmd": "status", "acount": "a"}', "acount"),
        (b'{"id": 1, "cmd": "events", "since": "yesterday"}', "since"),
    ],
)
def test_wrong_or_missing_argument_is_a_bad_request_naming_the_field(line, field):
    with pytest.raises(ControlError) as caught:
        parse_request(line)
    assert caught.value.code == BAD_REQUEST
    assert f"'{field}'" in caught.value.message
    assert caught.value.request_id == 1


def test_unknown_command_keeps_the_request_id():
    with pytest.raises(ControlError) as caught:
        parse_request(b'{"id": "x", "cmd": "reboot"}')
    assert (caught.value.code, caught.value.request_id) == (UNKNOWN_COMMAND, "x")


@pytest.mark.parametrize(
    "line",
    [b"not json", b"\xff\xfe{}", b"[1, 2]", b'{"id": 1}', b"[" * 100_000, b'{"cmd": 3}'],
)
def test_malformed_lines_are_bad_requests(line):
    with pytest.raises(ControlError) as caught:
        parse_request(line)
    assert caught.value.code == BAD_REQUEST


def test_cookie_argument_error_never_quotes_the_value():
    with pytest.raises(ControlError) as caught:
        parse_request(json.dumps({"cmd": "add", "account": 3, "cookie": "cookie2=SECRET"}).encode())
    assert "SECRET" not in caught.value.message


def test_responses_are_single_json_lines():
    assert json.loads(ok_response(1, {"a": "闲鱼"})) == {
        "id": 1,
        "ok": True,
        "result": {"a": "闲鱼"},
    }
    line = error_response(None, "bad_request", "line\nbreak")
    assert line.count(b"\n") == 1
    assert json.loads(line)["error"] == {"code": "bad_request", "message": "line\nbreak"}
