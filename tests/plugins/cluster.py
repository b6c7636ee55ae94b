"""A cluster of real ``run.py serve`` node processes on one PostgreSQL database (issue 14).

- ``cluster`` fixture: a ``Cluster`` on a fresh schema of ``XIANYU_TEST_POSTGRES_URL`` (skipped
  without it) and the test's simulator; ``cluster.start("n1")`` starts a node (its own data
  dir, short leases: renewed every ``RENEW_S``, valid ``TTL_S``) and returns once its control
  socket answers; every node still running after the test is SIGKILLed (SIGCONT first).
- ``cluster.owners()``: account -> node id, from one live node's ``status`` (cluster-wide);
  ``cluster.balanced(counts)``; ``cluster.add_accounts(n)`` adds ``n`` simulator sellers with
  the echo default reply through the first node and returns their ``Chat`` s.
"""

from __future__ import annotations

import math
import os
import shutil
import signal
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from simulator.server import SimulatorHandle
from tests.plugins.faults import Chat
from tests.plugins.serve import ServeProcess
from tests.plugins.simulator import new_seller
from tests.plugins.timing import wait_for

RENEW_S = 0.5
TTL_S = 3.0
DEFAULT_REPLY = {"text": "auto: {text}", "once_per_chat": False}


class Cluster:
    def __init__(self, sim: SimulatorHandle, database_url: str, root: Path) -> None:
        self.sim = sim
        self.url = database_url
        self.root = root
        self.nodes: dict[str, ServeProcess] = {}

    def start(
        self, node_id: str, *, wait: bool = True, ttl_s: float = TTL_S, renew_s: float = RENEW_S
    ) -> ServeProcess:
        data_dir = self.root / node_id
        data_dir.mkdir(mode=0o700, exist_ok=True)
        args = (
            *("--database-url", self.url, "--node-id", node_id),
            *("--lease-renew-s", str(renew_s), "--lease-ttl-s", str(ttl_s)),
        )
        process = ServeProcess(self.sim, data_dir, log_name="serve.log", args=args)
        self.nodes[node_id] = process
        if wait:
            process.wait_ready()
        return process

    def live(self) -> list[ServeProcess]:
        return [p for p in self.nodes.values() if p.proc.poll() is None]

    def call(self, command: str, *, via: str | None = None, **args: Any) -> Any:
        process = self.nodes[via] if via is not None else self.live()[0]
        with process.client() as c:
            return c.call(command, **args)

    def status(self, via: str | None = None) -> dict[str, dict[str, Any]]:
        return {row["id"]: row for row in self.call("status", via=via)["accounts"]}

    def owners(self, via: str | None = None) -> dict[str, str | None]:
        """Account -> the node serving it (None: nobody right now)."""
        return {a: row.get("node") for a, row in self.status(via).items()}

    def online_everywhere(self, count: int, via: str | None = None) -> bool:
        rows = self.status(via)
        return len(rows) == count and all(
            row["state"] == "online" and row.get("node") for row in rows.values()
        )

    def counts(self, via: str | None = None) -> Counter[str | None]:
        return Counter(self.owners(via).values())

    def add_accounts(self, count: int, *, prefix: str = "shop") -> list[Chat]:
        chats = []
        for i in range(count):
            seller = new_seller(self.sim, nick=f"{prefix}{i}")
            account = f"{prefix}{i}"
            self.call("add", account=account, cookie=seller.cookie, enabled=False)
            self.call("set_rules", account=account, rules=[], default_reply=DEFAULT_REPLY)
            self.call("enable", account=account)
            chats.append(Chat(self.sim, seller))
        return chats

    def balanced(self, nodes: list[str], per_node: int, slack: int) -> bool:
        """Every account served, each of ``nodes`` holding ``per_node`` +- ``slack``."""
        counts = self.counts()
        return None not in counts and all(abs(counts.get(n, 0) - per_node) <= slack for n in nodes)

    def balanced_fleet(
        self, nodes: list[str], accounts: int, *, slack: int = 0, **node_args: float
    ) -> list[Chat]:
        """The first node with ``accounts`` added through it, then the others joining; returns
        once the fleet is balanced (within 20 s) and online. ``node_args``: ``start``'s."""
        self.start(nodes[0], **node_args)
        chats = self.add_accounts(accounts)
        for node in nodes[1:]:
            self.start(node, **node_args)
        per_node = math.ceil(accounts / len(nodes))
        wait_for(
            lambda: self.balanced(nodes, per_node, slack),
            timeout=20,
            interval=0.2,
            what=f"{accounts} accounts balanced {per_node} +- {slack} over {len(nodes)} nodes",
        )
        self.wait_online(accounts, timeout=20)
        return chats

    def wait_online(self, count: int, *, timeout: float = 30.0, via: str | None = None) -> None:
        wait_for(
            lambda: self.online_everywhere(count, via),
            timeout=timeout,
            interval=0.2,
            what=f"{count} accounts online on live nodes",
        )

    def logs(self) -> str:
        return "\n".join(p.log_text() for p in self.nodes.values())

    def keep_logs(self, name: str) -> None:
        """Copy every node's log to ``$XIANYU_TEST_KEEP_LOGS/<name>/`` when that is set."""
        keep = os.environ.get("XIANYU_TEST_KEEP_LOGS")
        if not keep:
            return
        target = Path(keep) / name
        target.mkdir(parents=True, exist_ok=True)
        for node_id, process in self.nodes.items():
            if process.log_path.exists():
                shutil.copy(process.log_path, target / f"{node_id}.log")

    def kill_all(self) -> None:
        for process in self.nodes.values():
            if process.proc.poll() is None:
                process.proc.send_signal(signal.SIGCONT)  # a stopped process cannot die
                process.kill()


@pytest.fixture
def cluster(
    request: pytest.FixtureRequest, sim: SimulatorHandle, postgres_url: str, short_dir: Path
) -> Iterator[Cluster]:
    nodes = Cluster(sim, postgres_url, short_dir)
    try:
        yield nodes
    finally:
        nodes.kill_all()
        nodes.keep_logs(request.node.name)
