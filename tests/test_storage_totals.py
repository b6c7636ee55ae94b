"""Lifetime counters per account survive a reopen and go with the account (issue 12 §1.16)."""

from __future__ import annotations

import pytest

from common.errors import NotFoundError
from storage import Store
from storage.totals import Totals


def test_totals_add_up_survive_a_reopen_and_leave_with_the_account(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    store = Store.open(url)
    store.add_account("a", "unb=1; cookie2=x", "1")
    assert store.totals("a") == Totals()
    store.add_totals("a", Totals(received=3, replied=2))
    store.add_totals("a", Totals(received=1, crashes=1))
    store.add_totals("a", Totals())  # nothing new: no write
    store.close()
    store = Store.open(url)
    assert store.totals("a") == Totals(received=4, replied=2, crashes=1)
    assert store.all_totals() == {"a": Totals(4, 2, 1)}
    store.remove_account("a")
    assert store.all_totals() == {}
    store.close()


def test_totals_of_an_unknown_account_are_refused(store: Store) -> None:
    with pytest.raises(NotFoundError):
        store.add_totals("nobody", Totals(received=1))
