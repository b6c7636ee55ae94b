"""Reply-rule matching and templates (actors/replies.py)."""

from __future__ import annotations

from actors.replies import Incoming, ReplyKind, choose_reply, render
from storage.records import DefaultReply, Rule, RuleSet


def _incoming(text: str, item_id: str | None = "item-1") -> Incoming:
    return Incoming(text=text, buyer_id="buyer-9", buyer_name="Alice", item_id=item_id)


def test_keyword_matches_case_insensitive_substring() -> None:
    rules = RuleSet(rules=(Rule("Price", "it is 10"),))
    choice = choose_reply(rules, _incoming("what's the PRICE?"))
    assert choice.kind is ReplyKind.RULE
    assert choice.text == "it is 10"


def test_first_rule_by_order_wins() -> None:
    rules = RuleSet(rules=(Rule("hi", "second", order=2), Rule("hi", "first", order=1)))
    assert choose_reply(rules, _incoming("hi there")).text == "first"


def test_item_specific_rules_come_before_general_ones() -> None:
    rules = RuleSet(
        rules=(
            Rule("price", "general", order=0),
            Rule("price", "for item-1", item_id="item-1", order=5),
            Rule("price", "for item-2", item_id="item-2", order=0),
        )
    )
    assert choose_reply(rules, _incoming("price?")).text == "for item-1"
    assert choose_reply(rules, _incoming("price?", item_id="item-3")).text == "general"
    assert choose_reply(rules, _incoming("price?", item_id=None)).text == "general"


def test_empty_reply_means_matched_but_silent() -> None:
    rules = RuleSet(rules=(Rule("spam", ""),), default_reply=DefaultReply("default"))
    choice = choose_reply(rules, _incoming("spam spam"))
    assert choice.kind is ReplyKind.RULE
    assert choice.silent


def test_default_reply_when_nothing_matched() -> None:
    rules = RuleSet(rules=(Rule("price", "10"),), default_reply=DefaultReply("hello {buyer_name}"))
    choice = choose_reply(rules, _incoming("is it new?"))
    assert choice.kind is ReplyKind.DEFAULT
    assert choice.text == "hello Alice"
    assert choice.once_per_chat


def test_no_default_means_no_reply() -> None:
    choice = choose_reply(RuleSet(), _incoming("anything"))
    assert choice.kind is ReplyKind.NONE
    assert choice.silent


def test_templates_fill_known_placeholders_and_keep_other_braces() -> None:
    text = render("{buyer_name}/{buyer_id}/{item_id}: {text} {unknown} {", _incoming("q"))
    assert text == "Alice/buyer-9/item-1: q {unknown} {"
