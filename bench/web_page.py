#!/usr/bin/env python3
"""The web page's fleet page with N accounts online: how long the server takes to render it.

    python bench/web_page.py --accounts N [--requests R] [--rate M] [--json]

``run.py serve`` (with ``--web 127.0.0.1:0``) against the simulator, N accounts added and
online; then the fleet page ``/`` is fetched R times in a row over loopback with a logged-in
session. ``server_ms`` is the page's own ``Server-Timing`` (from the request reaching the
handler to the rendered body: the ``status`` command through the dispatcher, 1,000 rows of
template), ``fetch_ms`` what the client waited (adds the HTTP exchange of ~400 bytes per row).
The first fetch is left out of the figures (template compilation). Target: server p50 ≤ 300 ms.

Then the service's CPU (% of one core) over ``--window-s`` with no page open
(``idle_cpu_pct``) and with ``--pages`` live streams open (``pages_cpu_pct``): the cost of
the live poll with the fleet idle.

Then the same under a buyer load of ``--rate`` messages/s in total (the issue's 300), pushed
by the harness's load generator (``harness.sim.Load``, round-robin over the accounts): after a
warm-up (every account's first message, then a second), the service's CPU over ``--window-s``
with no page open (``load_cpu_pct``) and with ``--pages`` live streams open
(``load_pages_cpu_pct``; the streams are opened, and the first poll's catch-up of every row
changed meanwhile is sent, before the window starts). ``pages_extra_cpu_pct`` is the
difference: what the open pages cost while counters change and rows are re-sent every
second. Target ≤ 2 % of one core.

Not ``bench/web.py``: a script run from bench/ has bench/ first on ``sys.path``, where a
``web.py`` would shadow the ``web`` package for every bench script and the service they start.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import http.cookiejar
import json
import socket
import sys
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import psutil
from harness.report import emit, spread
from harness.run import phase, script_main, start_fleet, start_rig
from harness.sim import SimRig

TARGET_MS = 300.0
TARGET_EXTRA_CPU_PCT = 2.0
# after the load's warm-up round (one message per account), this long more before measuring
_WARMUP_S = 1.0
# open streams this long after their first change event, before their CPU window: the first
# poll re-sends every row that changed while no page was open (under load, nearly all), a
# one-off when pages open, not the steady cost of pages left open
_STREAM_SETTLE_S = 2.0
_FIRST_CHANGE_TIMEOUT_S = 30.0
_DRAIN_S = 10.0


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=1000, help="accounts online")
    parser.add_argument("--requests", type=int, default=30, help="fleet page fetches")
    parser.add_argument("--pages", type=int, default=5, help="live streams for the CPU figure")
    parser.add_argument("--window-s", type=float, default=10.0, help="each CPU window")
    parser.add_argument("--rate", type=float, default=300.0, help="buyer messages/s in total")
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    return parser.parse_args(argv)


def login_url(log_path: Path, *, timeout_s: float = 30.0) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for line in log_path.read_text(errors="replace").splitlines():
            if '"web_listening"' in line:
                return str(json.loads(line)["login_url"])
        time.sleep(0.1)
    raise TimeoutError(f"no web_listening line in {log_path}")


def cpu_pct(process: psutil.Process, window_s: float) -> float:
    """The process's CPU over the next ``window_s``, in % of one core."""
    before = process.cpu_times()
    time.sleep(window_s)
    after = process.cpu_times()
    used = (after.user - before.user) + (after.system - before.system)
    return round(100.0 * used / window_s, 2)


class Stream:
    """One open ``/live`` stream, drained on a thread (what a page's EventSource does)."""

    def __init__(self, base: str, session: str) -> None:
        parts = urllib.parse.urlsplit(base)
        self._conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        self._conn.request("GET", "/live", headers={"Cookie": f"xianyu_session={session}"})
        self._response = self._conn.getresponse()
        if self._response.status != 200:
            raise RuntimeError(f"/live answered {self._response.status}")
        self.received = 0  # bytes of the stream so far
        self._first_change = threading.Event()
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        with contextlib.suppress(Exception):
            while chunk := self._response.read1(65536):
                self.received += len(chunk)
                if b"event: change" in chunk:
                    self._first_change.set()

    def wait_first_change(self, timeout_s: float) -> None:
        if not self._first_change.wait(timeout_s):
            raise TimeoutError(f"/live sent no change event in {timeout_s}s")

    def close(self) -> None:
        # shut the socket down first: the reader thread holds the response's buffer lock
        # inside read1 until data comes (a keep-alive, 15 s away), and close() waits for it
        sock = self._conn.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self._conn.close()


