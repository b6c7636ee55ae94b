"""``PrometheusSink``: the observations ``common.metrics_sink`` forwards, as Prometheus series.

Each observation is one short locked update: a histogram's bucket, or a count in a dict.
Token calls are counted by seller id (the cookie's ``unb``, what the token client knows);
``AccountsCollector`` names them by account at scrape time.
"""

from __future__ import annotations

import threading

from prometheus_client import CollectorRegistry, Counter, Histogram

# reply latency: milliseconds when the loop is idle, up to seconds under load
REPLY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# swap: make-before-break, normally milliseconds; the probation (20 s) bounds it
SWAP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0)


class PrometheusSink:
    """Implements ``common.metrics_sink.MetricsSink`` on ``registry``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.reply_seconds = Histogram(
            "xianyu_reply_seconds",
            "From an account taking up a buyer message to its reply's send being confirmed.",
            buckets=REPLY_BUCKETS,
            registry=registry,
        )
        self.swap_seconds = Histogram(
            "xianyu_swap_seconds",
            "Make-before-break swap of an applied update or rollback: requested to the new "
            "session registered.",
            buckets=SWAP_BUCKETS,
            registry=registry,
        )
        self.updates = Counter(
            "xianyu_updates",
            "Cookie updates by outcome (applied, rolled_back, unchanged, stored, error).",
            ["outcome"],
            registry=registry,
        )
        self.rollbacks = Counter(
            "xianyu_rollbacks",
            "Rollbacks to an earlier cookie by outcome (applied, rolled_back, stored, error).",
            ["outcome"],
            registry=registry,
        )
        # every outcome from the first scrape on, so a rate() sees the first one
        for outcome in ("applied", "rolled_back", "unchanged", "stored", "error"):
            self.updates.labels(outcome=outcome)
        for outcome in ("applied", "rolled_back", "stored", "error"):
            self.rollbacks.labels(outcome=outcome)
        self._lock = threading.Lock()
        self._token_calls: dict[tuple[str, str], int] = {}

    def reply_sent(self, seconds: float) -> None:
        self.reply_seconds.observe(seconds)

    def token_call(self, seller_id: str, result: str) -> None:
        key = (seller_id, result)
        with self._lock:
            self._token_calls[key] = self._token_calls.get(key, 0) + 1

    def operation_finished(self, operation: str, outcome: str, swap_s: float | None) -> None:
        counter = self.rollbacks if operation == "rollback" else self.updates
        counter.labels(outcome=outcome).inc()
        if swap_s is not None and outcome == "applied":
            self.swap_seconds.observe(swap_s)

    def token_calls(self) -> dict[tuple[str, str], int]:
        """(seller id, result) -> calls so far."""
        with self._lock:
            return dict(self._token_calls)
