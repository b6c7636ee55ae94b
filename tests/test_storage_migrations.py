"""Schema versions: a fresh database is at the latest version; an old one upgrades in place."""

from __future__ import annotations

import pytest

from common.errors import StorageError
from storage import Rule, Store, migrations
from storage.engine import open_database

V1_ROWS = [
    "INSERT INTO account (id, user_id, nick, enabled, remark, pause_minutes, active_version, "
    "created_ms, updated_ms) VALUES ('old', '2201', 'Ann', false, 'kept', 0, 2, 1000, 2000)",
    "INSERT INTO cookie_version (account_id, number, value, fingerprint, source, status, "
    "created_ms) VALUES ('old', 1, 'unb=2201; v=1', 'f1', 'admin', 'superseded', 1000)",
    "INSERT INTO cookie_version (account_id, number, value, fingerprint, source, status, "
    "created_ms) VALUES ('old', 2, 'unb=2201; v=2', 'f2', 'admin', 'active', 2000)",
    "INSERT INTO rule_set (account_id, revision, default_text, default_once) "
    "VALUES ('old', 3, 'hello', true)",
    "INSERT INTO reply_rule (account_id, position, keyword, reply, item_id, sort_order) "
    "VALUES ('old', 0, 'price', '100', NULL, 0)",
    "INSERT INTO processed_message (account_id, message_id, processed_ms) "
    "VALUES ('old', '1.PNM', 1500)",
    "INSERT INTO event (at_ms, account_id, kind, data) "
    "VALUES (1000, 'old', 'account_added', '{\"version\": 1}')",
]


def make_v1_database(url: str) -> None:
    db = open_database(url, busy_timeout_s=1.0)
    try:
        assert migrations.upgrade(db, target=1) == 1
        with db.atomic():
            for sql in V1_ROWS:
                db.execute_sql(sql)
    finally:
        db.close()


def test_a_fresh_database_is_at_the_latest_version(store: Store) -> None:
    assert store.schema_version == migrations.LATEST


def test_upgrading_a_v1_database_keeps_its_data(store_url: str) -> None:
    make_v1_database(store_url)

    store = Store.open(store_url)
    try:
        assert store.schema_version == migrations.LATEST
        account = store.get_account("old")
        assert (account.remark, account.pause_minutes, account.enabled, account.nick) == (
            "kept",
            0,
            False,
            "Ann",
        )
        assert [(v.number, v.status, v.reason) for v in store.history("old")] == [
            (2, "active", ""),
            (1, "superseded", ""),
        ]
        rules = store.get_rules("old")
        assert (rules.rules, rules.default_reply.text, rules.revision) == (
            (Rule("price", "100"),),
            "hello",
            3,
        )
        assert store.is_processed("old", "1.PNM")
        assert store.events("old")[0].data == {"version": 1}
        # what v2 added works for the migrated account
        assert store.get_cursor("old") == 0
        store.advance_cursor("old", 5000)
        store.save_token("old", "t", "d", issued_at=0)
        assert store.rollback_target("old").number == 1
    finally:
        store.close()


def test_migrated_tables_match_the_models(store: Store) -> None:
    db = store._db
    for model in (getattr(store._m, name) for name in store._m.__dataclass_fields__):
        table = model._meta.table_name
        columns = {column.name for column in db.get_columns(table)}
        assert columns == {field.column_name for field in model._meta.sorted_fields}, table


def test_reopening_does_not_migrate_again(store_url: str) -> None:
    Store.open(store_url).close()
    store = Store.open(store_url)
    try:
        assert store.schema_version == migrations.LATEST
    finally:
        store.close()


def test_a_schema_newer_than_this_build_is_refused(store_url: str) -> None:
    Store.open(store_url).close()
    db = open_database(store_url, busy_timeout_s=1.0)
    try:
        db.execute_sql("UPDATE schema_version SET version = 99")
    finally:
        db.close()

    with pytest.raises(StorageError, match="schema is version 99"):
        Store.open(store_url)


def test_bad_urls_raise_storage_errors(tmp_path) -> None:
    with pytest.raises(StorageError, match="unsupported database URL"):
        Store.open("mysql://x@localhost/db")
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StorageError, match=r"cannot use .* as the database directory"):
        Store.open(f"sqlite:///{blocker}/sub/x.db")
