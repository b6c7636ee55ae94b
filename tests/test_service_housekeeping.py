"""Processed message ids are forgotten after their retention, on a timer, and only those."""

from __future__ import annotations

import gc
import time

from common.io_loop import IoLoop
from service.housekeeping import Housekeeping
from tests.plugins.timing import MS, wait_for

COOKIE = "unb=2200000000001; cookie2=abc; _m_h5_tk=0123456789abcdef0123456789abcdef_1"


def test_prune_forgets_only_ids_older_than_the_retention(sqlite_store):
    sqlite_store.add_account("shop", COOKIE, "2200000000001")
    assert sqlite_store.mark_processed("shop", "1.PNM")
    housekeeping = Housekeeping(sqlite_store, IoLoop(), retention_s=3600)
    assert housekeeping.prune_now() == 0
    assert sqlite_store.is_processed("shop", "1.PNM")
    forgetful = Housekeeping(sqlite_store, IoLoop(), retention_s=-1)
    assert forgetful.prune_now() == 1
    assert not sqlite_store.is_processed("shop", "1.PNM")


def test_the_timer_prunes_without_being_asked(sqlite_store):
    sqlite_store.add_account("shop", COOKIE, "2200000000001")
    sqlite_store.mark_processed("shop", "1.PNM")
    io = IoLoop().start()
    housekeeping = Housekeeping(sqlite_store, io, retention_s=-1, interval_s=0.01).start()
    try:
        wait_for(lambda: not sqlite_store.is_processed("shop", "1.PNM"), what="the timer to prune")
        housekeeping.stop()
        assert sqlite_store.mark_processed("shop", "2.PNM")  # the store is still usable
        time.sleep(50 * MS)  # the rare real wait: five intervals in which nothing may happen
        assert sqlite_store.is_processed("shop", "2.PNM")  # stop() really stopped the timer
    finally:
        housekeeping.stop()
        io.stop()


def test_the_heap_is_settled_once_the_accounts_are_up(sqlite_store):
    io = IoLoop().start()
    housekeeping = Housekeeping(sqlite_store, io, retention_s=3600, settle_after_s=0.01)
    try:
        housekeeping.start()
        wait_for(lambda: gc.get_freeze_count() > 0, what="the heap to be frozen")
    finally:
        housekeeping.stop()
        io.stop()
        gc.unfreeze()
