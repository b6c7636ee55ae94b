"""Cluster mode's storage: forwarded operations, status snapshots and the NOTIFY Listener.

Two Stores on one PostgreSQL schema act as two nodes (``two_nodes``).
"""

from __future__ import annotations

import threading
import time

import psycopg2
import pytest
from structlog.testing import capture_logs

from common.errors import NotFoundError
from storage import Store
from storage.listener import Listener
from tests.plugins.timing import scaled, wait_for

pytestmark = pytest.mark.postgres

COOKIE = "unb=1; c=1"


@pytest.fixture
def nodes(two_nodes: tuple[Store, Store]) -> tuple[Store, Store]:
    a, _ = two_nodes
    for account_id in ("shop", "other"):
        a.add_account(account_id, COOKIE, "1")
    return two_nodes


def test_an_operation_goes_from_caller_to_owner_and_back(nodes: tuple[Store, Store]) -> None:
    caller, owner = nodes
    first = caller.enqueue_operation(
        "shop", caller_node="n1", method="update_cookie", args={"cookie": "unb=1; c=2"}
    )
    second = caller.enqueue_operation("shop", caller_node="n1", method="restart", args={})
    caller.enqueue_operation("other", caller_node="n1", method="restart", args={})

    claimed = owner.claim_operations("n2", ["shop"])
    assert [(op.id, op.method, op.state, op.owner_node) for op in claimed] == [
        (first, "update_cookie", "running", "n2"),
        (second, "restart", "running", "n2"),
    ]
    assert claimed[0].args == {"cookie": "unb=1; c=2"}
    assert "c=2" not in repr(claimed[0])
    assert owner.claim_operations("n2", ["shop"]) == []  # claimed once only
    assert owner.claim_operations("n2", []) == []

    owner.finish_operation(first, result={"version": 2})
    owner.finish_operation(second, error={"code": "conflict", "message": "no"})
    done = caller.get_operation(first)
    assert (done.state, done.result, done.error, done.args) == ("done", {"version": 2}, None, {})
    failed = caller.get_operation(second)
    assert (failed.state, failed.error) == ("failed", {"code": "conflict", "message": "no"})
    with pytest.raises(NotFoundError, match="operation 999999 not found"):
        caller.get_operation(999999)


def test_a_cancelled_operation_never_runs(nodes: tuple[Store, Store]) -> None:
    caller, owner = nodes
    op_id = caller.enqueue_operation("shop", caller_node="n1", method="restart", args={"x": 1})
    assert caller.cancel_operation(op_id, "no answer within 10s")
    assert not caller.cancel_operation(op_id, "again")
    assert owner.claim_operations("n2", ["shop"]) == []
    op = caller.get_operation(op_id)
    assert (op.state, op.args) == ("failed", {})
    assert op.error == {"code": "unavailable", "message": "no answer within 10s"}


def test_a_new_owner_interrupts_what_the_old_one_was_running(nodes: tuple[Store, Store]) -> None:
    caller, owner = nodes
    running = caller.enqueue_operation("shop", caller_node="n1", method="restart", args={})
    assert [op.id for op in owner.claim_operations("n2", ["shop"])] == [running]
    waiting = caller.enqueue_operation("shop", caller_node="n1", method="restart", args={})

    assert caller.interrupt_operations("shop") == 1
    op = caller.get_operation(running)
    assert op.state == "failed"
    assert op.error == {"code": "internal", "message": "interrupted: the node running it stopped"}
    owner.finish_operation(running, result={})  # the old owner finishing late changes nothing
    assert caller.get_operation(running).state == "failed"
    assert caller.get_operation(waiting).state == "pending"  # the new owner will run it

    assert caller.prune_operations(time.time() + 60) == 1
    with pytest.raises(NotFoundError):
        caller.get_operation(running)


