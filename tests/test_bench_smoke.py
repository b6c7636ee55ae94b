"""The benchmark scripts run end to end at a tiny size and report every promised key.

They measure, they do not judge: only correctness (nothing lost, nothing answered twice,
one active cookie version each) is asserted here, never a timing target.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
_RUN_TIMEOUT_S = 90.0

SWAP_KEYS = {
    "swap_ms_p50",
    "swap_ms_p95",
    "swap_ms_p99",
    "swap_ms_max",
    "pushed",
    "replied",
    "lost",
    "duplicates",
    "reply_ms_p50",
    "reply_ms_p99",
    "sibling_p99_ratio",
}
SCALE_KEYS = {
    "online_s",
    "rss_mb",
    "threads",
    "idle_cpu_pct",
    "replies_per_s",
    "reply_ms_p99",
    "cpu_ms_per_reply",
}
RECOVERY_KEYS = {"online_s", "lost", "duplicates", "active_versions_ok"}


def run_bench(script: str, *args: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / script), *args, "--json"],
        capture_output=True,
        text=True,
        timeout=_RUN_TIMEOUT_S,
        cwd=REPO,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_swap_bench_reports_every_key_and_loses_nothing() -> None:
    result = run_bench(
        "swap.py", "--accounts", "3", "--updates", "3", "--rate", "5", "--quiet-s", "1"
    )
    assert result.keys() >= SWAP_KEYS
    assert result["lost"] == 0
    assert result["duplicates"] == 0
    assert result["pushed"] == result["replied"]


@pytest.mark.slow
def test_swap_bench_runs_the_naive_strategy_from_bench() -> None:
    # the naive strategy lives in bench/harness (serve_naive.py), not in the service
    result = run_bench(
        "swap.py",
        *("--accounts", "2", "--updates", "2", "--rate", "5", "--quiet-s", "1"),
        *("--strategy", "naive", "--drain-s", "2"),
    )
    assert result.keys() >= SWAP_KEYS
    assert result["strategy"] == "naive"
    # its 0.5 s pause and 1 s between /reg and ackDiff, as the original did
    assert float(result["swap_ms_p50"]) >= 1500
    assert result["duplicates"] == 0


@pytest.mark.slow
def test_scale_bench_reports_every_key() -> None:
    result = run_bench(
        "scale.py", "--accounts", "3", "--idle-s", "1", "--step-s", "1", "--rates", "20"
    )
    assert result.keys() >= SCALE_KEYS
    assert isinstance(result["threads"], int) and result["threads"] > 1
    cpu_ms = result["cpu_ms_per_reply"]  # None only when no step was sustained
    assert cpu_ms is None or (isinstance(cpu_ms, float) and cpu_ms > 0)
    assert all("cpu_ms_per_reply" in step and "threads" in step for step in result["ramp"])
    assert result["lost"] == 0
    assert result["duplicates"] == 0


@pytest.mark.slow
def test_recovery_bench_restores_everything_after_sigkill() -> None:
    result = run_bench(
        "recovery.py",
        *("--accounts", "3", "--updates", "20", "--update-rate", "5"),
        *("--after-s", "1", "--warmup-s", "1"),
    )
    assert result.keys() >= RECOVERY_KEYS
    assert result["lost"] == 0
    assert result["duplicates"] == 0
    assert result["active_versions_ok"] is True


@pytest.mark.slow
def test_web_page_bench_renders_every_row() -> None:
    result = run_bench(
        "web_page.py",
        *("--accounts", "3", "--requests", "2", "--window-s", "1", "--rate", "20"),
    )
    assert result.keys() >= {"server_ms_p50", "fetch_ms_p50", "page_kb", "rows_rendered"}
    assert result["rows_rendered"] == 3
    assert result.keys() >= {"load_cpu_pct", "load_pages_cpu_pct", "pages_extra_cpu_pct"}
    # the pages were sent the rows the load changed; every buyer message was answered
    assert float(result["load_live_kb_per_s"]) > 0
    assert result["load_unanswered"] == 0


LONGEVITY_KEYS = {
    "accounts",
    "simulated_hours",
    "online_fraction",
    "renewals",
    "needs_cookie",
    "token_calls_per_account_hour",
    "human_actions_needed",
    "lost",
    "duplicates",
}


@pytest.mark.slow
def test_longevity_bench_renews_through_two_lifetimes_without_a_person() -> None:
    # a 6 s session (= 24 h): without renewal both accounts would be dead after the first
    result = run_bench("longevity.py", *("--accounts", "2", "--lifetimes", "2", "--session-s", "6"))
    assert result.keys() >= LONGEVITY_KEYS
    assert result["renewals"] > 0
    assert result["human_actions_needed"] == 0
    assert result["needs_cookie"] == 0
    assert result["lost"] == 0
    assert result["duplicates"] == 0
