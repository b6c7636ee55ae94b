"""Cluster mode's storage: nodes, leases and fenced writes (docs/cluster.md).

Two Stores on one PostgreSQL schema act as two nodes. Ownership times are the database's,
so an expiry is waited for with a tiny ``ttl_s`` and a polling deadline, never a sleep.
"""

from __future__ import annotations

import pickle
import threading

import psycopg2
import pytest

from common.errors import (
    ConflictError,
    LeaseLostError,
    NodeIdInUseError,
    NotFoundError,
    StorageError,
)
from storage import FAILED, PENDING, Store, migrations
from storage.engine import open_database
from tests.plugins.timing import wait_for

COOKIE = "unb=1; c=1"
TTL = 30.0  # a lease that does not expire during a test
SHORT_TTL = 0.2


def add_accounts(store: Store, count: int) -> list[str]:
    ids = [f"shop-{n:02d}" for n in range(count)]
    for account_id in ids:
        store.add_account(account_id, COOKIE, "1")
    return ids


def register(store: Store, node_id: str, *, ttl_s: float = TTL, replace: bool = False) -> None:
    store.register_node(
        node_id, host="h1", pid=42, data_dir="/d", version="1.0", ttl_s=ttl_s, replace=replace
    )


# --- schema -------------------------------------------------------------------------------


def test_a_new_account_has_a_free_lease(store_url: str) -> None:
    store = Store.open(store_url)
    try:
        store.add_account("shop", COOKIE, "1")
        row = store._db.execute_sql(
            "SELECT node_id, epoch, expires_at, pinned_node FROM account_lease"
        ).fetchall()
        assert [tuple(r) for r in row] == [(None, 0, None, None)]
        store.remove_account("shop")
        assert store._db.execute_sql("SELECT COUNT(*) FROM account_lease").fetchone()[0] == 0
    finally:
        store.close()


def test_migrating_gives_every_existing_account_a_free_lease(store_url: str) -> None:
    db = open_database(store_url, busy_timeout_s=1.0)
    try:
        migrations.upgrade(db, target=migrations.LATEST - 1)
        for account_id in ("a", "b"):
            db.execute_sql(
                "INSERT INTO account (id, user_id, nick, enabled, remark, pause_minutes, "
                "active_version, created_ms, updated_ms, proxy) "
                f"VALUES ('{account_id}', '1', '', true, '', 10, 1, 0, 0, '')"
            )
    finally:
        db.close()

    store = Store.open(store_url)
    try:
        assert store.schema_version == migrations.LATEST
        rows = store._db.execute_sql(
            "SELECT account_id, node_id, epoch FROM account_lease ORDER BY account_id"
        ).fetchall()
        assert [tuple(r) for r in rows] == [("a", None, 0), ("b", None, 0)]
    finally:
        store.close()


def test_cluster_operations_need_postgresql(sqlite_store: Store) -> None:
    with pytest.raises(StorageError, match="cluster mode needs PostgreSQL"):
        sqlite_store.claim_leases("n1", limit=1, ttl_s=TTL)
    with pytest.raises(StorageError, match="cluster mode needs PostgreSQL"):
        register(sqlite_store, "n1")
    sqlite_store.notify("xianyu_leases", "x")  # a no-op, not an error
    assert not sqlite_store.is_postgres


def test_the_cluster_errors_keep_their_data_through_pickle() -> None:
    in_use = NodeIdInUseError("n1", host="h", pid=7, data_dir="/d", heartbeat_age_s=1.5)
    lost = LeaseLostError("shop", node_id="n1", epoch=3)
    assert str(lost) == (
        "account 'shop' is no longer leased by node n1 (epoch 3): another node serves it now"
    )
    assert isinstance(lost, StorageError) and isinstance(in_use, ConflictError)
    for error in (in_use, lost):
        clone = pickle.loads(pickle.dumps(error))
        assert (type(clone), str(clone), vars(clone)) == (type(error), str(error), vars(error))


# --- nodes --------------------------------------------------------------------------------


