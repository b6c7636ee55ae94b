#!/usr/bin/env python3
"""The web page's fleet page with N accounts online: how long the server takes to render it.

    python bench/web_page.py --accounts N [--requests R] [--json]

``run.py serve`` (with ``--web 127.0.0.1:0``) against the simulator, N accounts added and
online; then the fleet page ``/`` is fetched R times in a row over loopback with a logged-in
session. ``server_ms`` is the page's own ``Server-Timing`` (from the request reaching the
handler to the rendered body: the ``status`` command through the dispatcher, 1,000 rows of
template), ``fetch_ms`` what the client waited (adds the HTTP exchange of ~400 bytes per row).
The first fetch is left out of the figures (template compilation). Target: server p50 ≤ 300 ms.

Not ``bench/web.py``: a script run from bench/ has bench/ first on ``sys.path``, where a
``web.py`` would shadow the ``web`` package for every bench script and the service they start.
"""

from __future__ import annotations

import argparse
import contextlib
import http.cookiejar
import json
import sys
import time
import urllib.request
from pathlib import Path

from harness.report import emit, spread
from harness.run import phase, script_main, start_fleet, start_rig

TARGET_MS = 300.0


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=1000, help="accounts online")
    parser.add_argument("--requests", type=int, default=30, help="fleet page fetches")
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


def run(args: argparse.Namespace, stack: contextlib.ExitStack, tmp: Path) -> int:
    rig = start_rig(stack)
    service, _fleet, _add_s = start_fleet(
        stack, rig, tmp / "data", args.accounts, extra_args=("--web", "127.0.0.1:0")
    )
    url = login_url(service.data_dir / "service.log")
    base = url.split("?", 1)[0]
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )
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
    figures = {
        "accounts": args.accounts,
        "rows_rendered": rows,
        "page_kb": round(size / 1024, 1),
        **spread(server_ms, "server_ms"),
        **spread(fetch_ms, "fetch_ms"),
    }
    emit(
        "web: fleet page render",
        figures,
        targets=[("server_ms_p50", f"≤ {TARGET_MS:g} ms with 1,000 accounts")],
        as_json=args.json,
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    return script_main(parse, run, argv)


if __name__ == "__main__":
    sys.exit(main())
