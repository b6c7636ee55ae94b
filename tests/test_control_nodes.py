"""``ctl nodes`` and ``ctl set ACCOUNT --node N`` through a real control socket: a node of
a (fake-store) cluster, and a SQLite service's one node."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cluster.nodes import SingleNode
from control.cli import main
from control.dispatch import ClusterApi, Dispatcher, SupervisorApi
from control.server import ControlServer
from tests.plugins.cluster_fakes import FakeClusterStore, FakeNode
from tests.plugins.control import FakeSupervisor

COOKIE = "unb=2200000001; cookie2=c2secret"
NODE_FIELDS = {"id", "host", "pid", "accounts", "heartbeat_age_s", "started_at", "version"}

Ctl = Callable[..., tuple[int, str, str]]


def _serve(short_dir: Path, supervisor: SupervisorApi, cluster: ClusterApi | None) -> Iterator[Ctl]:
    dispatcher = Dispatcher(supervisor, version="9.9", cluster=cluster)
    server = ControlServer(short_dir / "control.sock", dispatcher.handle_line).start()

    def ctl(*argv: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        code = main(["--socket", str(server.path), *argv], stdout=out, stderr=err, env={})
        return code, out.getvalue(), err.getvalue()

    try:
        yield ctl
    finally:
        server.stop()


@pytest.fixture
def cluster(cluster_store: FakeClusterStore) -> Iterator[tuple[FakeNode, FakeNode]]:
    a, b = FakeNode(cluster_store, "node-a"), FakeNode(cluster_store, "node-b")
    cluster_store.add_account("shop", COOKIE, "2200000001")
    b.take("shop", COOKIE)
    yield a, b
    a.close()
    b.close()


@pytest.fixture
def node_ctl(short_dir: Path, cluster: tuple[FakeNode, FakeNode]) -> Iterator[Ctl]:
    a, _ = cluster
    yield from _serve(short_dir, a.supervisor, a.supervisor)


@pytest.fixture
def sqlite_ctl(short_dir: Path) -> Iterator[Ctl]:
    fake = FakeSupervisor()
    fake.add("shop", COOKIE)
    single = SingleNode("solo", 1_700_000_000.0, lambda: len(fake.accounts), version="9.9")
    yield from _serve(short_dir, fake, single)


def test_ctl_nodes_lists_the_live_nodes(node_ctl):
    code, out, _ = node_ctl("nodes", "--json")
    assert code == 0
    nodes = json.loads(out)["nodes"]
    assert [n["id"] for n in nodes] == ["node-a", "node-b"]
    assert all(set(n) == NODE_FIELDS for n in nodes)
    code, out, _ = node_ctl("nodes")
    assert code == 0
    header, *rows = out.splitlines()
    assert header.split()[:4] == ["NODE", "HOST", "PID", "ACCOUNTS"]
    assert rows[1].split()[:2] == ["node-b", "host-node-b"]


def test_ctl_set_node_pins_and_an_empty_node_unpins(node_ctl, cluster):
    a, b = cluster
    code, out, err = node_ctl("set", "shop", "--node", "node-a", "--remark", "moved")
    assert (code, err) == (0, "")
    assert "pinned_node: node-a" in out
    assert a.store.leases()["shop"].pinned_node == "node-a"
    assert b.local.accounts["shop"]["remark"] == "moved"  # set where it runs
    # with a field: the fake supervisor of node-a cannot read node-b's account by itself
    code, out, _ = node_ctl("set", "shop", "--node", "", "--remark", "back", "--json")
    assert code == 0
    assert json.loads(out)["account"]["pinned_node"] is None
    assert a.store.leases()["shop"].pinned_node is None


def test_ctl_set_node_of_an_unknown_account_is_not_found(node_ctl):
    code, _, err = node_ctl("set", "ghost", "--node", "node-a")
    assert code == 1
    assert "error (not_found)" in err


def test_the_status_table_shows_each_accounts_node(node_ctl):
    code, out, _ = node_ctl("status")
    assert code == 0
    header, row = out.splitlines()[:2]
    assert header.split()[:2] == ["NODE", "ACCOUNT"]
    assert row.split()[:3] == ["node-b", "shop", "2200000001"]


def test_sqlite_ctl_nodes_lists_this_one_process(sqlite_ctl):
    code, out, _ = sqlite_ctl("nodes", "--json")
    assert code == 0
    (node,) = json.loads(out)["nodes"]
    assert set(node) == NODE_FIELDS
    assert (node["id"], node["accounts"], node["version"]) == ("solo", 1, "9.9")
    assert node["started_at"] == "2023-11-14T22:13:20+00:00"


def test_sqlite_set_node_is_refused_and_status_has_no_node_column(sqlite_ctl):
    code, _, err = sqlite_ctl("set", "shop", "--node", "n1")
    assert code == 1
    assert "error (bad_request): --node needs cluster mode (a PostgreSQL --database-url)" in err
    code, out, _ = sqlite_ctl("status")
    assert out.split()[0] == "ACCOUNT"


def test_a_dispatcher_without_nodes_refuses_both():
    dispatcher = Dispatcher(FakeSupervisor())
    assert not dispatcher.knows("nodes")
    assert dispatcher.call("nodes", {})["error"]["code"] == "conflict"
    answer = dispatcher.call("set", {"account": "shop", "node": "n1"})
    assert answer["error"]["code"] == "bad_request"
