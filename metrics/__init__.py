"""Prometheus metrics and health checks of the running service (``--metrics HOST:PORT``).

- ``metrics.address``: ``parse_address("127.0.0.1:9108") -> (host, port)``.
- ``metrics.sink``: ``PrometheusSink``, the observations made where they happen (reply
  latency, token calls, update outcomes and swap times), installed as ``common.metrics_sink``.
- ``metrics.collector``: ``AccountsCollector``, what the supervisor keeps, read at scrape time.
- ``metrics.server``: ``MetricsServer(address, client).start()`` / ``.stop()``: ``/metrics``,
  ``/healthz``, ``/readyz`` on a thread of its own.

Nothing here runs on the hot path: a scrape asks the supervisor once for its rows.
"""

# light on purpose: the serve CLI checks an address without loading prometheus_client
from metrics.address import parse_address

__all__ = ["parse_address"]
