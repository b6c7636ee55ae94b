"""Cookie history: propose, activate, fail, roll back, token refresh, pruning."""

from __future__ import annotations

import pytest

from common.errors import ConflictError, InvalidValueError, NotFoundError, StorageError
from storage import (
    ACTIVE,
    FAILED,
    PENDING,
    ROLLED_BACK,
    SOURCE_ADMIN,
    SOURCE_TOKEN_REFRESH,
    SUPERSEDED,
    Store,
)
from storage.core import fingerprint
from tests.plugins.storage import sqlite_url


def cookie(n: int) -> str:
    return f"unb=2201; cookie2=v{n}"


@pytest.fixture
def shop(store: Store) -> Store:
    store.add_account("shop", cookie(1), "2201")
    return store


def statuses(store: Store, account_id: str = "shop") -> dict[int, str]:
    return {v.number: v.status for v in store.history(account_id, limit=100)}


def update(store: Store, n: int) -> int:
    """Propose cookie(n) and activate it, as a successful update does."""
    number = store.propose_cookie("shop", cookie(n), source=SOURCE_ADMIN).number
    store.activate_version("shop", number)
    return number


def test_proposed_cookie_is_pending_and_not_active(shop: Store) -> None:
    version = shop.propose_cookie("shop", cookie(2), source=SOURCE_ADMIN)

    assert (version.number, version.status, version.fingerprint) == (
        2,
        PENDING,
        fingerprint(cookie(2)),
    )
    assert shop.active_cookie("shop").number == 1


def test_activating_supersedes_the_previous_active(shop: Store) -> None:
    update(shop, 2)

    assert statuses(shop) == {1: SUPERSEDED, 2: ACTIVE}
    assert shop.get_account("shop").active_version == 2
    assert shop.active_cookie("shop").value == cookie(2)


def test_failed_version_keeps_its_reason_and_cannot_be_activated(shop: Store) -> None:
    number = shop.propose_cookie("shop", cookie(2), source=SOURCE_ADMIN).number

    failed = shop.fail_version("shop", number, "probation timed out")

    assert (failed.status, failed.reason) == (FAILED, "probation timed out")
    with pytest.raises(ConflictError, match="probation timed out"):
        shop.activate_version("shop", number)
    assert shop.active_cookie("shop").number == 1


def test_the_active_version_cannot_fail(shop: Store) -> None:
    with pytest.raises(ConflictError, match="is the active one"):
        shop.fail_version("shop", 1, "nope")


def test_rollback_target_is_the_newest_superseded_version(shop: Store) -> None:
    update(shop, 2)
    update(shop, 3)

    assert shop.rollback_target("shop").number == 2


def test_rollback_reactivates_and_marks_the_abandoned_version_rolled_back(shop: Store) -> None:
    update(shop, 2)
    target = shop.rollback_target("shop")

    shop.activate_version("shop", target.number, demote_to=ROLLED_BACK)

    assert statuses(shop) == {1: ACTIVE, 2: ROLLED_BACK}
    with pytest.raises(NotFoundError, match="no earlier good cookie version"):
        shop.rollback_target("shop")


def test_rollback_to_a_given_number(shop: Store) -> None:
    update(shop, 2)
    update(shop, 3)

    assert shop.rollback_target("shop", to_number=1).value == cookie(1)
    with pytest.raises(ConflictError, match="is active"):
        shop.rollback_target("shop", to_number=3)
    with pytest.raises(NotFoundError, match="cookie version 9 of account 'shop' not found"):
        shop.rollback_target("shop", to_number=9)


def test_history_is_newest_first_and_limited(shop: Store) -> None:
    for n in range(2, 6):
        update(shop, n)

    assert [v.number for v in shop.history("shop", limit=3)] == [5, 4, 3]
    with pytest.raises(NotFoundError):
        shop.history("nobody")


def test_fail_pending_versions_marks_them_interrupted(shop: Store) -> None:
    shop.propose_cookie("shop", cookie(2), source=SOURCE_ADMIN)

    assert shop.fail_pending_versions() == 1
    assert shop.history("shop")[0].reason == "interrupted"
    assert statuses(shop) == {1: ACTIVE, 2: FAILED}


