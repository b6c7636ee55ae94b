#!/usr/bin/env python3
"""Scale: cold start of N accounts, memory, threads, idle CPU, then a ramp of buyer messages.

    python bench/scale.py --accounts N [--json] [--metrics [--scrape-s S]]

The accounts are added through the control socket to a first service process, which is then
stopped; a second process starts cold on the same data dir and ``online_s`` runs from its
spawn to all N accounts online. ``rss_mb`` and ``threads`` are that process's, once online
and its boot-time heap settles are over (22 s after the spawn); ``idle_cpu_pct`` is its CPU
(percent of one core) over ``--idle-s`` with nothing happening.
The ramp then pushes buyer messages at increasing total rates for ``--step-s`` each;
``replies_per_s`` is the highest rate whose step was sustained (the load kept up, every
message answered) with p99 reply latency <= ``--max-p99-ms``. ``cpu_ms_per_reply`` is the
service process's CPU time (user + system, from the step's first push until its last reply
or the drain's end) divided by the replies of that step, at the highest sustained step;
each ramp row has its own, the kernel's share of it (``system_cpu_share``), the service's
context switches per reply (``switches_per_reply``) and its ``threads`` at the step's end.
``--metrics``: the cold-started service serves ``/metrics`` and a scraper reads it every
``--scrape-s``
(``scrape_ms_p50``/``_max``, ``metrics_bytes``): run it and a plain run back to back to see what
metrics cost.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path

import psutil
from harness.profiling import py_spy
from harness.report import emit, percentile, rounded
from harness.run import phase, script_main, start_fleet, start_online, start_rig
from harness.scraper import Scraper, free_port
from harness.service import cpu_seconds
from harness.sim import Ledger, SimRig

DEFAULT_RATES = "100,200,300,500,750,1000,1500,2000,2500,3000,4000"
# a step counts as sustained when the load generator reached this share of the target rate
_SUSTAINED_SHARE = 0.95
_SETTLE_S = 2.0
# seconds after the spawn by which the service's boot-time heap settles are done
_HEAP_SETTLED_S = 22.0
_STEP_DRAIN_S = 5.0
_FIRST_ROUND_RATE = 200.0
_MB = 1024 * 1024


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=1000, help="accounts to start cold")
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    parser.add_argument("--idle-s", type=float, default=20.0, help="idle CPU window")
    parser.add_argument("--step-s", type=float, default=5.0, help="duration of each ramp step")
    parser.add_argument("--rates", default=DEFAULT_RATES, help="ramp: total messages/s, comma list")
    parser.add_argument("--max-p99-ms", type=float, default=50.0, help="p99 limit of a good step")
    parser.add_argument("--py-spy", type=Path, help="sample the service during the ramp into this")
    parser.add_argument("--metrics", action="store_true", help="serve /metrics and scrape it")
    parser.add_argument("--scrape-s", type=float, default=5.0, help="scrape interval (--metrics)")
    return parser.parse_args(argv)


def ramp_step(
    rig: SimRig,
    sellers: list[str],
    rate: float,
    step_s: float,
    bench: psutil.Process,
    service: psutil.Process,
) -> dict[str, float | int | None]:
    """Push at ``rate`` for ``step_s``, wait for the replies; the step's figures."""
    ledger: Ledger = rig.ledger
    bench_cpu, service_cpu = cpu_seconds(bench), cpu_seconds(service)
    system_cpu, switches = service.cpu_times().system, _switches(service)
    load = rig.start_load(sellers, rate)
    try:
        time.sleep(step_s)
    finally:
        load.stop()
    bench_cpu = cpu_seconds(bench) - bench_cpu
    service_cpu_pushing = cpu_seconds(service) - service_cpu
    pushes = ledger.pushed_between(load.started, load.stopped)
    ledger.drain(_STEP_DRAIN_S, pushes)
    # every reply of the step costs CPU, those sent after the last push too
    service_cpu = cpu_seconds(service) - service_cpu
    system_cpu = service.cpu_times().system - system_cpu
    switches = _switches(service) - switches
    answered = ledger.latencies(pushes)
    elapsed = load.stopped - load.started
    return {
        "rate": rate,
        "pushed_per_s": round(len(pushes) / elapsed, 1),
        "replies_per_s": round(len(answered) / elapsed, 1),
        "unanswered": len(pushes) - len(answered),
        "reply_ms_p50": rounded(percentile(answered, 50)),
        "reply_ms_p99": rounded(percentile(answered, 99)),
        # the bench process runs the simulator: if this nears 100 % the bench is the limit
        "bench_cpu_pct": round(100.0 * bench_cpu / elapsed, 1),
        "service_cpu_pct": round(100.0 * service_cpu_pushing / elapsed, 1),
        "cpu_ms_per_reply": round(1000.0 * service_cpu / len(answered), 3) if answered else None,
        # the kernel's share of that CPU, and the service's context switches per reply:
        # what each thread hand-off costs outside Python (futex wake-ups, scheduling)
        "system_cpu_share": round(system_cpu / service_cpu, 2) if service_cpu else None,
        "switches_per_reply": round(switches / len(answered), 1) if answered else None,
        "threads": service.num_threads(),
    }


def _switches(process: psutil.Process) -> int:
    """Context switches of all the process's threads (psutil's count is the main thread's)."""
    total = 0
    for status in Path(f"/proc/{process.pid}/task").glob("*/status"):
        with contextlib.suppress(OSError):  # a thread that ended meanwhile
            for line in status.read_text().splitlines():
                if "ctxt_switches:" in line:  # voluntary_ and nonvoluntary_
                    total += int(line.split()[-1])
    return total


