"""``OperationRunner``: the owner's side of the operations table."""

from __future__ import annotations

import threading

from cluster.operations import OperationRunner
from tests.plugins.cluster_fakes import FakeClusterStore
from tests.plugins.control import FakeSupervisor
from tests.plugins.timing import wait_for

COOKIE = "unb=2200000001; cookie2=c2secret"


def _runner(
    store: FakeClusterStore, local: FakeSupervisor, held: dict[str, int]
) -> OperationRunner:
    # a poll this long never fires in a test: only notices and wake() make it claim
    return OperationRunner(
        store,
        local,
        node_id="node-b",
        held=lambda: dict(held),
        poll_s=3600.0,
        listener_factory=lambda: store.listener(["xianyu_ops"]),
    ).start()


def test_operations_of_a_freshly_claimed_account_run_on_wake(cluster_store):
    local, held = FakeSupervisor(), {}
    cluster_store.add_account("b1", COOKIE, "2200000001")
    op_id = cluster_store.enqueue_operation("b1", caller_node="node-a", method="kill", args={})
    runner = _runner(cluster_store, local, held)
    try:
        local.add("b1", COOKIE)
        held["b1"] = 1
        runner.wake()
        op = wait_for(lambda: cluster_store.get_operation(op_id).result, what="the kill ran")
        assert op == {"outcome": "killed"}
        assert cluster_store.get_operation(op_id).owner_node == "node-b"
    finally:
        runner.stop()


def test_a_notice_wakes_the_runner(cluster_store):
    local, held = FakeSupervisor(), {"b1": 1}
    cluster_store.add_account("b1", COOKIE, "2200000001")
    local.add("b1", COOKIE)
    runner = _runner(cluster_store, local, held)
    try:
        args = {"cookie": COOKIE + "; x=1", "save": True, "force": False, "wait": True}
        op_id = cluster_store.enqueue_operation(
            "b1", caller_node="node-a", method="update", args=args
        )
        wait_for(lambda: cluster_store.get_operation(op_id).state == "done", what="update ran")
        assert cluster_store.get_operation(op_id).args == {}  # the cookie is not kept
    finally:
        runner.stop()


def test_an_account_lost_before_its_turn_answers_unavailable(cluster_store):
    local, held = FakeSupervisor(), {"b1": 1}
    cluster_store.add_account("b1", COOKIE, "2200000001")
    local.add("b1", COOKIE)
    local.block_updates.set()
    runner = _runner(cluster_store, local, held)
    try:
        update = {"cookie": COOKIE + "; x=1", "save": True, "force": False, "wait": True}
        first = cluster_store.enqueue_operation("b1", caller_node="a", method="update", args=update)
        assert local.update_entered.wait(5)
        second = cluster_store.enqueue_operation("b1", caller_node="a", method="kill", args={})
        wait_for(lambda: cluster_store.get_operation(second).state == "running", what="claimed")
        del held["b1"]  # the lease went to another node while the update ran
        local.release.set()
        error = wait_for(lambda: cluster_store.get_operation(second).error, what="refused")
        assert error["code"] == "unavailable"
        assert "no longer holds account 'b1'" in error["message"]
        assert cluster_store.get_operation(first).state == "done"
    finally:
        local.release.set()
        runner.stop()


def test_stop_fails_what_it_claimed_but_did_not_start(cluster_store):
    local, held = FakeSupervisor(), {"b1": 1}
    cluster_store.add_account("b1", COOKIE, "2200000001")
    local.add("b1", COOKIE)
    local.block_updates.set()
    runner = _runner(cluster_store, local, held)
    update = {"cookie": COOKIE + "; x=1", "save": True, "force": False, "wait": True}
    first = cluster_store.enqueue_operation("b1", caller_node="a", method="update", args=update)
    assert local.update_entered.wait(5)
    queued = cluster_store.enqueue_operation("b1", caller_node="a", method="kill", args={})
    wait_for(lambda: cluster_store.get_operation(queued).state == "running", what="claimed")
    stopper = threading.Thread(target=runner.stop)
    stopper.start()
    wait_for(lambda: cluster_store.get_operation(queued).error, what="the queued one failed")
    local.release.set()
    stopper.join(10)
    assert not stopper.is_alive()
    assert cluster_store.get_operation(queued).error["code"] == "unavailable"
    assert cluster_store.get_operation(first).state == "done"