def test_token_refresh_of_the_active_cookie_makes_a_new_active_version(shop: Store) -> None:
    version = shop.record_token_refresh("shop", cookie(1), cookie(99))

    assert version is not None
    assert (version.number, version.status, version.source) == (2, ACTIVE, SOURCE_TOKEN_REFRESH)
    assert statuses(shop) == {1: SUPERSEDED, 2: ACTIVE}


def test_token_refresh_of_a_pending_cookie_replaces_its_value(shop: Store) -> None:
    pending = shop.propose_cookie("shop", cookie(2), source=SOURCE_ADMIN)

    version = shop.record_token_refresh("shop", cookie(2), cookie(22))

    assert (version.number, version.status, version.value) == (pending.number, PENDING, cookie(22))
    assert version.fingerprint == fingerprint(cookie(22))
    # one fingerprint per stored value, and the source says where the value came from
    assert version.source == SOURCE_TOKEN_REFRESH
    assert shop.get_version("shop", pending.number) == version


def test_token_refresh_of_an_unknown_cookie_changes_nothing(shop: Store) -> None:
    assert shop.record_token_refresh("shop", cookie(7), cookie(8)) is None
    assert shop.record_token_refresh("shop", cookie(1), cookie(1)) is None
    assert statuses(shop) == {1: ACTIVE}


def test_history_keeps_at_most_n_versions(tmp_path) -> None:
    store = Store.open(sqlite_url(tmp_path), cookie_history=3)
    try:
        store.add_account("shop", cookie(1), "2201")
        for n in range(2, 8):
            number = store.propose_cookie("shop", cookie(n), source=SOURCE_ADMIN).number
            store.activate_version("shop", number)

        assert statuses(store) == {5: SUPERSEDED, 6: SUPERSEDED, 7: ACTIVE}
    finally:
        store.close()


def test_pruning_spares_active_pending_and_newest_good_version(tmp_path) -> None:
    store = Store.open(sqlite_url(tmp_path), cookie_history=2)
    try:
        store.add_account("shop", cookie(1), "2201")
        store.activate_version(
            "shop", store.propose_cookie("shop", cookie(2), source=SOURCE_ADMIN).number
        )
        # 1 superseded (newest good), 2 active; now failures pile up
        for n in range(3, 6):
            number = store.propose_cookie("shop", cookie(n), source=SOURCE_ADMIN).number
            store.fail_version("shop", number, "bad")
        store.propose_cookie("shop", cookie(6), source=SOURCE_ADMIN)

        assert statuses(store) == {1: SUPERSEDED, 2: ACTIVE, 6: PENDING}
        assert store.rollback_target("shop").number == 1
    finally:
        store.close()


def test_version_numbers_keep_growing_after_pruning(tmp_path) -> None:
    store = Store.open(sqlite_url(tmp_path), cookie_history=2)
    try:
        store.add_account("shop", cookie(1), "2201")
        numbers = []
        for n in range(2, 6):
            numbers.append(store.propose_cookie("shop", cookie(n), source=SOURCE_ADMIN).number)
            store.activate_version("shop", numbers[-1])
        assert numbers == [2, 3, 4, 5]
    finally:
        store.close()


def test_database_refuses_a_second_active_version(shop: Store) -> None:
    pending = shop.propose_cookie("shop", cookie(2), source=SOURCE_ADMIN)
    rows = shop._m.CookieRow
    with pytest.raises(StorageError), shop._write("forcing a second active version"):
        rows.update(status=ACTIVE).where(rows.number == pending.number).execute()
    assert statuses(shop) == {1: ACTIVE, 2: PENDING}


def test_unknown_source_or_demotion_is_refused(shop: Store) -> None:
    with pytest.raises(InvalidValueError, match="cookie source must be one of") as caught:
        shop.propose_cookie("shop", cookie(2), source="guess")
    assert (caught.value.field, caught.value.value) == ("the cookie source", "guess")
    with pytest.raises(InvalidValueError, match="demote_to"):
        shop.activate_version("shop", 1, demote_to=FAILED)


def test_cookie_value_is_not_in_the_repr(shop: Store) -> None:
    assert "cookie2" not in repr(shop.active_cookie("shop"))
