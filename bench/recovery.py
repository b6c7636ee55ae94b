#!/usr/bin/env python3
"""Crash recovery: SIGKILL the service during an update storm, start it again.

    python bench/recovery.py --accounts N [--json]

N accounts online with the keyword rule and a steady buyer load. An update storm starts;
``--kill-after-s`` into it the service is SIGKILLed (updates in flight die with it). The
buyers keep writing while it is down. The service is started again on the same data dir:
``online_s`` runs from that spawn to all N accounts online. The load runs on for
``--after-s``, stops, and the replies drain. Then: ``lost`` (pushed, matched, never
answered), ``duplicates`` (chats answered more than once, e.g. answered before the kill and
again after it), and ``active_versions_ok`` (read from the SQLite file: every account has
exactly one ``active`` cookie version, and it is the one the account row points at).
"""

from __future__ import annotations

import argparse
import contextlib
import sqlite3
import sys
import threading
import time
from pathlib import Path

from harness.report import emit, percentile, rounded
from harness.run import phase, script_main, start_fleet, start_online, start_rig
from harness.storm import Storm


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=100, help="accounts online")
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    parser.add_argument("--rate", type=float, default=2.0, help="buyer messages/s per account")
    parser.add_argument("--updates", type=int, default=200, help="updates the storm would send")
    parser.add_argument("--update-rate", type=float, default=50.0, help="updates started per s")
    parser.add_argument("--kill-after-s", type=float, default=1.0, help="storm time before kill")
    parser.add_argument("--warmup-s", type=float, default=2.0, help="load before the storm")
    parser.add_argument("--after-s", type=float, default=3.0, help="load after all are online")
    parser.add_argument("--drain-s", type=float, default=30.0, help="most to wait for replies")
    return parser.parse_args(argv)


def active_versions_ok(db_path: Path) -> tuple[bool, list[str]]:
    """Every account: exactly one active cookie version, the one ``account`` names."""
    uri = f"file:{db_path}?mode=ro"
    with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=10.0)) as db:
        rows = db.execute(
            "SELECT a.id, a.active_version, "
            "  (SELECT COUNT(*) FROM cookie_version c "
            "   WHERE c.account_id = a.id AND c.status = 'active'), "
            "  (SELECT MIN(c.number) FROM cookie_version c "
            "   WHERE c.account_id = a.id AND c.status = 'active') "
            "FROM account a"
        ).fetchall()
    bad = [
        f"{account}: {count} active (row says v{pointer}, active v{number})"
        for account, pointer, count, number in rows
        if count != 1 or pointer != number
    ]
    return not bad and bool(rows), bad


def run(args: argparse.Namespace, stack: contextlib.ExitStack, tmp: Path) -> int:
    rig = start_rig(stack)
    data_dir = tmp / "data"
    service, fleet, _ = start_fleet(stack, rig, data_dir, args.accounts)

    load = rig.start_load(fleet.seller_ids, args.rate * args.accounts)
    stack.callback(load.stop)
    time.sleep(args.warmup_s)
    storm = Storm(rig, service, fleet.sellers, count=args.updates, rate_per_s=args.update_rate)
    stack.callback(storm.close)
    storming = threading.Thread(target=storm.run, name="bench-storm", daemon=True)
    with phase(f"storm, SIGKILL after {args.kill_after_s}s"):
        storming.start()
        time.sleep(args.kill_after_s)
        service.sigkill()
        storm.stop()
        storming.join(timeout=60.0)

    restarted, online_s = start_online(stack, rig, data_dir, args.accounts, name="restart")
    time.sleep(args.after_s)
    load.stop()
    with phase("drain"):
        rig.ledger.drain(args.drain_s)
    versions_ok, problems = active_versions_ok(restarted.db_path)
    for problem in problems[:10]:
        print(f"  active version problem: {problem}", file=sys.stderr)

    ledger = rig.ledger
    every = ledger.latencies()
    figures = {
        "accounts": args.accounts,
        "updates_sent_before_kill": len(storm.records),
        "update_outcomes": storm.outcomes(),
        "online_s": round(online_s, 2),
        "pushed": len(ledger.pushes),
        "replied": ledger.answered(),
        "lost": len(ledger.unanswered()),
        "duplicates": ledger.duplicates(),
        # pushes the simulator could not deliver live (the service was down): history only
        "withheld": rig.withheld(fleet.seller_ids),
        "failed_pushes": ledger.failed_pushes,
        "reply_ms_p50": rounded(percentile(every, 50)),
        "reply_ms_p99": rounded(percentile(every, 99)),
        "active_versions_ok": versions_ok,
    }
    emit(
        f"recovery ({args.accounts} accounts, SIGKILL during an update storm)",
        figures,
        targets=[("lost/duplicates", "0 / 0"), ("active_versions_ok", "true")],
        as_json=args.json,
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    return script_main(parse, run, argv)


if __name__ == "__main__":
    sys.exit(main())
