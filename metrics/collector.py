"""``AccountsCollector``: the per-account series, read from the supervisor at scrape time.

One ``SupervisorClient.observe()`` per scrape (the supervisor answers from its own
bookkeeping and the children's status cells, never asking a child), so counting costs the
hot path nothing: received and replied are the counters the status table shows already.
Labels are bounded: one ``account`` per account, plus a small fixed set of states, reasons,
causes and results; nothing per chat or buyer.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any

import structlog
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from common.errors import XianyuSupervisorError
from metrics.sink import PrometheusSink
from supervisor import State, SupervisorClient

log = structlog.get_logger(__name__)

# states in which an account waits for a person (a fresh cookie, or a look at the crashes):
# /readyz does not hold them against the service
WAITS_FOR_A_PERSON = frozenset({State.NEEDS_COOKIE, State.FAILED})


def observe_rows(client: SupervisorClient, *, timeout: float) -> list[dict[str, Any]] | None:
    """The supervisor's rows, or None when it does not answer (logged)."""
    try:
        return list(client.observe(timeout=timeout)["accounts"])
    except XianyuSupervisorError as exc:
        log.warning("metrics_observe_failed", error=str(exc))
        return None


def not_ready(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Enabled accounts neither serving nor waiting for a person."""
    return [
        row
        for row in rows
        if row["enabled"] and not row["serving"] and row["state"] not in WAITS_FOR_A_PERSON
    ]


class AccountsCollector(Collector):
    """Yields the account series of one scrape; token calls come from ``sink``."""

    def __init__(
        self, client: SupervisorClient, sink: PrometheusSink, *, timeout: float = 10.0
    ) -> None:
        self._client = client
        self._sink = sink
        self._timeout = timeout

    def collect(self) -> Iterator[Metric]:
        rows = observe_rows(self._client, timeout=self._timeout)
        up = GaugeMetricFamily(
            "xianyu_supervisor_up", "1 when the supervisor answered this scrape, else 0."
        )
        up.add_metric([], 0.0 if rows is None else 1.0)
        yield up
        if rows is None:
            return
        yield from self._account_series(rows)
        yield self._token_calls(rows)

    def _account_series(self, rows: list[dict[str, Any]]) -> Iterator[Metric]:
        accounts = GaugeMetricFamily(
            "xianyu_accounts", "Accounts by the state 'ctl status' shows.", labels=["state"]
        )
        by_state = Counter(row["state"] for row in rows)
        for state in State:
            accounts.add_metric([str(state)], by_state.get(str(state), 0))
        serving = GaugeMetricFamily(
            "xianyu_account_up",
            "1 while the account is registered and answering (also under an update), else 0.",
            labels=["account"],
        )
        received = CounterMetricFamily(
            "xianyu_messages_received",
            "Buyer messages the account took up (each message once).",
            labels=["account"],
        )
        replies = CounterMetricFamily(
            "xianyu_replies", "Replies the server confirmed.", labels=["account"]
        )
        reconnects = CounterMetricFamily(
            "xianyu_reconnects",
            "Reconnects by why the previous session ended (network, auth, risk, "
            "normal_close, token_changed, swap_failed).",
            labels=["account", "reason"],
        )
        restarts = CounterMetricFamily(
            "xianyu_restarts",
            "Fresh generations of the account's actor by cause (crash, timeout, operator, "
            "update, rollback, commit_failed).",
            labels=["account", "cause"],
        )
        for row in rows:
            account = row["id"]
            serving.add_metric([account], 1.0 if row["serving"] else 0.0)
            received.add_metric([account], row["received"])
            replies.add_metric([account], row["replied"])
            for reason, count in sorted(row["reconnects_by"].items()):
                reconnects.add_metric([account, reason], count)
            for cause, count in sorted(row["restarts_by"].items()):
                restarts.add_metric([account, cause], count)
        yield from (accounts, serving, received, replies, reconnects, restarts)

    def _token_calls(self, rows: list[dict[str, Any]]) -> Metric:
        calls = CounterMetricFamily(
            "xianyu_token_calls",
            "Token API calls by result (success, token_expired, session_expired, "
            "risk_control, error, network, cancelled).",
            labels=["account", "result"],
        )
        # two accounts of one seller: the first by id gets its calls (later keys win)
        account_of: Mapping[str, str] = {row["user_id"]: row["id"] for row in reversed(rows)}
        for (seller, result), count in sorted(self._sink.token_calls().items()):
            account = account_of.get(seller)
            if account is not None:  # a seller no account has any more (removed)
                calls.add_metric([account, result], count)
        return calls