def test_snapshots_are_upserted_per_account(nodes: tuple[Store, Store]) -> None:
    a, b = nodes
    a.save_snapshots("n1", {"shop": (1, {"state": "running"}), "gone": (1, {})})
    b.save_snapshots("n2", {"shop": (2, {"state": "backfilling"}), "other": (1, {"x": 1})})
    b.save_snapshots("n2", {})
    snapshots = a.snapshots()
    assert sorted(snapshots) == ["other", "shop"]  # an unknown account is skipped
    shop = snapshots["shop"]
    assert (shop.node_id, shop.epoch, shop.row) == ("n2", 2, {"state": "backfilling"})
    assert 0 <= shop.age_s < 30
    a.remove_account("shop")
    assert sorted(a.snapshots()) == ["other"]


# --- the Listener -------------------------------------------------------------------------


def collect(listener: Listener, wanted: int) -> list[tuple[str, str]]:
    got: list[tuple[str, str]] = []

    def enough() -> bool:
        got.extend(listener.wait(0.05))
        return len(got) >= wanted

    wait_for(enough, timeout=5, interval=0, what=f"{wanted} notifications")
    return got


def test_the_listener_hears_another_store(nodes: tuple[Store, Store], postgres_url: str) -> None:
    a, b = nodes
    listener = Listener(b.url, ["xianyu_leases", "xianyu_ops", "xianyu_op_done"])
    try:
        assert listener.wait(0.01) == []  # connects and LISTENs
        a.add_account("new", COOKIE, "1")
        op_id = a.enqueue_operation("shop", caller_node="n1", method="restart", args={})
        a.notify("xianyu_leases", "hand-off")
        assert collect(listener, 3) == [
            ("xianyu_leases", "new"),
            ("xianyu_ops", "shop"),
            ("xianyu_leases", "hand-off"),
        ]
        b.claim_operations("n2", ["shop"])
        b.finish_operation(op_id, result={})
        assert collect(listener, 1) == [("xianyu_op_done", str(op_id))]
    finally:
        listener.close()


def test_the_listener_survives_losing_its_connection(
    nodes: tuple[Store, Store], postgres_url: str
) -> None:
    a, _ = nodes
    listener = Listener(postgres_url, ["xianyu_ops"])
    try:
        assert listener.wait(0.01) == []
        backend = listener._conn.get_backend_pid()
        killer = psycopg2.connect(postgres_url)
        killer.autocommit = True
        try:
            with killer.cursor() as cur:
                cur.execute("SELECT pg_terminate_backend(%s)", (backend,))
        finally:
            killer.close()

        def heard() -> bool:
            a.notify("xianyu_ops", "after")
            return ("xianyu_ops", "after") in listener.wait(0.05)

        wait_for(heard, timeout=10, interval=0, what="the listener to reconnect")
    finally:
        listener.close()


def test_close_wakes_a_waiting_listener(postgres_url: str) -> None:
    listener = Listener(postgres_url, ["xianyu_ops"])
    assert listener.wait(0.01) == []
    done = threading.Event()
    results: list[list[tuple[str, str]]] = []

    def waiting() -> None:
        results.append(listener.wait(30))
        done.set()

    thread = threading.Thread(target=waiting)
    thread.start()
    listener.close()
    assert done.wait(timeout=scaled(5))
    thread.join(timeout=scaled(5))
    assert results == [[]]
    assert listener.wait(0.01) == []
    listener.close()


def test_an_unreachable_database_is_waited_out_and_logged_once() -> None:
    tries = 3
    listener = Listener("postgresql://xianyu:s3cret@127.0.0.1:1/none", ["xianyu_ops"])
    try:
        with capture_logs() as logs:
            for _ in range(tries):
                assert listener.wait(0.01) == []
        warnings = [entry for entry in logs if entry["log_level"] == "warning"]
        assert [entry["event"] for entry in warnings] == ["listener_connection_lost"]
        assert "s3cret" not in repr(logs)
        assert "***" in warnings[0]["database"]
    finally:
        listener.close()
