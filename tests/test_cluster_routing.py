"""Control from any node (docs/cluster.md): an account command given to node A for an
account node B holds goes through the operations table and comes back as B's own answer."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from cluster.nodes import node_row
from common.errors import ConflictError, NotFoundError
from control.dispatch import Dispatcher
from tests.plugins.cluster_fakes import FakeClusterStore, FakeNode
from tests.plugins.timing import wait_for
from tests.plugins.vocabulary import STATUS_FIELDS

COOKIE = "unb=2200000001; cookie2=c2secret; _m_h5_tk=tk123_1700000000000"
OTHER_SELLER = "unb=2200000999; cookie2=other"


def cookie(n: int) -> str:
    return f"unb=22000000{n:02d}; cookie2=c2secret{n}"


@pytest.fixture
def nodes(cluster_store: FakeClusterStore) -> Iterator[tuple[FakeNode, FakeNode]]:
    a, b = FakeNode(cluster_store, "node-a"), FakeNode(cluster_store, "node-b")
    for n, account in enumerate(("a1", "b1", "b2", "free"), start=1):
        cluster_store.add_account(account, cookie(n), f"22000000{n:02d}")
    a.take("a1", cookie(1))
    b.take("b1", cookie(2))
    b.take("b2", cookie(3))
    yield a, b
    b.local.release.set()
    a.close()
    b.close()


def test_a_command_for_another_nodes_account_is_answered_by_that_node(nodes):
    a, b = nodes
    result = a.supervisor.update("b1", cookie(2) + "; x=1")
    assert (result["outcome"], result["version"], result["swap_ms"]) == ("applied", 2, 12.5)
    assert b.local.accounts["b1"]["cookie_version"] == 2
    assert "b1" not in a.local.accounts
    (op,) = a.store.operations()
    assert (op.method, op.state, op.owner_node, op.args) == ("update", "done", "node-b", {})


def test_a_held_account_is_served_locally_without_an_operation(nodes):
    a, _ = nodes
    assert a.supervisor.kill("a1") == {"outcome": "killed"}
    assert a.store.operations() == []


def test_errors_come_back_with_the_owners_code_and_message(nodes):
    a, b = nodes
    with pytest.raises(ConflictError) as remote:
        a.supervisor.update("b1", OTHER_SELLER)
    with pytest.raises(ConflictError) as local:
        b.local.update("b1", OTHER_SELLER)
    assert str(remote.value) == str(local.value)
    answer = Dispatcher(a.supervisor).call("rollback", {"account": "b1", "to_version": 7})
    assert answer["error"] == {"code": "not_found", "message": "account 'b1' has no version 7"}


def test_an_unknown_account_is_not_found_and_queues_nothing(nodes):
    a, _ = nodes
    with pytest.raises(NotFoundError):
        a.supervisor.restart("ghost")
    answer = Dispatcher(a.supervisor).call("kill", {"account": "ghost"})
    assert answer["error"]["code"] == "not_found"
    assert a.store.operations() == []


def test_a_crash_on_the_owner_is_internal_without_its_text(nodes):
    a, b = nodes

    def broken(account_id: str) -> None:
        raise RuntimeError("secret detail")

    b.local.kill = broken  # type: ignore[method-assign]
    answer = Dispatcher(a.supervisor).call("kill", {"account": "b1"})
    assert answer["error"]["code"] == "internal"
    assert "secret detail" not in answer["error"]["message"]
    assert "RuntimeError" in answer["error"]["message"]


def test_no_owner_within_the_deadline_cancels_and_answers_unavailable(cluster_store):
    a = FakeNode(cluster_store, "node-a", timeout_s=0.3)
    c = FakeNode(cluster_store, "node-c")
    try:
        cluster_store.add_account("free", COOKIE, "2200000001")
        answer = Dispatcher(a.supervisor).call("restart", {"account": "free"})
        assert answer["error"]["code"] == "unavailable"
        assert "no node served account 'free' within 0.3s" in answer["error"]["message"]
        (op,) = cluster_store.operations()
        assert (op.state, op.error["code"]) == ("failed", "unavailable")
        # a node claiming the account later never runs what its caller gave up on
        c.take("free", COOKIE)
        assert c.supervisor.kill("free") == {"outcome": "killed"}  # served locally
        b = FakeNode(cluster_store, "node-b")
        try:  # an operation queued after it runs, so the cancelled one had its turn
            assert b.supervisor.kill("free") == {"outcome": "killed"}
        finally:
            b.close()
        assert c.local.accounts["free"]["restarts"] == 0
    finally:
        a.close()
        c.close()


def test_the_polling_fallbacks_serve_without_any_notice(cluster_store):
    a = FakeNode(cluster_store, "node-a", listen=False)
    b = FakeNode(cluster_store, "node-b", listen=False)
    try:
        cluster_store.add_account("b1", COOKIE, "2200000001")
        b.take("b1", COOKIE)
        assert a.supervisor.restart("b1") == {"outcome": "restarted", "stop_ms": 3.2}
    finally:
        a.close()
        b.close()


def test_one_accounts_long_operation_does_not_hold_up_another_account(nodes):
    a, b = nodes
    b.local.block_updates.set()
    answers: list[object] = []
    slow = threading.Thread(
        target=lambda: answers.append(a.supervisor.update("b1", cookie(2) + "; y=1"))
    )
    slow.start()
    assert b.local.update_entered.wait(5)
    assert a.supervisor.kill("b2") == {"outcome": "killed"}  # while b1's update still runs
    assert answers == []
    b.local.release.set()
    slow.join(5)
    assert answers and answers[0]["outcome"] == "applied"


def test_one_accounts_operations_run_in_the_order_they_were_queued(nodes):
    a, b = nodes
    b.local.block_updates.set()
    first = threading.Thread(target=lambda: a.supervisor.update("b1", cookie(2) + "; z=1"))
    first.start()
    assert b.local.update_entered.wait(5)
    second = threading.Thread(target=lambda: a.supervisor.rollback("b1", to_version=1))
    second.start()
    wait_for(lambda: len(a.store.operations()) == 2, what="the rollback queued")
    b.local.release.set()
    first.join(5)
    second.join(5)
    assert b.local.accounts["b1"]["cookie_version"] == 1  # the rollback came after the update


def test_a_method_no_one_may_route_is_refused_by_the_owner(nodes):
    a, b = nodes
    op_id = a.store.enqueue_operation("b1", caller_node="node-a", method="shutdown", args={})
    b.runner.wake()
    op = wait_for(lambda: a.store.get_operation(op_id).error, what="the refusal")
    assert op["code"] == "bad_request"


def test_status_lists_every_account_with_its_node_and_epoch(nodes):
    a, b = nodes
    b.store.save_snapshots("node-b", {"b1": (1, {**b.local.accounts["b1"], "state": "online"})})
    rows = a.supervisor.status()["accounts"]
    assert [r["id"] for r in rows] == ["a1", "b1", "b2", "free"]
    by_id = {r["id"]: r for r in rows}
    assert (by_id["a1"]["node"], by_id["a1"]["lease_epoch"]) == ("node-a", 1)
    assert (by_id["b1"]["node"], by_id["b1"]["state"]) == ("node-b", "online")
    assert by_id["b2"]["state"] == "starting"  # held by node-b, not reported yet
    assert (by_id["free"]["state"], by_id["free"]["node"]) == ("unowned", None)
    for row in rows:
        assert {"node", "lease_epoch"} <= set(row), row["id"]
    for built in ("b2", "free"):  # rows no node reported: every field still present
        assert set(by_id[built]) == STATUS_FIELDS | {"node", "lease_epoch"}


def test_a_dead_nodes_accounts_are_unowned(nodes):
    a, b = nodes
    b.store.deregister_node("node-b")
    (row,) = a.supervisor.status("b1")["accounts"]
    assert (row["state"], row["node"], row["lease_epoch"]) == ("unowned", None, 1)
    with pytest.raises(NotFoundError):
        a.supervisor.status("ghost")


def test_nodes_lists_the_live_nodes(nodes):
    a, _ = nodes
    result = a.supervisor.nodes()
    assert [n["id"] for n in result["nodes"]] == ["node-a", "node-b"]
    for row in result["nodes"]:
        assert set(row) == {
            "id",
            "host",
            "pid",
            "accounts",
            "heartbeat_age_s",
            "started_at",
            "version",
        }
        assert row["started_at"].endswith("+00:00")
    assert node_row(a.store.nodes()[0])["host"] == "host-node-a"


def test_set_pins_here_and_sets_the_fields_where_the_account_runs(nodes):
    a, b = nodes
    result = a.supervisor.set_account("b1", remark="vip", node="node-a")
    assert result["account"]["remark"] == "vip"
    assert b.local.accounts["b1"]["remark"] == "vip"
    assert a.store.leases()["b1"].pinned_node == "node-a"
    # only a pin: answered with the account's fields (read from the shared database; the
    # fake supervisor of a node only knows its own accounts)
    assert a.supervisor.set_account("a1", node="node-b")["account"]["id"] == "a1"
    assert a.store.leases()["a1"].pinned_node == "node-b"
    a.supervisor.set_account("a1", node="")
    assert a.store.leases()["a1"].pinned_node is None


def test_a_deadline_while_running_says_it_may_still_complete(cluster_store):
    a = FakeNode(cluster_store, "node-a", timeout_s=0.3)
    b = FakeNode(cluster_store, "node-b")
    try:
        cluster_store.add_account("b1", COOKIE, "2200000001")
        b.take("b1", COOKIE)
        b.local.block_updates.set()
        answer = Dispatcher(a.supervisor).call(
            "update", {"account": "b1", "cookie": COOKIE + "; x=2"}
        )
        assert answer["error"]["code"] == "internal"
        assert "it may still complete" in answer["error"]["message"]
    finally:
        b.local.release.set()
        a.close()
        b.close()
