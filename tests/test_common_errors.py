"""The exception tree keeps its data as attributes and builds the sentence in ``__str__``."""

from __future__ import annotations

import copy
import pickle

import pytest

from common.errors import (
    AccountNotFoundError,
    ConflictError,
    CookieError,
    InvalidValueError,
    NotFoundError,
    NotRunningError,
    ProtocolError,
    StorageError,
    VersionNotFoundError,
    XianyuSupervisorError,
)


def test_the_sentence_is_built_from_operation_reason_and_hint():
    error = ConflictError("cookie belongs to seller 9", account="shop", hint="pass force")
    assert str(error) == "cookie belongs to seller 9; pass force"
    assert (error.reason, error.account, error.hint) == (
        "cookie belongs to seller 9",
        "shop",
        "pass force",
    )
    failed = StorageError("disk I/O error", operation="adding account 'shop'", database="db.sqlite")
    assert str(failed) == "adding account 'shop' failed on db.sqlite: disk I/O error"
    closed = StorageError("the store is closed", operation="reading events")
    assert str(closed) == "reading events failed: the store is closed"


def test_a_bare_reason_works_for_every_class():
    for cls in (
        XianyuSupervisorError,
        CookieError,
        ProtocolError,
        ConflictError,
        StorageError,
        NotFoundError,
    ):
        assert str(cls("what is wrong")) == "what is wrong"


def test_not_found_errors_name_the_thing_and_what_to_do():
    account = AccountNotFoundError("shop-7")
    assert str(account) == "account 'shop-7' not found; run 'ctl status' to list accounts"
    assert isinstance(account, NotFoundError | LookupError)
    version = VersionNotFoundError("shop", 9)
    assert (version.account, version.number) == ("shop", 9)
    assert str(version).startswith(
        "cookie version 9 of account 'shop' not found; run 'ctl history shop'"
    )


def test_invalid_values_are_value_errors_that_say_what_was_expected():
    error = InvalidValueError("pause_minutes", "0 (never) or more", value=-1)
    assert isinstance(error, ValueError)
    assert (error.field, error.expected, error.value) == ("pause_minutes", "0 (never) or more", -1)
    assert str(error) == "pause_minutes must be 0 (never) or more, got -1"
    assert str(InvalidValueError("rule 3", "an object")) == "rule 3 must be an object"


def test_protocol_errors_are_placed_in_their_item_without_losing_the_field():
    inner = ProtocolError("is missing", field="body.data")
    placed = inner.at("push item 2 of 3").at("frame 7")
    assert str(placed) == "frame 7: push item 2 of 3: field 'body.data' is missing"
    assert (placed.field, placed.reason) == ("body.data", "is missing")


def test_not_running_is_also_a_runtime_error():
    with pytest.raises(RuntimeError, match="not started"):
        raise NotRunningError("the service is not started")


@pytest.mark.parametrize(
    "error",
    [
        VersionNotFoundError("shop", 3),
        InvalidValueError("x", "positive", value=0),
        StorageError("boom", operation="op", database="db"),
        ProtocolError("is missing", field="a").at("item 1"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_errors_survive_pickle_and_copy_with_their_attributes(error):
    for clone in (pickle.loads(pickle.dumps(error)), copy.copy(error)):
        assert type(clone) is type(error)
        assert str(clone) == str(error)
        assert vars(clone) == vars(error)
