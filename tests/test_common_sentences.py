"""User-facing text is sentences, never Python reprs or ``None`` (issue 12 §1.9)."""

from __future__ import annotations

import pytest

from common.sentences import close_code_sentence, error_sentence, json_kind
from control.errors import ControlError
from control.protocol import parse_request
from control.render import status


@pytest.mark.parametrize(
    ("exc", "words"),
    [
        (TimeoutError(), "timed out"),
        (ConnectionRefusedError(111, "Connection refused"), "connection refused"),
        (OSError(28, "No space left on device"), "no space left on device"),
        (ValueError("bad thing"), "value error: bad thing"),
        (KeyError(), "key error"),
        (None, "an unknown error"),
    ],
)
def test_errors_read_as_words(exc, words):
    assert error_sentence(exc) == words
    assert "(" not in error_sentence(exc) and "'" not in error_sentence(exc)


def test_close_codes_read_as_words():
    assert close_code_sentence(None) == "without a close frame"
    assert close_code_sentence(1006) == "with close code 1006"


def test_json_kinds():
    assert [json_kind(v) for v in (None, True, 1, "x", [], {})] == [
        "null",
        "true or false",
        "a number",
        "a string",
        "a list",
        "an object",
    ]


def test_a_null_request_is_described_in_words():
    with pytest.raises(ControlError) as caught:
        parse_request(b"null")
    assert "NoneType" not in caught.value.message
    assert caught.value.message.endswith("not null")


def test_an_unsaved_cookie_with_no_stored_version_shows_no_none():
    row = {"id": "s", "state": "online", "cookie_version": None, "unsaved": True}
    text = status({"accounts": [row]})
    assert "None" not in text
    assert " unsaved " in text
    assert "3 (unsaved)" in status({"accounts": [{**row, "cookie_version": 3}]})