@pytest.mark.postgres
def test_a_live_node_id_is_refused_and_a_stale_one_taken_over(
    two_nodes: tuple[Store, Store],
) -> None:
    a, b = two_nodes
    register(a, "n1")
    with pytest.raises(NodeIdInUseError) as refused:
        register(b, "n1")
    error = refused.value
    assert (error.node_id, error.host, error.pid, error.data_dir) == ("n1", "h1", 42, "/d")
    assert 0 <= error.heartbeat_age_s < TTL
    assert "--node-id (env XIANYU_NODE_ID)" in str(error)

    register(b, "n1", replace=True)
    # once its heartbeat is older than the ttl, the id is free to take without replace
    wait_for(
        lambda: a.nodes()[0].heartbeat_age_s > SHORT_TTL, timeout=5, what="the heartbeat to age"
    )
    register(a, "n1", ttl_s=SHORT_TTL)
    assert [n.node_id for n in b.nodes()] == ["n1"]


@pytest.mark.postgres
def test_heartbeats_nodes_and_deregistration(two_nodes: tuple[Store, Store]) -> None:
    a, b = two_nodes
    register(a, "n1")
    register(b, "n2")
    assert a.node_heartbeat("n1", accounts=3)
    nodes = b.nodes(live_within_s=TTL)
    assert [(n.node_id, n.accounts) for n in nodes] == [("n1", 3), ("n2", 0)]
    assert nodes[0].started_at.tzinfo is not None

    add_accounts(a, 2)
    assert len(b.claim_leases("n2", limit=5, ttl_s=TTL)) == 2
    b.deregister_node("n2")
    assert not b.node_heartbeat("n2", accounts=0)
    assert [n.node_id for n in a.nodes()] == ["n1"]
    assert {lease.node_id for lease in a.leases().values()} == {None}


@pytest.mark.postgres
def test_registering_releases_the_leases_of_a_dead_incarnation(
    two_nodes: tuple[Store, Store],
) -> None:
    a, b = two_nodes
    add_accounts(a, 3)
    register(a, "n1", ttl_s=SHORT_TTL)
    claimed = a.claim_leases("n1", limit=3, ttl_s=TTL)
    assert [epoch for _, epoch in claimed] == [1, 1, 1]

    wait_for(lambda: b.nodes()[0].heartbeat_age_s > SHORT_TTL, timeout=5, what="n1 to go quiet")
    register(b, "n1", ttl_s=SHORT_TTL)  # the same id after a crash
    leases = b.leases()
    assert {(lease.node_id, lease.epoch) for lease in leases.values()} == {(None, 1)}


# --- leases -------------------------------------------------------------------------------


