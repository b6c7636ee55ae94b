#!/usr/bin/env python3
"""Cookie swap under load: how fast, what is lost, and whether the other accounts notice.

    python bench/swap.py --accounts N --updates U --rate R [--strategy supervised|naive] [--json]

N accounts online, each with a keyword rule; buyers send R matching messages per second per
account, each from a new buyer (one chat per message). After a quiet phase (load only), U
cookie updates hit random accounts (fresh valid sessions from the simulator); then the load
stops and the replies drain.

``--strategy naive`` runs the same load with the original project's restart sequence as
re-created inside our account actor (cancel the old connection, wait, sleep 0.5 s, register,
sleep 1 s, ackDiff with pts = now, no backfill). It is a re-creation, for the side-by-side.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path

from harness.report import emit, percentile, ratio, rounded, spread
from harness.run import phase, script_main, start_fleet, start_rig
from harness.sim import Ledger, Push
from harness.storm import Storm

# After an update answers, its account's replies may still be catching up: keep those
# pushes out of the sibling figure for this long.
_BUSY_MARGIN_S = 0.5
# The first second of load warms caches and connections; it is not the quiet baseline.
_WARMUP_S = 1.0


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=100, help="accounts online")
    parser.add_argument("--updates", type=int, default=200, help="cookie updates in the storm")
    parser.add_argument("--rate", type=float, default=5.0, help="buyer messages/s per account")
    parser.add_argument("--strategy", choices=("supervised", "naive"), default="supervised")
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    parser.add_argument("--quiet-s", type=float, default=5.0, help="load-only phase before it")
    parser.add_argument("--update-rate", type=float, default=20.0, help="updates started per s")
    parser.add_argument("--drain-s", type=float, default=20.0, help="most to wait for replies")
    return parser.parse_args(argv)


def sibling_pushes(
    ledger: Ledger,
    pushes: list[Push],
    busy: dict[str, list[tuple[float, float]]],
    seller_of: dict[str, str],
) -> list[Push]:
    """Storm pushes to accounts that were not being updated while the push was in flight."""
    account_of = {seller: name for name, seller in seller_of.items()}
    siblings = []
    for push in pushes:
        ms = ledger.reply_ms(push)
        end = push.at + (ms / 1000.0 if ms is not None else 0.0)
        windows = busy.get(account_of.get(push.seller_id, ""), [])
        if not any(start <= end and push.at <= stop for start, stop in windows):
            siblings.append(push)
    return siblings


def lost_near_updates(
    lost: list[Push], busy: dict[str, list[tuple[float, float]]], seller_of: dict[str, str]
) -> int:
    """How many lost pushes went to an account within a second of one of its updates."""
    account_of = {seller: name for name, seller in seller_of.items()}
    return sum(
        1
        for push in lost
        if any(
            start - 1.0 <= push.at <= stop + 1.0
            for start, stop in busy.get(account_of.get(push.seller_id, ""), [])
        )
    )


def run(args: argparse.Namespace, stack: contextlib.ExitStack, tmp: Path) -> int:
    rig = start_rig(stack)
    env = {"XIANYU_SWAP_STRATEGY": args.strategy}
    service, fleet, _ = start_fleet(stack, rig, tmp / "data", args.accounts, env=env)

    ledger = rig.ledger
    total_rate = args.rate * args.accounts
    load = rig.start_load(fleet.seller_ids, total_rate)
    stack.callback(load.stop)
    with phase(f"quiet phase, {total_rate:.0f} msg/s"):
        time.sleep(_WARMUP_S + args.quiet_s)
    storm = Storm(rig, service, fleet.sellers, count=args.updates, rate_per_s=args.update_rate)
    stack.callback(storm.close)
    with phase(f"storm: {args.updates} updates ({args.strategy})"):
        storm.run()
    load.stop()
    with phase("drain"):
        ledger.drain(args.drain_s)

    quiet = ledger.pushed_between(load.started + _WARMUP_S, storm.started)
    during = ledger.pushed_between(storm.started, storm.finished)
    siblings = sibling_pushes(ledger, during, storm.busy_intervals(_BUSY_MARGIN_S), fleet.sellers)
    swap_ms = [r.swap_ms for r in storm.records if r.swap_ms is not None]
    round_trips = [r.round_trip_ms for r in storm.records if not r.outcome.startswith("error")]
    every = ledger.latencies()
    figures = {
        "strategy": args.strategy,
        "accounts": args.accounts,
        "updates": len(storm.records),
        "update_outcomes": storm.outcomes(),
        **spread(swap_ms, "swap_ms"),
        "update_round_trip_ms_p50": rounded(percentile(round_trips, 50)),
        "update_round_trip_ms_p99": rounded(percentile(round_trips, 99)),
        "pushed": len(ledger.pushes),
        "push_rate_per_s": round(load.achieved_rate, 1),
        "replied": ledger.answered(),
        "lost": len(ledger.unanswered()),
        "lost_near_an_update": lost_near_updates(
            ledger.unanswered(), storm.busy_intervals(0.0), fleet.sellers
        ),
        # pushes the simulator could not deliver: no session of that seller was registered
        "withheld": rig.withheld(fleet.seller_ids),
        "duplicates": ledger.duplicates(),
        "failed_pushes": ledger.failed_pushes,
        "reply_ms_p50": rounded(percentile(every, 50)),
        "reply_ms_p99": rounded(percentile(every, 99)),
        "quiet_reply_ms_p99": rounded(percentile(ledger.latencies(quiet), 99)),
        "sibling_reply_ms_p99": rounded(percentile(ledger.latencies(siblings), 99)),
        "sibling_pushes": len(siblings),
        "sibling_p99_ratio": ratio(
            percentile(ledger.latencies(siblings), 99), percentile(ledger.latencies(quiet), 99)
        ),
    }
    label = "re-creation of the original's restart sequence" if args.strategy == "naive" else ""
    emit(
        f"swap ({args.strategy}{', ' + label if label else ''})",
        figures,
        targets=[
            ("swap_ms_p50", "<= 10 ms (1,000 accounts online)"),
            ("swap_ms_p99", "<= 50 ms"),
            ("lost/duplicates", "0 / 0"),
            ("sibling_p99_ratio", "<= 1.2"),
        ],
        as_json=args.json,
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    return script_main(parse, run, argv)


if __name__ == "__main__":
    sys.exit(main())
