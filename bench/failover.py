#!/usr/bin/env python3
"""Cluster failover: N node processes on one PostgreSQL database (issue 14).

    python bench/failover.py --nodes N --accounts M [--json] [--database-url postgresql://...]

The database: ``--database-url`` or ``XIANYU_TEST_POSTGRES_URL``; the run works in a fresh
schema of it, dropped afterwards. Phases, one buyer-load generator throughout:

1. one node serves all M accounts: ``replies_per_s_1_node`` (replies per second under a
   load of ``--throughput-rate`` messages/s, counted over ``--window-s``);
2. N-1 more nodes join: ``balanced_s`` until every node holds ceil(M/N) ± 2 and all are online;
   the same load again: ``replies_per_s_n_nodes``, and ``scaling`` (their ratio);
3. SIGKILL of one node under a steady load: ``failover_s`` until every account it held is
   online on another node;
4. SIGSTOP of another node for 2 x ``lease_ttl_s``, then SIGCONT: ``stop_resume_duplicates``
   (chats answered twice in that phase);
5. the load stops and the replies drain: ``lost`` and ``duplicates`` over the whole run.

Lease timings are the defaults (renewed every 5 s, valid 15 s) unless ``--lease-ttl-s`` /
``--lease-renew-s`` say otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import shutil
import signal
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg2
from harness.report import emit, ratio, rounded
from harness.run import add_fleet, phase, script_main, start_rig, start_service
from harness.service import ServiceProcess, control
from harness.sim import SimRig

_POLL_S = 0.2


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=3, help="nodes of the cluster")
    parser.add_argument("--accounts", type=int, default=300, help="accounts in the cluster")
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    parser.add_argument("--database-url", default=os.environ.get("XIANYU_TEST_POSTGRES_URL"))
    parser.add_argument("--rate", type=float, default=100.0, help="steady buyer messages/s")
    parser.add_argument(
        "--throughput-rate", type=float, default=1500.0, help="messages/s of the throughput phases"
    )
    parser.add_argument("--window-s", type=float, default=8.0, help="throughput window")
    parser.add_argument("--lease-ttl-s", type=float, default=15.0)
    parser.add_argument("--lease-renew-s", type=float, default=5.0)
    parser.add_argument("--drain-s", type=float, default=60.0, help="most to wait for replies")
    parser.add_argument("--keep-logs", type=Path, help="copy every node's log here at the end")
    args = parser.parse_args(argv)
    if not args.database_url:
        parser.error("give --database-url postgresql://... (or set XIANYU_TEST_POSTGRES_URL)")
    if args.nodes < 2:
        parser.error("--nodes must be at least 2 (a failover needs somewhere to go)")
    return args


@contextlib.contextmanager
def fresh_schema(url: str) -> Any:
    """``url`` pointed at a new, empty schema (dropped afterwards)."""
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(url)
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(f'CREATE SCHEMA "{schema}"')
        separator = "&" if "?" in url else "?"
        yield f"{url}{separator}options={quote(f'-csearch_path={schema}')}"
        with admin.cursor() as cur:
            cur.execute(f'DROP SCHEMA "{schema}" CASCADE')
    finally:
        admin.close()


class Nodes:
    def __init__(self, stack: contextlib.ExitStack, rig: SimRig, root: Path, args: Any) -> None:
        self._stack, self._rig, self._root, self._args = stack, rig, root, args
        self.url = ""
        self.processes: dict[str, ServiceProcess] = {}

    def start(self, node_id: str) -> ServiceProcess:
        extra = (
            *("--database-url", self.url, "--node-id", node_id),
            *("--lease-ttl-s", str(self._args.lease_ttl_s)),
            *("--lease-renew-s", str(self._args.lease_renew_s)),
        )
        service = start_service(self._stack, self._rig, self._root / node_id, extra_args=extra)
        self.processes[node_id] = service
        return service

    def alive(self) -> list[str]:
        return [n for n, p in self.processes.items() if p.popen and p.popen.poll() is None]

    def rows(self, via: str) -> list[dict[str, Any]]:
        """Every account's row as its owner sees it now: each live node's own rows (another
        node's rows are its last snapshot, up to a lease renewal old), the rest from ``via``."""
        fresh: dict[str, dict[str, Any]] = {}
        with control(self.processes[via]) as client:
            every = {r["id"]: r for r in client.call("status")["accounts"]}
        for name in self.alive():
            with contextlib.suppress(Exception), control(self.processes[name]) as client:
                for row in client.call("status")["accounts"]:
                    if row.get("node") == name:
                        fresh[row["id"]] = row
        return [fresh.get(account, row) for account, row in every.items()]

    def wait(self, via: str, done: Any, *, timeout_s: float, what: str) -> float:
        """Seconds until ``done(rows)`` holds (polling ``status`` on ``via``)."""
        started = time.perf_counter()
        rows: list[dict[str, Any]] = []
        while time.perf_counter() - started < timeout_s:
            with contextlib.suppress(Exception):  # a node busy or restarting: ask again
                rows = self.rows(via)
                if done(rows):
                    return time.perf_counter() - started
            time.sleep(_POLL_S)
        seen = Counter((r.get("node"), r["state"]) for r in rows)
        logs = "\n".join(p.log_tail(5) for p in self.processes.values())
        raise TimeoutError(
            f"{what}: not within {timeout_s:g}s; (node, state): {dict(seen)}\n{logs}"
        )


def online_on(rows: list[dict[str, Any]], nodes: set[str], count: int) -> bool:
    return len(rows) == count and all(
        r["state"] == "online" and r.get("node") in nodes for r in rows
    )


def balanced(rows: list[dict[str, Any]], nodes: set[str], count: int) -> bool:
    share = math.ceil(count / len(nodes))
    counts = Counter(r.get("node") for r in rows)
    return online_on(rows, nodes, count) and all(abs(counts[n] - share) <= 2 for n in nodes)


def throughput(rig: SimRig, sellers: list[str], rate: float, window_s: float) -> float:
    """Replies per second while the load offers ``rate`` messages/s, over ``window_s``."""
    load = rig.start_load(sellers, rate)
    time.sleep(1.0)  # ramp: the first second is not counted
    start = time.perf_counter()
    time.sleep(window_s)
    end = time.perf_counter()
    load.stop()
    replies = sum(
        1 for times in list(rig.ledger.replies.values()) for t in times if start <= t < end
    )
    return replies / (end - start)


def lost_by_phase(unanswered: list[Any], marks: list[tuple[str, float]]) -> dict[str, int]:
    """Unanswered pushes counted by the phase they were pushed in (where a loss comes from)."""
    counts: Counter[str] = Counter()
    for push in unanswered:
        name = "setup"
        for label, at in marks:
            if push.at >= at:
                name = label
        counts[name] += 1
    return dict(counts)


def keep_logs(tmp: Path, names: list[str], target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for name in names:
        with contextlib.suppress(FileNotFoundError):
            shutil.copy(tmp / name / "service.log", target / f"{name}.log")


def run(args: argparse.Namespace, stack: contextlib.ExitStack, tmp: Path) -> int:
    rig = start_rig(stack)
    url = stack.enter_context(fresh_schema(args.database_url))
    nodes = Nodes(stack, rig, tmp, args)
    nodes.url = url
    names = [f"n{i + 1}" for i in range(args.nodes)]
    if args.keep_logs is not None:  # also when the run fails: that is when they are wanted
        stack.callback(keep_logs, tmp, names, args.keep_logs)
    first = nodes.start(names[0])
    with phase(f"adding {args.accounts} accounts"), control(first) as client:
        fleet, _ = add_fleet(rig, client, args.accounts)
    count = args.accounts
    nodes.wait("n1", lambda r: online_on(r, {"n1"}, count), timeout_s=120, what="all online")
    marks: list[tuple[str, float]] = [("throughput_1", time.perf_counter())]
    with phase("throughput on 1 node"):
        one = throughput(rig, fleet.seller_ids, args.throughput_rate, args.window_s)

    marks.append(("join", time.perf_counter()))
    with phase(f"{args.nodes - 1} nodes join"):
        started = time.perf_counter()
        for name in names[1:]:
            nodes.start(name)
        nodes.wait("n1", lambda r: balanced(r, set(names), count), timeout_s=180, what="balance")
        balanced_s = time.perf_counter() - started
    marks.append(("throughput_n", time.perf_counter()))
    with phase(f"throughput on {args.nodes} nodes"):
        many = throughput(rig, fleet.seller_ids, args.throughput_rate, args.window_s)

    load = rig.start_load(fleet.seller_ids, args.rate)
    stack.callback(load.stop)
    victim, paused = names[1], names[-1] if args.nodes > 2 else names[0]
    survivors = set(names) - {victim}
    marks.append(("sigkill", time.perf_counter()))
    with phase(f"SIGKILL {victim}"):
        nodes.processes[victim].sigkill()
        failover_s = nodes.wait(
            "n1", lambda r: online_on(r, survivors, count), timeout_s=120, what="failover"
        )
    before = rig.ledger.duplicates()
    marks.append(("sigstop", time.perf_counter()))
    with phase(f"SIGSTOP {paused} for {2 * args.lease_ttl_s:g}s"):
        popen = nodes.processes[paused].popen
        assert popen is not None
        popen.send_signal(signal.SIGSTOP)
        time.sleep(2 * args.lease_ttl_s)
        popen.send_signal(signal.SIGCONT)
        nodes.wait("n1", lambda r: online_on(r, survivors, count), timeout_s=120, what="resume")
    load.stop()
    with phase("drain"):
        rig.ledger.drain(args.drain_s)
    ledger = rig.ledger
    if args.keep_logs is not None:  # which messages went unanswered, to look them up in the logs
        args.keep_logs.mkdir(parents=True, exist_ok=True)
        with (args.keep_logs / "unanswered.txt").open("w") as out:
            for push in ledger.unanswered():
                out.write(f"{push.seller_id} {push.chat_id} {push.at:.3f}\n")
    figures = {
        "nodes": args.nodes,
        "accounts": count,
        "balanced_s": rounded(balanced_s, 2),
        "failover_s": rounded(failover_s, 2),
        "stop_resume_duplicates": ledger.duplicates() - before,
        "pushed": len(ledger.pushes),
        "lost": len(ledger.unanswered()),
        "duplicates": ledger.duplicates(),
        "replies_per_s_1_node": rounded(one),
        "replies_per_s_n_nodes": rounded(many),
        "scaling": rounded(ratio(many, one), 2),
        "lease_ttl_s": args.lease_ttl_s,
        "lost_by_phase": lost_by_phase(ledger.unanswered(), marks),
    }
    emit(
        f"failover ({args.nodes} nodes, {count} accounts, PostgreSQL)",
        figures,
        targets=[
            ("failover_s", "<= 20 (300 accounts)"),
            ("lost/duplicates", "0 / 0"),
            ("scaling", ">= 1.6 for 2 nodes where the cores allow"),
        ],
        as_json=args.json,
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    return script_main(parse, run, argv)


if __name__ == "__main__":
    sys.exit(main())
