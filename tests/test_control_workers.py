"""The control socket's daemon worker pool: bounded, on demand, never holding up exit."""

from __future__ import annotations

import threading

import pytest

from control.workers import DaemonWorkers
from tests.plugins.timing import wait_for


def test_results_and_exceptions_reach_the_future():
    pool = DaemonWorkers(2, name="t")
    try:
        assert pool.submit(lambda a, b: a + b, 2, b=3).result(timeout=5) == 5
        with pytest.raises(ZeroDivisionError):
            pool.submit(lambda: 1 / 0).result(timeout=5)
    finally:
        pool.shutdown()


def test_threads_start_on_demand_up_to_the_limit():
    pool = DaemonWorkers(3, name="t")
    release = threading.Event()
    try:
        futures = [pool.submit(release.wait, 5) for _ in range(10)]
        wait_for(lambda: pool.alive() == 3, what="three workers")
        release.set()
        assert all(f.result(timeout=5) for f in futures)
        assert pool.alive() == 3
    finally:
        release.set()
        pool.shutdown()
    assert pool.alive() == 0


def test_sequential_work_reuses_one_thread():
    pool = DaemonWorkers(8, name="t")
    try:
        for i in range(20):
            assert pool.submit(lambda x=i: x).result(timeout=5) == i
        assert pool.alive() == 1
    finally:
        pool.shutdown()


def test_shutdown_gives_up_on_a_stuck_worker_which_is_a_daemon():
    pool = DaemonWorkers(1, name="t")
    release = threading.Event()
    started = threading.Event()
    stuck = pool.submit(lambda: started.set() or release.wait(10))
    queued = pool.submit(lambda: "never")
    assert started.wait(timeout=5)
    pool.shutdown(wait=True, cancel_futures=True, timeout=0.01)
    assert queued.cancelled()
    assert pool.alive() == 1
    assert all(t.daemon for t in threading.enumerate() if t.name.startswith("t-"))
    with pytest.raises(RuntimeError):
        pool.submit(lambda: None)
    release.set()
    assert stuck.result(timeout=5)
    wait_for(lambda: pool.alive() == 0, what="the worker to finish")
