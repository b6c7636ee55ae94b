#!/usr/bin/env python3
"""Longevity: many accounts stay online through many session lifetimes, with no person.

    python bench/longevity.py --accounts N --lifetimes K [--json]

The simulator's clock is accelerated: a login session lives ``--session-s`` (60 s) and
stands for the real 24 h, so every other duration of the login is scaled by the same factor
(long-login 30 days, the ``sdkSilent`` fatigue window and the risk-control hour); the service
renews every 4 simulated hours (``--renew-interval-s``, 10 s by default). N accounts go
online with the keyword rule and a steady buyer load runs for K session lifetimes. Nobody
updates a cookie: without renewal every account would be dead after one lifetime.

Figures: ``simulated_hours``; ``online_fraction`` (account-seconds online / total, sampled
from ``status``); ``renewals`` (renewal calls the passport saw); ``needs_cookie`` (accounts
that asked for a person); ``token_calls_per_account_hour`` (per simulated hour);
``human_actions_needed`` (accounts in ``needs_cookie`` or ``failed`` at the end); ``lost``
(pushed, matched, never answered) and ``duplicates`` (chats answered more than once).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import threading
import time
from pathlib import Path

from harness.report import emit
from harness.run import phase, script_main, start_fleet, start_rig
from harness.service import ControlClient

DAY_S = 24 * 3600.0
_SAMPLE_S = 0.25


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=100, help="accounts online")
    parser.add_argument("--lifetimes", type=int, default=10, help="session lifetimes to run")
    parser.add_argument("--session-s", type=float, default=60.0, help="a session's life (= 24 h)")
    parser.add_argument("--rate", type=float, default=0.2, help="buyer messages/s per account")
    parser.add_argument("--drain-s", type=float, default=30.0, help="most to wait for replies")
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    return parser.parse_args(argv)


def knobs(session_s: float) -> dict[str, float]:
    """The simulator's login clock, accelerated so ``session_s`` stands for 24 h."""
    factor = DAY_S / session_s
    return {
        "session_lifetime_s": session_s,
        "long_login_lifetime_s": 30 * DAY_S / factor,
        "sdk_silent_s": 3600.0 / factor,
        "renew_risk_window_s": 3600.0 / factor,
        "renew_risk_s": 1800.0 / factor,
        # the old session must outlive the swap onto the new one: real seconds, not scaled
        "renew_grace_s": max(5.0, 60.0 / factor),
    }


def renewal_args(session_s: float, accounts: int) -> list[str]:
    """The service's renewal timings on the same clock (4 h, 60 s); the fleet's renewals
    spaced so all fit in a tenth of the interval."""
    factor = DAY_S / session_s
    interval = 4 * 3600.0 / factor
    return [
        *("--renew-interval-s", f"{interval:g}"),
        *("--renew-min-gap-s", f"{max(1.0, 60.0 / factor):g}"),
        *("--renew-spacing-s", f"{min(1.0, interval / 10 / max(accounts, 1)):g}"),
    ]


def budget_config(path: Path, session_s: float) -> list[str]:
    """The login budget's "hour" on the same clock, in a config file (it has no flag)."""
    path.write_text(f"[timings]\nlogin_budget_window_s = {3600.0 / (DAY_S / session_s):g}\n")
    return ["--config", str(path)]


def serving(row: dict[str, object]) -> bool:
    """Online, or swapping onto a renewed cookie while the old session still serves
    (``updating`` with an ``online_since``: make-before-break)."""
    return row["state"] == "online" or (row["state"] == "updating" and bool(row["online_since"]))


class OnlineSampler:
    """Samples ``status`` every ``_SAMPLE_S``: serving account-samples / all account-samples."""

    def __init__(self, client: ControlClient, accounts: int) -> None:
        self._client = client
        self._accounts = accounts
        self._stop = threading.Event()
        self.samples = 0
        self.online = 0
        self.states: set[str] = set()
        self._thread = threading.Thread(target=self._run, name="bench-sampler", daemon=True)

    def start(self) -> OnlineSampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30.0)

    def _run(self) -> None:
        while not self._stop.wait(_SAMPLE_S):
            rows = self._client.call("status")["accounts"]
            self.samples += self._accounts
            self.online += sum(1 for row in rows if serving(row))
            self.states.update(str(row["state"]) for row in rows)

    @property
    def fraction(self) -> float | None:
        return round(self.online / self.samples, 5) if self.samples else None


def run(args: argparse.Namespace, stack: contextlib.ExitStack, tmp: Path) -> int:
    rig = start_rig(stack, **knobs(args.session_s))
    extra = renewal_args(args.session_s, args.accounts)
    extra += budget_config(tmp / "config.toml", args.session_s)
    service, fleet, _ = start_fleet(stack, rig, tmp / "data", args.accounts, extra_args=extra)
    client = stack.enter_context(contextlib.closing(service.client()))
    before = rig.handle.admin.state()["users"]

    load = rig.start_load(fleet.seller_ids, args.rate * args.accounts)
    stack.callback(load.stop)
    sampler = OnlineSampler(client, args.accounts).start()
    stack.callback(sampler.stop)
    started = time.perf_counter()
    with phase(f"{args.lifetimes} session lifetimes of {args.session_s:g}s under load"):
        time.sleep(args.lifetimes * args.session_s)
    sampler.stop()
    load.stop()
    elapsed = time.perf_counter() - started
    with phase("drain"):
        rig.ledger.drain(args.drain_s)

    after = rig.handle.admin.state()["users"]
    sellers = set(fleet.seller_ids)

    def delta(counter: str) -> int:
        return sum(after[s][counter] - before.get(s, {}).get(counter, 0) for s in sellers)

    simulated_h = elapsed * DAY_S / args.session_s / 3600.0
    events = client.call("events", limit=10_000)["events"]
    asked = {e["account"] for e in events if e["kind"] == "needs_cookie"}
    final = client.call("status")["accounts"]
    stuck = [row["id"] for row in final if row["state"] in ("needs_cookie", "failed")]
    ledger = rig.ledger
    figures = {
        "accounts": args.accounts,
        "simulated_hours": round(simulated_h, 1),
        "online_fraction": sampler.fraction,
        "renewals": delta("renewals"),
        "needs_cookie": len(asked),
        "token_calls_per_account_hour": round(
            delta("token_calls") / args.accounts / simulated_h, 3
        ),
        "human_actions_needed": len(stuck),
        "lost": len(ledger.unanswered()),
        "duplicates": ledger.duplicates(),
        "pushed": len(ledger.pushes),
        "renewals_applied": sum(1 for e in events if e["kind"] == "renewal_applied"),
        "renewals_failed": sum(1 for e in events if e["kind"] == "renewal_failed"),
        "states_seen": sorted(sampler.states),
        "wall_s": round(elapsed, 1),
    }
    emit(
        f"longevity ({args.accounts} accounts, {args.lifetimes} session lifetimes)",
        figures,
        targets=[
            ("online_fraction", ">= 0.999"),
            ("human_actions_needed", "0"),
            ("lost/duplicates", "0 / 0"),
            ("token_calls_per_account_hour", "within the login budget (6 per hour)"),
        ],
        as_json=args.json,
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    return script_main(parse, run, argv)


if __name__ == "__main__":
    sys.exit(main())