@pytest.mark.postgres
def test_concurrent_claims_never_overlap(two_nodes: tuple[Store, Store]) -> None:
    a, b = two_nodes
    ids = add_accounts(a, 40)
    got: dict[str, list[str]] = {"n1": [], "n2": []}
    start = threading.Barrier(2)

    def claim(store: Store, node_id: str) -> None:
        start.wait()
        while True:
            claimed = store.claim_leases(node_id, limit=3, ttl_s=TTL)
            if not claimed:
                return
            got[node_id].extend(account_id for account_id, _ in claimed)

    threads = [threading.Thread(target=claim, args=pair) for pair in ((a, "n1"), (b, "n2"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not set(got["n1"]) & set(got["n2"])
    assert sorted(got["n1"] + got["n2"]) == ids
    leases = a.leases()
    assert all(leases[i].node_id == "n1" for i in got["n1"])
    assert all(lease.epoch == 1 for lease in leases.values())


@pytest.mark.postgres
def test_an_expired_lease_is_claimed_with_a_new_epoch(two_nodes: tuple[Store, Store]) -> None:
    a, b = two_nodes
    add_accounts(a, 1)
    assert a.claim_leases("n1", limit=5, ttl_s=SHORT_TTL) == [("shop-00", 1)]
    assert b.claim_leases("n2", limit=5, ttl_s=TTL) == []  # still held
    assert b.claim_lease("n2", "shop-00", ttl_s=TTL) is None

    claimed = wait_for(
        lambda: b.claim_leases("n2", limit=5, ttl_s=TTL), timeout=5, what="the lease to expire"
    )
    assert claimed == [("shop-00", 2)]
    lease = a.leases()["shop-00"]
    assert (lease.node_id, lease.epoch) == ("n2", 2)
    assert lease.expires_in_s is not None and 0 < lease.expires_in_s <= TTL


@pytest.mark.postgres
def test_renewal_extends_only_matching_epochs(two_nodes: tuple[Store, Store]) -> None:
    a, b = two_nodes
    add_accounts(a, 2)
    assert a.renew_leases("n1", {}, ttl_s=TTL) == set()
    assert a.claim_lease("n1", "shop-00", ttl_s=TTL) == 1
    assert b.claim_lease("n2", "shop-01", ttl_s=SHORT_TTL) == 1

    renewed = a.renew_leases("n1", {"shop-00": 1, "shop-01": 1}, ttl_s=TTL)
    assert renewed == {"shop-00"}  # shop-01 is n2's
    assert a.renew_leases("n1", {"shop-00": 7}, ttl_s=TTL) == set()  # an old epoch
    assert b.renew_leases("n2", {"shop-01": 1}, ttl_s=TTL) == {"shop-01"}
    assert b.leases()["shop-01"].expires_in_s > SHORT_TTL  # type: ignore[operator]


@pytest.mark.postgres
def test_release_only_the_lease_still_held(two_nodes: tuple[Store, Store]) -> None:
    a, b = two_nodes
    add_accounts(a, 1)
    assert a.claim_lease("n1", "shop-00", ttl_s=TTL) == 1
    assert not b.release_lease("n2", "shop-00", 1)
    assert not a.release_lease("n1", "shop-00", 2)
    assert a.release_lease("n1", "shop-00", 1)
    assert b.claim_lease("n2", "shop-00", ttl_s=TTL) == 2


@pytest.mark.postgres
def test_a_pinned_account_goes_only_to_its_node(two_nodes: tuple[Store, Store]) -> None:
    a, b = two_nodes
    add_accounts(a, 2)
    a.pin_account("shop-00", "n2")
    assert a.claim_leases("n1", limit=5, ttl_s=TTL) == [("shop-01", 1)]
    assert a.claim_lease("n1", "shop-00", ttl_s=TTL) is None
    assert b.claim_leases("n2", limit=5, ttl_s=TTL) == [("shop-00", 1)]
    assert a.leases()["shop-00"].pinned_node == "n2"
    a.pin_account("shop-00", "")
    assert a.leases()["shop-00"].pinned_node is None
    with pytest.raises(NotFoundError, match="'nope' not found"):
        a.pin_account("nope", "n1")
    assert a.account_count() == 2


# --- fencing ------------------------------------------------------------------------------


class Lost:
    """An ``on_lease_lost`` that records its calls and checks the Store's lock is free."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.accounts: list[str] = []

    def __call__(self, account_id: str) -> None:
        # called outside the lock: another thread can use the Store right now
        done = threading.Event()
        threading.Thread(target=lambda: (self.store.account_count(), done.set())).start()
        assert done.wait(timeout=5)
        self.accounts.append(account_id)


@pytest.fixture
def taken_over(two_nodes: tuple[Store, Store]) -> tuple[Store, Store, Lost]:
    """Node A held shop (epoch 1); its lease expired and node B claimed it (epoch 2)."""
    a, b = two_nodes
    a.add_account("shop", COOKIE, "1")
    version = a.propose_cookie("shop", "unb=1; c=2", source="admin")
    assert version.number == 2
    lost = Lost(a)
    a.bind_node("n1", lost)
    b.bind_node("n2", lambda account_id: None)
    assert a.claim_lease("n1", "shop", ttl_s=SHORT_TTL) == 1
    a.hold("shop", 1)
    assert a.record_handled("shop", "1.PNM", 1000)  # A still holds it: written
    epoch = wait_for(
        lambda: b.claim_lease("n2", "shop", ttl_s=TTL), timeout=5, what="A's lease to expire"
    )
    assert epoch == 2
    b.hold("shop", epoch)
    return a, b, lost


@pytest.mark.postgres
def test_the_old_owner_writes_nothing_after_a_takeover(
    taken_over: tuple[Store, Store, Lost],
) -> None:
    a, b, lost = taken_over
    with pytest.raises(LeaseLostError) as raised:
        a.record_handled("shop", "2.PNM", 2000)
    assert (raised.value.account, raised.value.node_id, raised.value.epoch) == ("shop", "n1", 1)
    assert "no longer leased by node n1 (epoch 1)" in str(raised.value)
    with pytest.raises(LeaseLostError):
        a.activate_version("shop", 2)
    with pytest.raises(LeaseLostError):
        a.pause_chat("shop", "chat", 4_000_000_000)
    with pytest.raises(LeaseLostError):
        a.mark_processed("shop", "3.PNM")
    with pytest.raises(LeaseLostError):
        a.claim_default_reply("shop", "chat")
    assert lost.accounts == ["shop"] * 5

    assert not b.is_processed("shop", "2.PNM")
    assert b.get_cursor("shop") == 1000
    assert b.get_version("shop", 2).status == PENDING
    assert b.chat_pauses("shop") == {}
    assert b.claim_default_reply("shop", "chat")  # nobody claimed it before

    assert b.record_handled("shop", "2.PNM", 2000)
    b.pause_chat("shop", "chat", 4_000_000_000)
    assert b.fail_pending_for("shop") == [2]
    assert b.get_version("shop", 2).status == FAILED
    assert b.get_cursor("shop") == 2000


@pytest.mark.postgres
def test_an_account_not_held_in_memory_is_fenced_without_a_query(
    taken_over: tuple[Store, Store, Lost],
) -> None:
    _, b, _ = taken_over
    b.unhold("shop")
    assert b.held_epoch("shop") is None
    with pytest.raises(LeaseLostError) as raised:
        b.advance_cursor("shop", 5000)
    assert raised.value.epoch is None
    b.hold("shop", 2)
    b.advance_cursor("shop", 5000)
    assert b.get_cursor("shop") == 5000
    assert b.node_id == "n2"


def test_an_unbound_store_writes_as_before(store: Store) -> None:
    store.add_account("shop", COOKIE, "1")
    assert store.node_id is None
    assert store.record_handled("shop", "1.PNM", 1000)
    assert store.claim_default_reply("shop", "chat")
    store.save_token("shop", "t", "d", issued_at=0)
    assert store.fail_pending_for("shop") == []


def test_bound_sqlite_fences_on_the_epochs_held_in_memory(sqlite_store: Store) -> None:
    sqlite_store.add_account("shop", COOKIE, "1")
    lost: list[str] = []
    sqlite_store.bind_node("solo", lost.append)
    with pytest.raises(LeaseLostError):
        sqlite_store.record_handled("shop", "1.PNM", 1000)
    sqlite_store.hold("shop", 1)
    assert sqlite_store.record_handled("shop", "1.PNM", 1000)
    assert lost == ["shop"]


def test_rule_revisions_and_the_cache(store: Store) -> None:
    store.add_account("shop", COOKIE, "1")
    store.set_rules("shop", [{"keyword": "price", "reply": "100"}])
    assert store.cached_rules_revision("shop") == 1
    assert store.rules_revisions(["shop", "other"]) == {"shop": 1, "other": 0}
    store.forget_cached("shop")
    assert store.cached_rules_revision("shop") is None


@pytest.mark.postgres
def test_a_database_error_in_the_lease_check_is_not_a_lost_lease(postgres_url: str) -> None:
    store = Store.open(postgres_url)
    try:
        store.add_account("shop", COOKIE, "1")
        lost: list[str] = []
        store.bind_node("n1", lost.append)
        store.hold("shop", store.claim_lease("n1", "shop", ttl_s=TTL) or 0)
        backend = store._db.execute_sql("SELECT pg_backend_pid()").fetchone()[0]
        killer = psycopg2.connect(postgres_url)
        killer.autocommit = True
        try:
            with killer.cursor() as cur:
                cur.execute("SELECT pg_terminate_backend(%s)", (backend,))
        finally:
            killer.close()

        with pytest.raises(StorageError) as raised:
            store.record_handled("shop", "1.PNM", 1000)
        assert not isinstance(raised.value, LeaseLostError)
        assert lost == []
        assert store.record_handled("shop", "1.PNM", 1000)  # reconnected, still held
    finally:
        store.close()
