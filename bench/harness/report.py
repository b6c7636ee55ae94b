"""Figures: percentiles, the readable summary and the one-line JSON result."""

from __future__ import annotations

import json
import math
import os
import platform
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import psutil


def percentile(values: Sequence[float], pct: float) -> float | None:
    """Nearest-rank percentile (``pct`` in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100.0 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def spread(values: Sequence[float], prefix: str) -> dict[str, float | None]:
    """``{prefix_p50, prefix_p95, prefix_p99, prefix_max}`` rounded to 0.1 ms."""
    out: dict[str, float | None] = {}
    for name, pct in (("p50", 50), ("p95", 95), ("p99", 99), ("max", 100)):
        out[f"{prefix}_{name}"] = rounded(percentile(values, pct))
    return out


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return round(numerator / denominator, 2)


def rounded(value: float | None, digits: int = 1) -> float | None:
    """``value`` to ``digits`` decimals (a tenth of a ms by default); None stays None."""
    return None if value is None else round(value, digits)


def machine() -> dict[str, Any]:
    """Where the figures were taken: they mean little without it."""
    return {
        "python": platform.python_version(),
        "cpus": psutil.cpu_count(logical=True),
        "platform": platform.platform(terse=True),
        # other work on the machine skews every figure: say how busy it was
        "loadavg_1m": round(os.getloadavg()[0], 2),
    }


def emit(
    title: str,
    figures: Mapping[str, Any],
    *,
    targets: Iterable[tuple[str, str]] = (),
    as_json: bool,
) -> None:
    """Print the readable summary, then (``--json``) the result as the last stdout line."""
    print(f"\n== {title} ==")
    width = max((len(k) for k in figures), default=0)
    for key, value in figures.items():
        if key == "machine":
            continue
        print(f"  {key:<{width}}  {_show(value)}")
    target_list = list(targets)
    if target_list:
        print("  targets:")
        for key, text in target_list:
            print(f"    {key:<{width}}  {text}")
    host = machine()
    print(
        f"  machine: {host['cpus']} cpus, Python {host['python']}, {host['platform']},"
        f" load average {host['loadavg_1m']}"
    )
    sys.stdout.flush()
    if as_json:
        print(json.dumps({**figures, "machine": host}, separators=(",", ":")), flush=True)


def _show(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.2f}"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)
