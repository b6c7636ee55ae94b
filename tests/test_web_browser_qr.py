"""The QR login panel in a real browser, against scripted ``login_start`` / ``login_poll`` /
``login_cancel`` answers in the shapes those commands give (the commands themselves, and the
end-to-end QR test through the simulator, live with the QR-login work)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from control.dispatch import Dispatcher
from tests.plugins.browser import screenshot
from tests.plugins.control import FakeSupervisor
from tests.plugins.timing import wait_for
from web import WebAddress, WebServer

try:
    from selenium.webdriver.common.by import By
except ImportError:  # the browser fixture skips, saying why
    By = None

pytestmark = pytest.mark.slow


class QrLoginDispatcher:
    """The real ``Dispatcher`` over the in-memory supervisor, plus scripted ``login_*``
    commands in the shapes the QR-login commands answer (their own tests live with them)."""

    # confirmed twice: first while the new login is being applied (no result yet), then done
    STATES = ("waiting", "scanned", "confirmed", "confirmed")

    def __init__(self) -> None:
        supervisor = FakeSupervisor()
        supervisor.add("shop-1", "unb=2200000000001; cookie2=qr-test-value")
        self._inner = Dispatcher(supervisor)
        self.polls = 0
        self.starts: list[dict[str, Any]] = []

    def knows(self, cmd: str) -> bool:
        return cmd in ("login_start", "login_poll", "login_cancel") or self._inner.knows(cmd)

    def call(self, cmd: str, args: Mapping[str, Any]) -> dict[str, Any]:
        if cmd == "login_start":
            self.starts.append(dict(args))
            result = {
                "login_id": "login-1",
                "qr_text": "https://passport.example.invalid/qr?code=abc123",
                "expires_at": "2026-12-01T23:00:00+00:00",
            }
            return {"ok": True, "result": result}
        if cmd == "login_poll":
            state = self.STATES[min(self.polls, len(self.STATES) - 1)]
            self.polls += 1
            done = {"outcome": "applied", "version": 2, "previous_version": 1, "swap_ms": 7.5}
            return {
                "ok": True,
                "result": {
                    "state": state,
                    "message": "",
                    "result": done if self.polls == len(self.STATES) else None,
                },
            }
        if cmd == "login_cancel":
            return {"ok": True, "result": {"state": "cancelled"}}
        return self._inner.call(cmd, args)


def test_the_qr_panel_shows_the_code_and_follows_the_login(browser: Any, short_dir: Path) -> None:
    dispatcher = QrLoginDispatcher()
    server = WebServer(WebAddress("127.0.0.1", 0), dispatcher, short_dir / "web-token").start()
    try:
        browser.delete_all_cookies()
        browser.get(server.login_url)
        browser.get(server.url + "accounts/shop-1")
        find = browser.find_element
        find(By.ID, "qr-start").click()
        wait_for(lambda: browser.find_elements(By.ID, "qr-img"), timeout=5, what="the QR")
        assert find(By.ID, "qr-img").get_attribute("src").startswith("data:image/svg+xml")
        wait_for(
            lambda: find(By.ID, "qr-state").get_attribute("data-state") == "scanned",
            timeout=10,
            what="scanned",
        )
        screenshot(browser, "account-qr-scanned")
        wait_for(
            lambda: browser.find_elements(By.CSS_SELECTOR, '#qr-answer [data-outcome="applied"]'),
            timeout=10,
            what="the login's result",
        )
        assert "swap 7.5 ms" in find(By.ID, "qr-answer").text
        assert find(By.ID, "qr-state").text == "confirmed"
        polls = dispatcher.polls
        assert not browser.find_elements(By.ID, "qr-img"), "a used code is taken away"
        screenshot(browser, "account-qr-confirmed")

        # the fleet page adds a new account by QR login
        browser.get(server.url)
        find(By.ID, "qr-account").send_keys("shop-2")
        find(By.ID, "qr-start").click()
        wait_for(lambda: browser.find_elements(By.ID, "qr-img"), timeout=5, what="the QR")
        screenshot(browser, "fleet-qr-new-account")
    finally:
        server.stop()
    assert polls == 4, "polling goes on while confirmed has no result, and stops at the result"
    assert dispatcher.starts == [{"account": "shop-1"}, {"account": "shop-2", "new": True}]
