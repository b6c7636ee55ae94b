"""A real browser for the web page's tests: Debian's headless Chromium driven by Selenium.

- ``browser``: one Chromium per test module (``chromium`` and ``chromium-driver`` from apt;
  ``.ci/run`` installs them); skipped with the reason when either is missing.
- ``screenshot(driver, name)``: a PNG of the page under one temp dir per run; prints the path.
- ``web_login_url(process)``: the login URL a ``run.py serve`` child logged at start.
- ``LiveTap(base_url, session)``: reads ``/live`` on a thread, keeping every byte (the
  tests look for secrets in it).
- ``page_ready(driver)``: the page's script connected its live stream.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import shutil
import socket
import tempfile
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.plugins.serve import ServeProcess
from tests.plugins.timing import scaled, wait_for

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
SESSION_COOKIE = "xianyu_session"
_shots: list[Path] = []


def missing_browser() -> str | None:
    if CHROMIUM is None:
        return "chromium is not installed (apt-get install chromium chromium-driver)"
    if CHROMEDRIVER is None:
        return "chromedriver is not installed (apt-get install chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    reason = missing_browser()
    if reason:
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service as ChromeService

    # at DEBUG selenium logs every command, the text a test types included (a cookie): the
    # secrets guard reads DEBUG records, and the test's own typing is not the service's leak
    for name in ("selenium", "urllib3"):
        logging.getLogger(name).setLevel(logging.WARNING)

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1400,1000",
        "--lang=en-US",
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-networking",
    ):
        options.add_argument(flag)
    options.add_experimental_option("prefs", {"intl.accept_languages": "en-US,en"})
    driver = webdriver.Chrome(options=options, service=ChromeService(str(CHROMEDRIVER)))
    driver.set_page_load_timeout(scaled(30))
    try:
        yield driver
    finally:
        driver.quit()


def screenshot(driver: Any, name: str) -> Path:
    if not _shots:
        _shots.append(Path(tempfile.mkdtemp(prefix="xianyu-web-shots-")))
    path = _shots[0] / f"{name}.png"
    driver.save_screenshot(str(path))
    print(f"screenshot: {path}")
    return path


def web_login_url(process: ServeProcess) -> str:
    """The ``login_url`` of the child's ``web_listening`` log line (JSON logs)."""

    def logged() -> str | None:
        for line in process.log_text().splitlines():
            if '"web_listening"' in line:
                return str(json.loads(line)["login_url"])
        return None

    return wait_for(logged, timeout=10, what="the web_listening log line")


def page_ready(driver: Any) -> bool:
    return bool(driver.execute_script("return document.body.dataset.live === 'on'"))


class LiveTap:
    """``GET /live`` with a session cookie, read on a thread until ``close()``."""

    def __init__(self, base_url: str, session: str, query: str = "") -> None:
        parts = urllib.parse.urlsplit(base_url)
        self._conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=scaled(60))
        self._conn.request(
            "GET", f"/live{query}", headers={"Cookie": f"{SESSION_COOKIE}={session}"}
        )
        self.response = self._conn.getresponse()
        self._chunks: list[bytes] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._read, name="live-tap", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            while chunk := self.response.read1(65536):
                with self._lock:
                    self._chunks.append(chunk)
        # closed under it by close() or by the server stopping: whatever read1 raises then
        except Exception:  # noqa: BLE001
            pass

    def text(self) -> str:
        with self._lock:
            return b"".join(self._chunks).decode(errors="replace")

    def close(self) -> None:
        # shut the socket down first: the reader thread holds the response's buffer lock
        # inside read1 until data comes (a keep-alive, 15 s away), and close() waits for it
        sock = self._conn.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self._conn.close()
