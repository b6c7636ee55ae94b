"""Reply rules, the default reply and its once-per-chat claims."""

from __future__ import annotations

import pytest

from common.errors import InvalidValueError, NotFoundError
from storage import DefaultReply, Rule, RuleSet, Store


@pytest.fixture
def shop(store: Store) -> Store:
    store.add_account("shop", "unb=2201; c=1", "2201")
    return store


def test_an_account_without_rules_has_an_empty_rule_set(shop: Store) -> None:
    assert shop.get_rules("shop") == RuleSet()


def test_set_rules_replaces_everything_and_bumps_the_revision(shop: Store) -> None:
    shop.set_rules("shop", [Rule("price", "100"), Rule("ship", "SF")], DefaultReply("hi"))

    replaced = shop.set_rules("shop", [Rule("size", "M", item_id="778")], None)

    assert replaced == RuleSet(rules=(Rule("size", "M", item_id="778"),), revision=2)
    assert shop.get_rules("shop") == replaced


def test_rules_of_a_removed_and_added_again_account_are_empty(shop: Store) -> None:
    shop.set_rules("shop", [Rule("price", "100")])
    assert shop.get_rules("shop").rules  # read once: the set is now cached

    shop.remove_account("shop")
    with pytest.raises(NotFoundError):
        shop.get_rules("shop")
    shop.add_account("shop", "unb=2201; c=1", "2201")

    assert shop.get_rules("shop") == RuleSet()


def test_rules_come_back_in_order_then_as_given(shop: Store) -> None:
    rules = [Rule("b", "2", order=5), Rule("a", "1", order=1), Rule("c", "3", order=5)]

    got = shop.set_rules("shop", rules)

    assert [r.keyword for r in got.rules] == ["a", "b", "c"]


def test_rules_and_default_reply_accept_their_dict_forms(shop: Store) -> None:
    got = shop.set_rules(
        "shop",
        [{"keyword": "price", "reply": "100"}],
        {"text": "hello", "once_per_chat": False},
    )

    assert got.rules == (Rule("price", "100"),)
    assert got.default_reply == DefaultReply("hello", once_per_chat=False)


def test_a_rule_without_keyword_is_refused(shop: Store) -> None:
    with pytest.raises(InvalidValueError, match="keyword of the rule replying 'x'"):
        shop.set_rules("shop", [Rule("", "x")])
    with pytest.raises(InvalidValueError, match="a reply rule must be"):
        shop.set_rules("shop", [{"keyword": "k", "answer": "x"}])
    assert shop.get_rules("shop") == RuleSet()


def test_default_reply_is_claimed_once_per_chat(shop: Store) -> None:
    assert shop.claim_default_reply("shop", "chat-1") is True
    assert shop.claim_default_reply("shop", "chat-1") is False
    assert shop.claim_default_reply("shop", "chat-2") is True


def test_rules_of_an_unknown_account_raise_not_found(shop: Store) -> None:
    with pytest.raises(NotFoundError):
        shop.get_rules("nobody")
    with pytest.raises(NotFoundError):
        shop.set_rules("nobody", [])
    with pytest.raises(NotFoundError, match="'nobody' not found"):
        shop.claim_default_reply("nobody", "chat-1")
