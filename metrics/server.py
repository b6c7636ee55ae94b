"""``MetricsServer``: ``/metrics``, ``/healthz`` and ``/readyz`` over HTTP, on its own thread.

A small WSGI app on the standard library's server (one thread per request, so a slow scrape
does not hold up a health check); ``/metrics`` is ``prometheus_client``'s own WSGI app
(text or OpenMetrics, gzip when asked). It never runs on the IoLoop: a scrape asks the
supervisor and waits for its answer, which must not stall any account's socket.

- ``/healthz``: 200 ``ok`` while the supervisor answers within 2 s, else 503.
- ``/readyz``: 200 when every enabled account is serving or waits for a person
  (``needs_cookie``, ``failed``); else 503, one line per other account: id, state, last error.
"""

from __future__ import annotations

import socketserver
import threading
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import structlog
from prometheus_client import CollectorRegistry, ProcessCollector, make_wsgi_app

from common import metrics_sink
from common.errors import XianyuSupervisorError
from common.redact import redact_text
from metrics.collector import AccountsCollector, not_ready, observe_rows
from metrics.sink import PrometheusSink
from supervisor import SupervisorClient

log = structlog.get_logger(__name__)

HEALTH_TIMEOUT_S = 2.0
# below Prometheus' default scrape timeout (10 s), so a stuck supervisor still yields a scrape
SCRAPE_TIMEOUT_S = 5.0

StartResponse = Callable[[str, list[tuple[str, str]]], Any]


class _Server(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a request in progress never holds up the shutdown
    allow_reuse_address = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per scrape on stderr would drown the service's own log


class MetricsServer:
    """Serves the metrics of the service whose supervisor ``client`` talks to."""

    def __init__(self, address: tuple[str, int], client: SupervisorClient) -> None:
        self._address = address
        self._client = client
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)  # process_cpu_seconds_total, RSS, open fds
        self.sink = PrometheusSink(self.registry)
        self.registry.register(AccountsCollector(client, self.sink, timeout=SCRAPE_TIMEOUT_S))
        self._metrics_app = make_wsgi_app(self.registry)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        """Where it listens (the real port when 0 was asked for)."""
        if self._server is None:
            return self._address
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://{f'[{host}]' if ':' in host else host}:{port}"

    def start(self) -> MetricsServer:
        host, port = self._address
        try:
            server = make_server(
                host, port, self._app, server_class=_Server, handler_class=_QuietHandler
            )
        except OSError as exc:
            raise XianyuSupervisorError(
                f"cannot serve metrics on {host}:{port}: {exc.strerror or exc}",
                hint="pick another --metrics HOST:PORT, or stop what listens there",
            ) from exc
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.2}, name="metrics", daemon=True
        )
        self._thread.start()
        metrics_sink.install(self.sink)
        log.info("metrics_listening", url=self.url)
        return self

    def stop(self) -> None:
        metrics_sink.uninstall(self.sink)
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # --- the WSGI app -------------------------------------------------------------------

    def _app(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/metrics":
            return self._metrics_app(environ, start_response)
        if path == "/healthz":
            return self._healthz(start_response)
        if path == "/readyz":
            return self._readyz(start_response)
        return _text(start_response, "404 Not Found", "not found: try /metrics, /healthz, /readyz")

    def _healthz(self, start_response: StartResponse) -> Iterable[bytes]:
        if self._client.alive(timeout=HEALTH_TIMEOUT_S):
            return _text(start_response, "200 OK", "ok")
        reason = f"the supervisor did not answer within {HEALTH_TIMEOUT_S:g}s"
        return _text(start_response, "503 Service Unavailable", reason)

    def _readyz(self, start_response: StartResponse) -> Iterable[bytes]:
        rows = observe_rows(self._client, timeout=HEALTH_TIMEOUT_S)
        if rows is None:
            reason = f"the supervisor did not answer within {HEALTH_TIMEOUT_S:g}s"
            return _text(start_response, "503 Service Unavailable", reason)
        waiting = not_ready(rows)
        enabled = sum(1 for row in rows if row["enabled"])
        if not waiting:
            body = f"ready: {enabled} enabled accounts serving or waiting for a person"
            return _text(start_response, "200 OK", body)
        lines = [f"not ready: {len(waiting)} of {enabled} enabled accounts not serving"]
        for row in waiting:
            error = row.get("last_error")
            lines.append(f"{row['id']} {row['state']}" + (f": {error}" if error else ""))
        return _text(start_response, "503 Service Unavailable", redact_text("\n".join(lines)))


def _text(start_response: StartResponse, status: str, body: str) -> list[bytes]:
    data = (body + "\n").encode("utf-8")
    start_response(
        status,
        [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(data)))],
    )
    return [data]
