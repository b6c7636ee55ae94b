"""Scrape the service's ``/metrics`` every few seconds, as Prometheus would (``--metrics``)."""

from __future__ import annotations

import socket
import threading
import time
import urllib.request


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Scraper:
    """A thread GETting ``url`` every ``interval_s``; ``durations_ms`` of each scrape."""

    def __init__(self, url: str, interval_s: float) -> None:
        self._url = url
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="scraper", daemon=True)
        self.durations_ms: list[float] = []
        self.failures = 0
        self.last_size = 0

    def start(self) -> Scraper:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            started = time.perf_counter()
            try:
                with urllib.request.urlopen(self._url, timeout=30) as answer:
                    self.last_size = len(answer.read())
            except OSError:
                self.failures += 1
                continue
            self.durations_ms.append((time.perf_counter() - started) * 1000.0)
