"""The suite's one time unit, scalable for slow machines.

``MS`` is one millisecond times ``XIANYU_TEST_TIME_SCALE`` (default 1; e.g. 3 on a loaded CI
runner). Every real duration the tests rely on derives from it: the timings the plugins give
actors and services (``scaled_timings``: ``FAULT_TIMINGS``, ``TEST_TIMINGS``), the plugins'
socket and process timeouts (``scaled``), and every ``wait_for`` deadline. A test states its
durations as they are on an idle machine; the scale stretches all of them together, so the
ratios the tests depend on (a heartbeat shorter than a probation, a deadline longer than a
back-off) hold on any machine.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable
from typing import TypeVar

from common.settings import Backoff, Timings

T = TypeVar("T")

ENV_TIME_SCALE = "XIANYU_TEST_TIME_SCALE"


def _scale_from_env() -> float:
    text = os.environ.get(ENV_TIME_SCALE, "").strip()
    if not text:
        return 1.0
    try:
        scale = float(text)
    except ValueError:
        scale = 0.0
    if not scale > 0:
        raise ValueError(f"{ENV_TIME_SCALE} must be a positive number such as 2.5, got {text!r}")
    return scale


TIME_SCALE = _scale_from_env()
MS = 0.001 * TIME_SCALE
SECOND = 1000 * MS


def scaled(seconds: float) -> float:
    """``seconds`` on an idle machine, stretched by ``XIANYU_TEST_TIME_SCALE``."""
    return seconds * TIME_SCALE


def _scaled_backoff(backoff: Backoff) -> Backoff:
    return dataclasses.replace(backoff, base_s=scaled(backoff.base_s), cap_s=scaled(backoff.cap_s))


def scaled_timings(timings: Timings) -> Timings:
    """``timings`` with every duration stretched by the scale (counts stay, rates shrink)."""
    changes: dict[str, object] = {}
    for field in dataclasses.fields(timings):
        value = getattr(timings, field.name)
        if isinstance(value, Backoff):
            changes[field.name] = _scaled_backoff(value)
        elif field.name.endswith("_per_s"):
            changes[field.name] = value / TIME_SCALE
        elif field.name.endswith("_s"):
            changes[field.name] = scaled(value)
    return dataclasses.replace(timings, **changes)  # type: ignore[arg-type]


def wait_for(
    predicate: Callable[[], T], *, timeout: float = 10.0, interval: float = 0.01, what: str = ""
) -> T:
    """Poll ``predicate`` until it returns something truthy, or fail after the deadline.

    ``timeout`` is in seconds on an idle machine; the deadline is ``scaled(timeout)``.
    """
    limit = scaled(timeout)
    deadline = time.monotonic() + limit
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {limit:g}s waiting for {what or predicate}")
        time.sleep(interval)