def first_replies(rig: SimRig, sellers: list[str]) -> list[float]:
    """One message to every account (the first of its session), replies awaited.

    Kept apart from the ramp: a step should measure the steady state, not each account's
    first-message path. Its latencies are reported on their own as ``first_reply_ms_*``.
    """
    load = rig.start_load(sellers, _FIRST_ROUND_RATE)
    try:
        deadline = time.perf_counter() + len(sellers) / _FIRST_ROUND_RATE + _STEP_DRAIN_S
        while load.pushed < len(sellers) and time.perf_counter() < deadline:
            time.sleep(0.01)
    finally:
        load.stop()
    pushes = rig.ledger.pushed_between(load.started, load.stopped)
    rig.ledger.drain(_STEP_DRAIN_S, pushes)
    return rig.ledger.latencies(pushes)


def good(step: dict[str, float | int | None], max_p99_ms: float, step_s: float) -> bool:
    p99 = step["reply_ms_p99"]
    # the pacing floors to whole messages per tick: allow two short at tiny rates
    wanted = _SUSTAINED_SHARE * float(step["rate"] or 0) * step_s - 2
    return (
        step["unanswered"] == 0
        and p99 is not None
        and p99 <= max_p99_ms
        and float(step["pushed_per_s"] or 0) * step_s >= wanted
    )


def run(args: argparse.Namespace, stack: contextlib.ExitStack, tmp: Path) -> int:
    rig = start_rig(stack)
    data_dir = tmp / "data"
    first, fleet, add_s = start_fleet(stack, rig, data_dir, args.accounts)
    first.stop()

    extra: tuple[str, ...] = ()
    if args.metrics:
        port = free_port()
        extra = ("--metrics", f"127.0.0.1:{port}")
    service, online_s = start_online(
        stack, rig, data_dir, args.accounts, name="cold start", extra_args=extra
    )
    process = service.process
    scraper = None
    if args.metrics:
        scraper = Scraper(f"http://127.0.0.1:{port}/metrics", args.scrape_s).start()
        stack.callback(scraper.stop)
    # the steady state: the two heap settles after boot (service/housekeeping.py, 5 s and
    # 15 s after it: full GC passes of ~0.1-0.3 s each) are over before the idle window
    time.sleep(max(_SETTLE_S, _HEAP_SETTLED_S - online_s))
    rss_mb = process.memory_info().rss / _MB
    threads = process.num_threads()
    with phase(f"idle {args.idle_s:.0f}s"):
        cpu_before, idle_started = cpu_seconds(process), time.perf_counter()
        time.sleep(args.idle_s)
        idle_cpu = cpu_seconds(process) - cpu_before
    idle_cpu_pct = 100.0 * idle_cpu / (time.perf_counter() - idle_started)

    with phase("first message per account"):
        first = first_replies(rig, fleet.seller_ids)
    steps = []
    best: dict[str, float | int | None] | None = None
    bench = psutil.Process()
    with py_spy(process.pid, args.py_spy):
        for rate in [float(r) for r in args.rates.split(",") if r.strip()]:
            with phase(f"ramp step {rate:.0f} msg/s"):
                step = ramp_step(rig, fleet.seller_ids, rate, args.step_s, bench, process)
            steps.append(step)
            print(f"  step {step}", file=sys.stderr, flush=True)
            if not good(step, args.max_p99_ms, args.step_s):
                break
            best = step

    figures = {
        "accounts": args.accounts,
        "add_s": round(add_s, 2),
        "online_s": round(online_s, 2),
        "rss_mb": round(rss_mb, 1),
        "threads": threads,
        "idle_cpu_pct": round(idle_cpu_pct, 2),
        "replies_per_s": best["replies_per_s"] if best else 0.0,
        "reply_ms_p99": best["reply_ms_p99"] if best else None,
        "cpu_ms_per_reply": best["cpu_ms_per_reply"] if best else None,
        "first_reply_ms_p50": rounded(percentile(first, 50)),
        "first_reply_ms_p99": rounded(percentile(first, 99)),
        "rss_mb_after_ramp": round(process.memory_info().rss / _MB, 1),
        "lost": len(rig.ledger.unanswered()),
        "duplicates": rig.ledger.duplicates(),
        "ramp": steps,
    }
    if scraper is not None:
        scraper.stop()
        figures.update(
            {
                "metrics": True,
                "scrapes": len(scraper.durations_ms),
                "scrape_failures": scraper.failures,
                "scrape_ms_p50": rounded(percentile(scraper.durations_ms, 50)),
                "scrape_ms_max": rounded(max(scraper.durations_ms, default=0.0)),
                "metrics_bytes": scraper.last_size,
            }
        )
    emit(
        f"scale ({args.accounts} accounts)",
        figures,
        targets=[
            ("online_s", "<= 10 s for 1,000 accounts"),
            ("rss_mb", "<= 400 MB"),
            ("idle_cpu_pct", "<= 5 %"),
            ("replies_per_s", ">= 2,000 with p99 <= 50 ms"),
            ("cpu_ms_per_reply", "<= 0.3 ms"),
        ],
        as_json=args.json,
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    return script_main(parse, run, argv)


if __name__ == "__main__":
    sys.exit(main())
