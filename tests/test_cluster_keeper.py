"""The lease keeper against a real PostgreSQL database, with a scripted supervisor and a
clock the test moves: claims, fair shares, lost and lapsed leases, hand-offs."""

from __future__ import annotations

import concurrent.futures
from typing import Any

import pytest

from cluster.identity import NodeIdentity
from cluster.keeper import LeaseKeeper
from common.errors import NodeIdInUseError
from common.settings import Timings

pytestmark = pytest.mark.postgres

TIMINGS = Timings(lease_renew_s=5.0, lease_ttl_s=15.0, lease_margin_s=3.0)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class ScriptedSupervisor:
    """Records the keeper's word; a release is answered when the test says so."""

    def __init__(self) -> None:
        self.adopted: list[tuple[str, int]] = []
        self.lost: list[tuple[str, str]] = []
        self.releases: dict[str, concurrent.futures.Future[Any]] = {}

    def adopt(self, account_id: str, epoch: int, *, start_in_s: float = 0.0) -> None:
        self.adopted.append((account_id, epoch))

    def lease_lost(self, account_id: str, reason: str) -> None:
        self.lost.append((account_id, reason))

    def release(self, account_id: str) -> concurrent.futures.Future[Any]:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self.releases[account_id] = future
        return future

    def status_rows(self) -> concurrent.futures.Future[dict[str, Any]]:
        future: concurrent.futures.Future[dict[str, Any]] = concurrent.futures.Future()
        future.set_result({"accounts": [{"id": a, "state": "online"} for a, _ in self.adopted]})
        return future


def keeper(store: Any, node_id: str, clock: Clock) -> tuple[LeaseKeeper, ScriptedSupervisor]:
    identity = NodeIdentity(node_id, "host-a", 4242, f"/srv/{node_id}", "test")
    kept = LeaseKeeper(store, identity, TIMINGS, clock=clock)
    kept.register()
    supervisor = ScriptedSupervisor()
    kept.attach(supervisor)
    return kept, supervisor


def add_accounts(store: Any, count: int) -> None:
    for i in range(count):
        store.add_account(f"shop{i}", f"unb=22{i:04d}; cookie2=x", f"22{i:04d}")


def test_a_lone_node_claims_every_account_and_keeps_it_while_renewing(two_nodes):
    store, _ = two_nodes
    add_accounts(store, 4)
    clock = Clock()
    node, supervisor = keeper(store, "n1", clock)
    assert node.round()
    assert sorted(a for a, _ in supervisor.adopted) == ["shop0", "shop1", "shop2", "shop3"]
    assert all(epoch == 1 for _, epoch in supervisor.adopted)
    assert node.valid("shop0")
    clock.now += TIMINGS.lease_renew_s
    assert node.round()
    assert node.valid("shop0") and not supervisor.lost


def test_a_deadline_that_lapsed_before_the_renewal_came_back_replaces_the_generation(two_nodes):
    store, _ = two_nodes
    add_accounts(store, 1)
    clock = Clock()
    node, supervisor = keeper(store, "n1", clock)
    node.round()
    # the round came 13 s late: the lease is still ours on the database's clock, but the
    # fence went up meanwhile, so the generation may have dropped what it handled
    clock.now += TIMINGS.lease_ttl_s - TIMINGS.lease_margin_s + 1
    assert not node.valid("shop0")
    node.round()
    assert [a for a, _ in supervisor.lost] == ["shop0"]
    lease = store.leases()["shop0"]
    # released at once and claimed again by this node under a new epoch
    assert (lease.node_id, lease.epoch) == ("n1", 2)
    assert supervisor.adopted[-1] == ("shop0", 2)


def test_a_second_node_takes_its_share_through_a_graceful_hand_off(two_nodes):
    first_store, second_store = two_nodes
    add_accounts(first_store, 4)
    clock = Clock()
    first, first_sup = keeper(first_store, "n1", clock)
    first.round()
    second, second_sup = keeper(second_store, "n2", clock)
    second.round()  # nothing free yet
    assert second_sup.adopted == []
    first.round()  # over its share of 2: hands off 2, waits for their generations to stop
    assert sorted(first_sup.releases) == ["shop2", "shop3"]
    assert set(first.held()) == {"shop0", "shop1", "shop2", "shop3"}
    for future in first_sup.releases.values():
        future.set_result({"outcome": "released"})
    first.round()
    assert set(first.held()) == {"shop0", "shop1"}
    second.round()
    assert sorted(second_sup.adopted) == [("shop2", 2), ("shop3", 2)]


def test_a_live_node_id_is_refused_and_a_dead_incarnation_taken_over(two_nodes):
    first_store, second_store = two_nodes
    clock = Clock()
    keeper(first_store, "n1", clock)
    other_host = NodeIdentity("n1", "host-b", 7, "/srv/n1", "test")
    with pytest.raises(NodeIdInUseError) as refused:
        LeaseKeeper(second_store, other_host, TIMINGS, clock=clock).register()
    assert refused.value.host == "host-a"
    # the same host, a pid that is not running: a previous process of this node
    dead = NodeIdentity("n1", "host-a", 4242, "/srv/n1", "test")
    assert dead.is_dead_incarnation("host-a", 2**22 + 12345)
