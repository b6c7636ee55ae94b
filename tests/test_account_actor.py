"""The account actor against the simulator: real sockets, a real SQLite store."""

from __future__ import annotations

from storage import DefaultReply, Rule
from tests.plugins.accounts import BUYER, sent_texts
from tests.plugins.simulator import Seller
from tests.plugins.timing import wait_for


def test_account_goes_online_and_replies_by_rule(sim, seller, sqlite_store, start_account) -> None:
    account = start_account(seller)
    sqlite_store.set_rules("shop-1", [Rule("price", "It is 10 yuan, {buyer_name}")], None)
    account.wait_online()
    sim.admin.push(to=seller.user_id, from_=BUYER, text="What is the PRICE?")
    wait_for(lambda: sent_texts(sim, seller), what="a reply")
    assert sent_texts(sim, seller)[0].startswith("It is 10 yuan, ")
    status = account.wait_status(lambda s: s.replied == 1)
    assert status.received == 1


def replies_to(sim, seller: Seller, text: str) -> list[str]:
    return [t for t in sent_texts(sim, seller) if t == text]


def test_default_reply_is_sent_once_per_chat(sim, seller, sqlite_store, start_account) -> None:
    sqlite_store.add_account("shop-1", seller.cookie, seller.user_id)
    sqlite_store.set_rules("shop-1", [], DefaultReply("Hi {buyer_id}, about {item_id}?"))
    account = start_account(seller)
    account.wait_online()
    first = sim.admin.push(to=seller.user_id, from_=BUYER, text="hello", item_id="42")
    account.wait_status(lambda s: s.replied == 1)
    sim.admin.push(to=seller.user_id, from_=BUYER, text="still there?", item_id="42")
    sim.admin.push(to=seller.user_id, from_="880002", text="hello", item_id="42")
    account.wait_status(lambda s: s.received == 3 and s.replied == 2)
    assert sent_texts(sim, seller) == ["Hi 880001, about 42?", "Hi 880002, about 42?"]
    assert sqlite_store.is_processed("shop-1", first["message_id"])


def test_item_rules_come_first_and_empty_reply_stays_silent(
    sim, seller, sqlite_store, start_account
) -> None:
    sqlite_store.add_account("shop-1", seller.cookie, seller.user_id)
    rules = [
        Rule("price", "general price"),
        Rule("price", "item 7 costs 5", item_id="7", order=3),
        Rule("spam", ""),
    ]
    sqlite_store.set_rules("shop-1", rules, DefaultReply("default"))
    account = start_account(seller)
    account.wait_online()
    sim.admin.push(to=seller.user_id, from_=BUYER, text="spam spam", item_id="7")
    sim.admin.push(to=seller.user_id, from_=BUYER, text="price?", item_id="7")
    sim.admin.push(to=seller.user_id, from_="880002", text="Price?", item_id="8")
    account.wait_status(lambda s: s.received == 3 and s.replied == 2)
    assert sent_texts(sim, seller) == ["item 7 costs 5", "general price"]


def test_rule_changes_apply_without_a_restart(sim, seller, sqlite_store, start_account) -> None:
    sqlite_store.add_account("shop-1", seller.cookie, seller.user_id)
    sqlite_store.set_rules("shop-1", [Rule("hi", "old")], None)
    account = start_account(seller)
    account.wait_online()
    sim.admin.push(to=seller.user_id, from_=BUYER, text="hi")
    account.wait_status(lambda s: s.replied == 1)
    sqlite_store.set_rules("shop-1", [Rule("hi", "new")], None)
    sim.admin.push(to=seller.user_id, from_=BUYER, text="hi again")
    account.wait_status(lambda s: s.replied == 2)
    assert sent_texts(sim, seller) == ["old", "new"]


def test_trade_cards_are_recorded_not_answered(sim, seller, sqlite_store, start_account) -> None:
    sqlite_store.add_account("shop-1", seller.cookie, seller.user_id)
    sqlite_store.set_rules("shop-1", [], DefaultReply("default", once_per_chat=False))
    account = start_account(seller)
    account.wait_online()
    sim.admin.push(to=seller.user_id, from_=BUYER, text="", kind="trade_card", order_id="123")
    sim.admin.push(to=seller.user_id, from_=BUYER, text="paid")
    account.wait_status(lambda s: s.replied == 1)
    cards = [e for e in sqlite_store.events("shop-1") if e.kind == "trade_card"]
    assert [e.data["order_id"] for e in cards] == ["123"]
    assert sent_texts(sim, seller) == ["default"]
