"""``set_rules`` arguments (issue 12 §1.2, §1.3, §1.14): silent rules, an explicit clear,
known placeholders only, a reply length cap, and a summary instead of an echo."""

from __future__ import annotations

import pytest

from actors.replies import PLACEHOLDERS
from control.arguments import MAX_REPLY, REPLY_PLACEHOLDERS, validate_arguments
from control.dispatch import Dispatcher
from control.errors import ControlError
from control.protocol import Request
from tests.plugins.control import FakeSupervisor


def _set_rules(**args):
    fake = FakeSupervisor()
    fake.add("shop", "unb=1; cookie2=x")
    checked = validate_arguments("set_rules", {"account": "shop", **args})
    result = Dispatcher(fake, version="t").handle(Request(1, "set_rules", checked))
    return result, fake


def test_an_empty_reply_is_a_silent_rule():
    result, fake = _set_rules(rules=[{"keyword": "x", "reply": ""}])
    assert fake.rules_of["shop"]["rules"] == [{"keyword": "x", "reply": "", "item_id": None}]
    assert result == {"outcome": "stored", "rules": 1, "item_rules": 0, "default_reply": False}


def test_no_rules_and_no_default_is_refused_without_clear():
    with pytest.raises(ControlError, match="clear: true") as caught:
        _set_rules(rules=[])
    assert caught.value.code == "bad_request"


def test_clear_true_removes_everything():
    result, fake = _set_rules(rules=[], clear=True)
    assert result["outcome"] == "cleared"
    assert fake.rules_of["shop"] == {"rules": [], "default_reply": None}


def test_clear_with_rules_is_refused():
    with pytest.raises(ControlError, match="without rules"):
        _set_rules(rules=[{"keyword": "x", "reply": "y"}], clear=True)


def test_a_default_reply_alone_is_not_a_clear():
    result, _ = _set_rules(rules=[], default_reply={"text": "在的"})
    assert (result["outcome"], result["default_reply"]) == ("stored", True)


def test_ten_thousand_rules_answer_with_counts():
    rules = [
        {"keyword": f"k{i}", "reply": "r", "item_id": "7" if i % 2 else None} for i in range(10_000)
    ]
    result, _ = _set_rules(rules=rules)
    assert result == {
        "outcome": "stored",
        "rules": 10_000,
        "item_rules": 5_000,
        "default_reply": False,
    }


@pytest.mark.parametrize(
    "field",
    [
        {"rules": [{"keyword": "x", "reply": "hi {name}"}]},
        {"rules": [], "default_reply": {"text": "{nick}"}},
    ],
)
def test_unknown_placeholders_are_refused_listing_the_known_ones(field):
    with pytest.raises(ControlError, match="unknown placeholder") as caught:
        validate_arguments("set_rules", {"account": "shop", **field})
    assert "{buyer_name}" in caught.value.message


def test_known_placeholders_pass_and_match_the_actors_list():
    assert REPLY_PLACEHOLDERS == PLACEHOLDERS
    text = " ".join(PLACEHOLDERS)
    checked = validate_arguments(
        "set_rules", {"account": "s", "rules": [{"keyword": "k", "reply": text}]}
    )
    assert checked["rules"][0]["reply"] == text


def test_a_reply_over_the_cap_is_refused_with_its_length():
    too_long = "好" * (MAX_REPLY + 1)
    with pytest.raises(
        ControlError, match=f"at most {MAX_REPLY} characters \\(it has {MAX_REPLY + 1}\\)"
    ):
        validate_arguments(
            "set_rules", {"account": "s", "rules": [{"keyword": "k", "reply": too_long}]}
        )


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        ("shop\n1", "printable"),
        ("shop\x1b[31m", "printable"),
        ("shop\t1", "printable"),
        (" shop", "without spaces"),
        ("shop ", "without spaces"),
        ("s" * 65, "at most 64"),
        ("", "non-empty"),
    ],
)
def test_account_ids_must_be_printable_trimmed_and_short(value, rule):
    for cmd in ("add", "status", "events"):
        args = {"account": value, "cookie": "unb=1"} if cmd == "add" else {"account": value}
        with pytest.raises(ControlError, match=rule) as caught:
            validate_arguments(cmd, args)
        assert caught.value.code == "bad_request"


def test_good_account_ids_pass():
    for value in ("shop-1", "店铺 一号", "s" * 64):
        assert validate_arguments("status", {"account": value})["account"] == value


def test_tables_show_control_characters_as_escapes():
    from control.render import status

    text = status({"accounts": [{"id": "old\x1bid", "state": "online", "last_error": "a\tb"}]})
    assert "\x1b" not in text and "\t" not in text
    assert "old\\x1bid" in text