def open_stream(base: str, session: str) -> Stream:
    return Stream(base, session)


def open_streams(base: str, session: str, count: int) -> list[Stream]:
    """``count`` live pages, each past its first change event (see ``_STREAM_SETTLE_S``)."""
    streams = [open_stream(base, session) for _ in range(count)]
    for stream in streams:
        stream.wait_first_change(_FIRST_CHANGE_TIMEOUT_S)
    time.sleep(_STREAM_SETTLE_S)
    return streams


def close_streams(streams: list[Stream]) -> None:
    for stream in streams:
        stream.close()


def cpu_under_load(
    args: argparse.Namespace,
    rig: SimRig,
    sellers: list[str],
    process: psutil.Process,
    base: str,
    session: str,
) -> dict[str, float | int]:
    """The service's CPU at ``args.rate`` msg/s, without and with ``args.pages`` live pages."""
    load = rig.start_load(sellers, args.rate)
    try:
        # the first message of each account takes its first-message path: not the steady state
        time.sleep(len(sellers) / args.rate + _WARMUP_S)
        without = cpu_pct(process, args.window_s)
        streams = open_streams(base, session, args.pages)
        try:
            received = sum(s.received for s in streams)
            with_pages = cpu_pct(process, args.window_s)
            received = sum(s.received for s in streams) - received
        finally:
            close_streams(streams)
    finally:
        load.stop()
    pushes = rig.ledger.pushed_between(load.started, load.stopped)
    rig.ledger.drain(_DRAIN_S, pushes)
    return {
        "rate": args.rate,
        "load_rate_per_s": round(load.achieved_rate, 1),
        "load_unanswered": len(pushes) - len(rig.ledger.latencies(pushes)),
        "load_cpu_pct": without,
        "load_pages_cpu_pct": with_pages,
        "pages_extra_cpu_pct": round(with_pages - without, 2),
        # what the open pages were sent during their window, all of them together
        "load_live_kb_per_s": round(received / 1024 / args.window_s, 1),
    }


def run(args: argparse.Namespace, stack: contextlib.ExitStack, tmp: Path) -> int:
    rig = start_rig(stack)
    service, fleet, _add_s = start_fleet(
        stack, rig, tmp / "data", args.accounts, extra_args=("--web", "127.0.0.1:0")
    )
    url = login_url(service.data_dir / "service.log")
    base = url.split("?", 1)[0]
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.open(url, timeout=30).read()
    server_ms: list[float] = []
    fetch_ms: list[float] = []
    size = 0
    rows = 0
    with phase(f"fetching the fleet page {args.requests} times"):
        for index in range(args.requests + 1):
            started = time.perf_counter()
            with opener.open(base, timeout=60) as response:
                body = response.read()
                timing = response.headers["Server-Timing"]
            elapsed = (time.perf_counter() - started) * 1000
            if index == 0:
                size, rows = len(body), body.count(b'<tr id="account-')
                continue
            fetch_ms.append(elapsed)
            server_ms.append(float(timing.split("dur=")[1]))
    session = next(c.value for c in jar if c.name == "xianyu_session") or ""
    with phase(f"service CPU, idle and with {args.pages} live pages"):
        idle = cpu_pct(service.process, args.window_s)
        streams = [open_stream(base, session) for _ in range(args.pages)]
        try:
            with_pages = cpu_pct(service.process, args.window_s)
        finally:
            close_streams(streams)
    with phase(f"service CPU at {args.rate:g} msg/s, without and with {args.pages} live pages"):
        loaded = cpu_under_load(args, rig, fleet.seller_ids, service.process, base, session)
    figures = {
        "accounts": args.accounts,
        "rows_rendered": rows,
        "page_kb": round(size / 1024, 1),
        **spread(server_ms, "server_ms"),
        **spread(fetch_ms, "fetch_ms"),
        "idle_cpu_pct": idle,
        "pages": args.pages,
        "pages_cpu_pct": with_pages,
        **loaded,
    }
    emit(
        "web: fleet page render",
        figures,
        targets=[
            ("server_ms_p50", f"≤ {TARGET_MS:g} ms with 1,000 accounts"),
            ("pages_extra_cpu_pct", f"≤ {TARGET_EXTRA_CPU_PCT:g} % (5 pages, 300 msg/s)"),
        ],
        as_json=args.json,
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    return script_main(parse, run, argv)


if __name__ == "__main__":
    sys.exit(main())
