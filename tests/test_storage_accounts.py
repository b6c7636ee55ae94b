"""Accounts: add, read, partial update, cascade remove (both engines)."""

from __future__ import annotations

import pytest

from common.errors import AlreadyExistsError, NotFoundError, StorageError
from storage import ACTIVE, SOURCE_ADMIN, SOURCE_TOKEN_REFRESH, Rule, Store

COOKIE = "unb=2201; cookie2=c2; _m_h5_tk=tok_1"


def add(store: Store, account_id: str = "shop-1", **kwargs) -> None:
    store.add_account(account_id, COOKIE, "2201", **kwargs)


def test_add_account_creates_version_one_active(store: Store) -> None:
    record = store.add_account("shop-1", COOKIE, "2201", remark="north", nick="Ann")

    assert (record.account_id, record.user_id, record.nick, record.remark) == (
        "shop-1",
        "2201",
        "Ann",
        "north",
    )
    assert record.enabled is True
    assert record.pause_minutes == 10
    assert record.active_version == 1
    active = store.active_cookie("shop-1")
    assert active is not None
    assert (active.number, active.value, active.status, active.source) == (
        1,
        COOKIE,
        ACTIVE,
        SOURCE_ADMIN,
    )


def test_add_account_twice_raises_already_exists(store: Store) -> None:
    add(store)
    with pytest.raises(AlreadyExistsError, match="'shop-1' already exists"):
        add(store)


def test_unknown_account_raises_not_found_with_hint(store: Store) -> None:
    with pytest.raises(NotFoundError, match=r"account 'nope' not found; run 'ctl status'"):
        store.get_account("nope")
    with pytest.raises(NotFoundError):
        store.update_account("nope", remark="x")
    with pytest.raises(NotFoundError):
        store.remove_account("nope")


def test_list_accounts_is_ordered_by_id(store: Store) -> None:
    for account_id in ("b", "c", "a"):
        add(store, account_id)
    assert [a.account_id for a in store.list_accounts()] == ["a", "b", "c"]


def test_seller_accounts_names_the_accounts_of_one_seller(store: Store) -> None:
    add(store, "b")
    add(store, "a")
    store.add_account("c", "unb=2202; cookie2=c3", "2202")
    assert store.seller_accounts("2201") == ["a", "b"]
    assert store.seller_accounts("2202") == ["c"]
    assert store.seller_accounts("2203") == []
    store.remove_account("c")
    assert store.seller_accounts("2202") == []


def test_update_account_writes_only_the_given_fields(store: Store) -> None:
    add(store, remark="keep me", nick="Ann", pause_minutes=30, enabled=False)

    updated = store.update_account("shop-1", remark="new remark")

    assert updated.remark == "new remark"
    assert (updated.nick, updated.pause_minutes, updated.enabled) == ("Ann", 30, False)
    assert store.update_account("shop-1", pause_minutes=0).remark == "new remark"
    assert store.get_account("shop-1").pause_minutes == 0


def test_cookie_writes_never_clobber_account_fields(store: Store) -> None:
    add(store, remark="keep me", nick="Ann", pause_minutes=0, enabled=False)
    before = store.get_account("shop-1")

    pending = store.propose_cookie("shop-1", "unb=2201; cookie2=new", source=SOURCE_ADMIN)
    store.activate_version("shop-1", pending.number)
    store.record_token_refresh("shop-1", "unb=2201; cookie2=new", "unb=2201; cookie2=newer")
    store.activate_version("shop-1", 1, demote_to="rolled_back")
    store.save_token("shop-1", "token", "did", issued_at=0)

    after = store.get_account("shop-1")
    fields = ("user_id", "nick", "enabled", "remark", "pause_minutes", "created_at")
    assert [getattr(after, f) for f in fields] == [getattr(before, f) for f in fields]
    assert after.active_version == 1
    assert store.history("shop-1")[0].source == SOURCE_TOKEN_REFRESH


def test_remove_account_leaves_no_row_behind(store: Store) -> None:
    add(store)
    add(store, "other")
    for account_id in ("shop-1", "other"):
        store.propose_cookie(account_id, "unb=2201; v=2", source=SOURCE_ADMIN)
        store.set_rules(account_id, [Rule("price", "fixed")], "hello")
        store.claim_default_reply(account_id, "chat-1")
        store.pause_chat(account_id, "chat-1", until=4e9)
        store.mark_processed(account_id, "1.PNM")
        store.advance_cursor(account_id, 1000)
        store.save_token(account_id, "token", "did", issued_at=0)

    store.remove_account("shop-1")

    models = store._m
    for table in models.account_tables:
        assert not table.select().where(table.account == "shop-1").exists(), table
        assert table.select().where(table.account == "other").exists(), table
    assert [a.account_id for a in store.list_accounts()] == ["other"]
    assert store.active_cookie("shop-1") is None


def test_closed_store_raises_storage_error(store_url: str) -> None:
    store = Store.open(store_url)
    store.close()
    store.close()
    with pytest.raises(StorageError, match="store is closed"):
        store.list_accounts()
