"""The web page in a real browser (headless Chromium, Selenium) against ``run.py serve`` and the
simulator: login, the live fleet, cookie updates, the rules editor, CSRF, languages, secrets.

Every test saves a screenshot (path printed) and hands every page source, the ``/live``
stream it tapped and the service's log to the secrets guard: no cookie value may be in them.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from control.arguments import COMMANDS
from tests.plugins.browser import (
    SESSION_COOKIE,
    LiveTap,
    page_ready,
    screenshot,
    web_login_url,
)
from tests.plugins.faults import BUYER, SecretsGuard
from tests.plugins.serve import ServeProcess
from tests.plugins.simulator import Seller, new_seller, second_login
from tests.plugins.timing import wait_for

pytestmark = pytest.mark.slow


@dataclass
class Web:
    """One service with its page, the browser, and what the test saw."""

    process: ServeProcess
    driver: Any
    guard: SecretsGuard
    login_url: str
    taps: list[LiveTap] = field(default_factory=list)

    @property
    def base(self) -> str:
        return self.login_url.split("?", 1)[0].rstrip("/")

    def login(self) -> None:
        self.driver.get(self.login_url)
        wait_for(lambda: self.find("h1"), timeout=10, what="the fleet page")

    def open(self, path: str, *, live: bool = True) -> None:
        self.driver.get(self.base + path)
        if live:
            wait_for(lambda: page_ready(self.driver), timeout=10, what="the live stream")
        self.keep_source(path)

    def find(self, css: str) -> Any:
        from selenium.webdriver.common.by import By

        found = self.driver.find_elements(By.CSS_SELECTOR, css)
        return found[0] if found else None

    def text(self, css: str) -> str:
        """The rendered text of the first match, read in one step (live updates replace
        elements: a found element can go stale before it is read)."""
        return str(
            self.driver.execute_script(
                "const e = document.querySelector(arguments[0]);"
                "return e ? e.innerText.trim() : '';",
                css,
            )
        )

    def attr(self, css: str, name: str) -> str | None:
        value = self.driver.execute_script(
            "const e = document.querySelector(arguments[0]);"
            "return e ? e.getAttribute(arguments[1]) : null;",
            css,
            name,
        )
        return None if value is None else str(value)

    def keep_source(self, where: str) -> None:
        self.guard.add_text(f"page {where}", self.driver.page_source)

    def session(self) -> str:
        cookie = self.driver.get_cookie(SESSION_COOKIE)
        assert cookie is not None, "not logged in"
        return str(cookie["value"])

    def tap(self, query: str = "") -> LiveTap:
        tap = LiveTap(self.base, self.session(), query)
        self.taps.append(tap)
        return tap

    def ctl(self, cmd: str, **args: Any) -> dict[str, Any]:
        with self.process.client() as client:
            return client.call(cmd, **args)

    def add_account(self, account: str, seller: Seller) -> None:
        self.ctl("add", account=account, cookie=seller.cookie)


@pytest.fixture
def web(serve: Any, browser: Any, secrets_guard: SecretsGuard) -> Iterator[Web]:
    process = serve(web="127.0.0.1:0")
    browser.delete_all_cookies()
    site = Web(process, browser, secrets_guard, web_login_url(process))
    yield site
    site.keep_source("last page")
    for tap in site.taps:
        tap.close()
        secrets_guard.add_text("live stream", tap.text())
    secrets_guard.add_text("service log", process.log_text())


def _status(url: str, *, data: bytes | None = None, headers: dict[str, str] | None = None) -> int:
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as refused:
        return int(refused.code)


def online(web: Web, account: str) -> bool:
    return web.ctl("status", account=account)["accounts"][0]["state"] == "online"


def test_token_url_logs_in_and_a_wrong_token_or_no_session_is_refused(web: Web) -> None:
    web.driver.get(web.base + "/")
    assert web.find("#refused") is not None, "a page without a session must be refused"
    assert "web-token" in web.text("#refused")
    assert _status(web.base + "/") == 403
    assert _status(web.base + "/events") == 403
    assert _status(web.base + "/live") == 403

    web.driver.get(web.base + "/?token=not-the-token")
    assert "wrong" in web.text("#refused")
    assert web.driver.get_cookie(SESSION_COOKIE) is None
    screenshot(web.driver, "login-refused")

    web.login()
    assert web.driver.current_url == web.base + "/", "the token leaves the address bar"
    assert web.text("h1") == "Fleet"
    cookie = web.driver.get_cookie(SESSION_COOKIE)
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert web.find("#fleet-empty").is_displayed()
    screenshot(web.driver, "fleet-empty")
    web.keep_source("/")


def test_an_account_added_appears_live_and_turns_online(web: Web, sim: Any) -> None:
    web.login()
    web.open("/")
    tap = web.tap()
    seller = new_seller(sim, nick="shop")
    web.add_account("shop-1", seller)

    row = "#account-shop-1"
    wait_for(lambda: web.find(row), timeout=10, what="the new row")
    wait_for(
        lambda: web.attr(row, "data-state") == "online",
        timeout=15,
        what="the row turning online",
    )
    assert web.text(f"{row} .state") == "online"
    assert web.text('[data-count="online"]') == "1"
    assert web.text("#count-all") == "1"
    # the search and the state filter hide what does not match
    web.find("#search").send_keys("nobody")
    assert web.attr(row, "hidden") is not None
    assert web.text("#shown") == "0"
    web.find("#search").clear()
    web.find('button[data-filter="needs_cookie"]').click()
    assert web.attr(row, "hidden") is not None
    web.find('button[data-filter="online"]').click()
    assert web.attr(row, "hidden") is None
    wait_for(lambda: '"state":"online"' in tap.text(), timeout=10, what="the row on /live")

    # the connection drops: the row shows the reconnect and comes back online, no reload
    sim.admin.fault(seller.user_id, "close")
    wait_for(lambda: web.text(f"{row} td.reconnects") == "1", timeout=20, what="reconnects 1")
    wait_for(
        lambda: web.attr(row, "data-state") == "online",
        timeout=15,
        what="online again",
    )
    screenshot(web.driver, "fleet-live-online")
    web.keep_source("/ live")


def _send_cookie(web: Web, cookie: str) -> str:
    web.find("#cookie").send_keys(cookie)
    web.find("#send-cookie").click()
    assert web.find("#cookie").get_attribute("value") == "", "the pasted cookie is cleared"
    wait_for(
        lambda: web.find("#update-answer [data-outcome]") or web.find("#update-answer .failed"),
        timeout=40,
        what="the update's answer",
    )
    outcome = web.find("#update-answer [data-outcome]")
    return str(outcome.get_attribute("data-outcome")) if outcome is not None else "failed"


def test_a_pasted_cookie_is_applied_and_a_revoked_one_rolled_back(web: Web, sim: Any) -> None:
    seller = new_seller(sim, nick="shop")
    web.add_account("shop-1", seller)
    web.ctl(
        "set_rules",
        account="shop-1",
        rules=[],
        default_reply={"text": "auto: hello", "once_per_chat": False},
    )
    wait_for(lambda: online(web, "shop-1"), timeout=15, what="shop-1 online")
    web.login()
    web.open("/accounts/shop-1")
    tap = web.tap("?account=shop-1")

    assert _send_cookie(web, second_login(sim, seller)) == "applied"
    assert web.text("#update-answer .swap-ms").endswith(" ms")
    assert "version 2" in web.text("#update-answer")
    wait_for(
        lambda: web.find('#history tr[data-version="2"][data-status="active"]'),
        timeout=10,
        what="version 2 active in the history",
    )
    screenshot(web.driver, "account-applied")
    web.keep_source("/accounts/shop-1 applied")

    revoked = second_login(sim, seller)
    sim.admin.revoke(cookie=revoked)
    assert _send_cookie(web, revoked) == "rolled_back"
    assert web.text("#update-answer .reason"), "a rollback says why"
    assert "update again" in web.text("#update-answer .explain")
    screenshot(web.driver, "account-rolled-back")
    web.keep_source("/accounts/shop-1 rolled back")

    # the previous cookie kept serving: a buyer still gets an answer
    sim.admin.push(to=seller.user_id, from_=BUYER, text="still there?")
    wait_for(
        lambda: any(m.get("text") == "auto: hello" for m in sim.admin.sent(seller.user_id)),
        timeout=15,
        what="the reply after the rollback",
    )
    assert web.ctl("status", account="shop-1")["accounts"][0]["cookie_version"] == 2
    wait_for(lambda: "update_rolled_back" in tap.text(), timeout=10, what="the event on /live")

    # back to a chosen version: the history (refreshed) offers version 1
    wait_for(
        lambda: web.find('#rollback-to option[value="1"]'), timeout=10, what="version 1 offered"
    )
    assert web.find('#rollback-to option[value="3"]') is None, "a failed version is not offered"
    # chosen and sent in one step: an event may refresh the history (and its form) any time
    web.driver.execute_script(
        "const select = document.getElementById('rollback-to');"
        "select.value = '1'; select.form.requestSubmit(document.getElementById('do-rollback'));"
    )
    wait_for(
        lambda: web.find('#action-answer [data-outcome="applied"]'),
        timeout=40,
        what="the rollback applied",
    )
    assert "version 1" in web.text("#action-answer")
    assert web.ctl("status", account="shop-1")["accounts"][0]["cookie_version"] == 1
    screenshot(web.driver, "account-rolled-back-to-1")


def test_a_rule_saved_in_the_editor_answers_the_next_buyer_message(web: Web, sim: Any) -> None:
    seller = new_seller(sim, nick="shop")
    web.add_account("shop-1", seller)
    wait_for(lambda: online(web, "shop-1"), timeout=15, what="shop-1 online")
    web.login()
    web.open("/accounts/shop-1")

    web.find("#add-rule").click()
    web.find("#rule-rows tr.rule .reply").send_keys("这件 ¥88，包邮。{buyer_name}")
    web.find("#save-rules").click()
    wait_for(lambda: web.find("#rules-answer .failed"), timeout=5, what="the editor's check")
    assert "keyword is empty" in web.text("#rules-answer")

    web.find("#rule-rows tr.rule .keyword").send_keys("价格")
    web.find("#preview-text").send_keys("请问价格多少")
    web.find("#preview-go").click()
    wait_for(lambda: web.find("#preview-answer .preview-reply"), timeout=5, what="the preview")
    assert "rule 1" in web.text("#preview-answer")
    assert web.text("#preview-answer .preview-reply") == "这件 ¥88，包邮。buyer"

    web.find("#save-rules").click()
    wait_for(lambda: web.find("#rules-answer .ok"), timeout=5, what="the rules saved")
    screenshot(web.driver, "account-rules")
    assert web.ctl("rules", account="shop-1")["rules"][0]["keyword"] == "价格"

    web.find("#remark").send_keys("主店")
    web.find("#pause-minutes").clear()
    web.find("#pause-minutes").send_keys("15")
    web.find("#save-settings").click()
    wait_for(lambda: web.find("#settings-answer .ok"), timeout=5, what="the settings saved")
    stored = web.ctl("account", account="shop-1")["account"]
    assert (stored["remark"], stored["pause_minutes"]) == ("主店", 15)

    sim.admin.push(to=seller.user_id, from_=BUYER, text="价格多少")
    wait_for(
        lambda: any(
            str(m.get("text", "")).startswith("这件 ¥88") for m in sim.admin.sent(seller.user_id)
        ),
        timeout=15,
        what="the rule's reply to the buyer",
    )


def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(web: Web, sim: Any) -> None:
    seller = new_seller(sim, nick="shop")
    web.add_account("shop-1", seller)
    web.login()
    web.open("/accounts/shop-1")
    body = json.dumps({"account": "shop-1"}).encode()
    cookie = {"Cookie": f"{SESSION_COOKIE}={web.session()}", "Content-Type": "application/json"}
    assert _status(web.base + "/api/remove", data=body, headers=cookie) == 403
    assert (
        _status(web.base + "/api/remove", data=body, headers={**cookie, "X-CSRF-Token": "forged"})
        == 403
    )
    # the browser itself, without the header the page's script adds
    status = web.driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch('/api/disable', {method: 'POST', credentials: 'same-origin',"
        " headers: {'Content-Type': 'application/json'},"
        " body: JSON.stringify({account: 'shop-1'})})"
        ".then(r => done(r.status));"
    )
    assert status == 403
    account = web.ctl("status", account="shop-1")["accounts"][0]
    assert account["enabled"] is True
    assert [e["kind"] for e in web.ctl("events", account="shop-1")["events"]] == ["added"]
    screenshot(web.driver, "account-after-csrf")

    # remove asks first: dismissed, nothing happens; accepted, the account goes
    web.find("#do-remove").click()
    web.driver.switch_to.alert.dismiss()
    assert web.ctl("status")["accounts"]
    web.find("#do-remove").click()
    web.driver.switch_to.alert.accept()
    wait_for(lambda: web.driver.current_url == web.base + "/", timeout=20, what="back to the fleet")
    assert web.ctl("status")["accounts"] == []


def test_chinese_by_accept_language_and_by_the_toggle(web: Web) -> None:
    web.login()
    request = urllib.request.Request(
        web.base + "/",
        headers={
            "Cookie": f"{SESSION_COOKIE}={web.session()}",
            "Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5",
        },
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert "账号总览" in response.read().decode()
    assert web.text("h1") == "Fleet"
    web.find("#lang-toggle").click()
    wait_for(lambda: web.text("h1") == "账号总览", timeout=5, what="the page in Chinese")
    screenshot(web.driver, "fleet-zh")
    web.find("#lang-toggle").click()
    wait_for(lambda: web.text("h1") == "Fleet", timeout=5, what="the page in English")


def test_qr_login_on_the_page_ends_applied(web: Web, sim: Any) -> None:
    """The QR panel against the real QR-login commands; the simulator's admin ``qr/scan`` and
    ``qr/confirm`` play the seller's phone."""
    seller = new_seller(sim, nick="shop")
    web.add_account("shop-1", seller)
    wait_for(lambda: online(web, "shop-1"), timeout=15, what="shop-1 online")
    web.login()
    web.open("/accounts/shop-1")
    web.find("#qr-start").click()
    wait_for(lambda: web.find("#qr-img"), timeout=10, what="the QR code")
    assert str(web.attr("#qr-img", "src")).startswith("data:image/svg+xml")
    code = wait_for(sim.admin.qr_codes, timeout=5, what="the code in the simulator")[-1]
    sim.admin.qr_scan(seller.user_id, lg_token=code["lg_token"])
    wait_for(lambda: web.attr("#qr-state", "data-state") == "scanned", timeout=15, what="scanned")
    screenshot(web.driver, "account-qr-real-scanned")
    sim.admin.qr_confirm(lg_token=code["lg_token"])
    wait_for(
        lambda: web.find('#qr-answer [data-outcome="applied"]'),
        timeout=40,
        what="the login applied",
    )
    assert "swap" in web.text("#qr-answer")
    assert web.attr("#qr-state", "data-state") == "confirmed"
    assert web.ctl("status", account="shop-1")["accounts"][0]["cookie_version"] == 2
    screenshot(web.driver, "account-qr-real-applied")
    web.keep_source("/accounts/shop-1 after QR login")


def test_the_qr_panel_follows_what_the_dispatcher_knows(web: Web, sim: Any) -> None:
    web.add_account("shop-1", new_seller(sim, nick="shop"))
    web.login()
    web.open("/accounts/shop-1")
    if "login_start" in COMMANDS:
        assert web.find("#qr-start") is not None
    else:
        assert "unavailable" in web.text("#qr-unavailable")
    web.open("/events?account=shop-1")
    assert web.text("#event-rows tr td:nth-child(3)") == "added"
    screenshot(web.driver, "events")
