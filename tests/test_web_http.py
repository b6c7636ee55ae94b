"""The web page over real HTTP against an in-process service and the simulator (no browser):
the gate (token, session, CSRF), every page in both languages, actions through the
dispatcher, the live stream, token rotation, and no cookie value in any answer."""

from __future__ import annotations

import http.cookiejar
import json
import re
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from common.errors import XianyuSupervisorError
from service.app import Service
from tests.plugins.browser import SESSION_COOKIE, LiveTap
from tests.plugins.faults import SecretsGuard, add_echo_account
from tests.plugins.simulator import Seller, second_login
from tests.plugins.timing import wait_for
from web.auth import rotate_token

pytestmark = pytest.mark.usefixtures("secrets_guard")


@dataclass
class Answer:
    status: int
    headers: Any
    body: str

    def json(self) -> Any:
        return json.loads(self.body)


class Browserless:
    """urllib with a cookie jar: what a browser does, minus the browser."""

    def __init__(self, base: str, guard: SecretsGuard) -> None:
        self.base = base.rstrip("/")
        self.jar = http.cookiejar.CookieJar()
        self._opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        self._guard = guard
        self.csrf = ""

    def request(
        self,
        path: str,
        *,
        body: Any = None,
        headers: dict[str, str] | None = None,
        csrf: bool = True,
    ) -> Answer:
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body))
        all_headers = dict(headers or {})
        if data is not None:
            all_headers.setdefault("Content-Type", "application/json")
            if csrf:
                all_headers.setdefault("X-CSRF-Token", self.csrf)
        request = urllib.request.Request(
            self.base + path,
            data=data.encode() if isinstance(data, str) else data,
            headers=all_headers,
        )
        try:
            with self._opener.open(request, timeout=30) as response:
                answer = Answer(response.status, response.headers, response.read().decode())
        except urllib.error.HTTPError as refused:
            answer = Answer(refused.code, refused.headers, refused.read().decode())
        self._guard.add_text(f"answer to {path}", answer.body)
        found = re.search(r'name="csrf-token" content="([^"]*)"', answer.body)
        if found and found.group(1):
            self.csrf = found.group(1)
        return answer

    def session(self) -> str:
        return next(c.value for c in self.jar if c.name == SESSION_COOKIE) or ""


@pytest.fixture
def web_service(start_service: Callable[..., Service]) -> Service:
    return start_service(web="127.0.0.1:0")


@pytest.fixture
def page(web_service: Service, secrets_guard: SecretsGuard) -> Browserless:
    assert web_service.web is not None
    client = Browserless(web_service.web.url, secrets_guard)
    assert client.request("/?token=" + web_service.web.login_url.split("token=")[1]).status == 200
    return client


def test_every_route_needs_the_session(web_service: Service, secrets_guard: SecretsGuard) -> None:
    assert web_service.web is not None
    stranger = Browserless(web_service.web.url, secrets_guard)
    for path in ("/", "/accounts/shop", "/accounts/shop/history", "/events", "/live"):
        assert stranger.request(path).status == 403, path
    refused = stranger.request("/api/remove", body={"account": "shop"}, csrf=False)
    assert refused.status == 403
    assert refused.json()["error"]["code"] == "no_session"
    wrong = stranger.request("/?token=wrong")
    assert wrong.status == 403
    assert "web-token" in wrong.body
    assert not list(stranger.jar)
    # the page's own static files are public (the refusal page itself needs them)
    assert stranger.request("/static/app.js").status == 200


def test_login_sets_a_strict_http_only_session_and_safe_headers(
    web_service: Service, secrets_guard: SecretsGuard
) -> None:
    assert web_service.web is not None
    client = Browserless(web_service.web.url, secrets_guard)
    opener = urllib.request.build_opener(NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as redirect:
        opener.open(web_service.web.login_url, timeout=10)
    assert redirect.value.code == 303
    assert redirect.value.headers["Location"] == "/"
    cookie = redirect.value.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    assert client.request("/?token=" + web_service.web.login_url.split("token=")[1]).status == 200
    fleet = client.request("/")
    assert "default-src 'self'" in fleet.headers["Content-Security-Policy"]
    assert fleet.headers["Referrer-Policy"] == "no-referrer"
    assert fleet.headers["Cache-Control"] == "no-store"
    assert fleet.headers["Server-Timing"].startswith("app;dur=")


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def test_every_page_renders_in_both_languages(
    web_service: Service, page: Browserless, seller: Seller
) -> None:
    add_echo_account(web_service.client, "shop", seller)
    for lang, word in (("en-US,en;q=0.9", "Fleet"), ("zh-CN,zh;q=0.9", "账号总览")):
        for path in ("/", "/accounts/shop", "/accounts/shop/history", "/events?account=shop"):
            answer = page.request(path, headers={"Accept-Language": lang})
            assert answer.status == 200, (path, answer.body[:500])
        assert word in page.request("/", headers={"Accept-Language": lang}).body
    # the toggle's cookie wins over the browser's preference
    assert page.request("/lang/zh?next=/events").status == 200
    assert "事件" in page.request("/events", headers={"Accept-Language": "en"}).body
    page.request("/lang/en?next=https://elsewhere.example/")  # only our own pages
    assert "Fleet" in page.request("/", headers={"Accept-Language": "zh"}).body


def test_an_unknown_account_is_a_sentence_not_a_traceback(page: Browserless) -> None:
    answer = page.request("/accounts/nobody")
    assert answer.status == 404
    assert "account &#39;nobody&#39; not found" in answer.body
    assert "Traceback" not in answer.body


def test_a_post_without_csrf_is_refused_and_changes_nothing(
    web_service: Service, page: Browserless, seller: Seller
) -> None:
    add_echo_account(web_service.client, "shop", seller)
    page.request("/accounts/shop")
    for headers in ({}, {"X-CSRF-Token": "forged"}):
        refused = page.request("/api/remove", body={"account": "shop"}, headers=headers, csrf=False)
        assert refused.status == 403
        assert refused.json()["error"]["code"] == "csrf"
    assert web_service.client.status("shop")["accounts"][0]["enabled"] is True
    assert "removed" not in [e["kind"] for e in web_service.client.events("shop")["events"]]


def test_actions_answer_as_the_control_socket_does(
    web_service: Service, page: Browserless, seller: Seller, sim: Any
) -> None:
    add_echo_account(web_service.client, "shop", seller)
    page.request("/accounts/shop")
    fresh = second_login(sim, seller)
    update = page.request("/api/update", body={"account": "shop", "cookie": fresh})
    assert update.status == 200
    assert update.json()["result"]["outcome"] == "applied"
    assert "swap" in update.json()["html"]
    assert fresh not in update.body
    bad = page.request("/api/update", body={"account": "shop", "cookie": 7})
    assert bad.status == 400
    assert bad.json()["error"] == {
        "code": "bad_request",
        "message": "argument 'cookie' must be a non-empty cookie string ('k=v; k=v')",
    }
    assert page.request("/api/nope", body={}).json()["error"]["code"] == "unknown_command"
    assert page.request("/api/status", body=b"not json").status == 400
    settings = page.request("/api/set", body={"account": "shop", "remark": "备注 1"})
    assert settings.json()["result"]["account"]["remark"] == "备注 1"
    assert page.request("/api/account", body={"account": "shop"}).json()["result"]["account"][
        "remark"
    ] == ("备注 1")
    invalid = page.request(
        "/api/set_rules", body={"account": "shop", "rules": [{"keyword": " ", "reply": "x"}]}
    )
    assert invalid.status == 400
    assert "rules[0].keyword" in invalid.json()["error"]["message"]


def test_rules_preview_uses_the_accounts_matching(
    web_service: Service, page: Browserless, seller: Seller
) -> None:
    add_echo_account(web_service.client, "shop", seller)
    page.request("/accounts/shop")
    draft = {
        "account": "shop",
        "rules": [
            {"keyword": "价格", "reply": "general {buyer_name}"},
            {"keyword": "价格", "reply": "item {item_id}", "item_id": "42"},
        ],
        "default_reply": {"text": "default: {text}"},
    }

    def preview(text: str, **more: Any) -> dict[str, Any]:
        answer = page.request("/api/rules_preview", body={**draft, "text": text, **more})
        assert answer.status == 200, answer.body
        result: dict[str, Any] = answer.json()["result"]
        return result

    assert preview("价格?")["reply"] == "general buyer"
    on_item = preview("价格?", item_id="42")
    assert (on_item["rule_index"], on_item["reply"]) == (1, "item 42")
    assert preview("hello")["kind"] == "default"
    # without a draft: the saved rules (the echo account's default reply)
    saved = page.request("/api/rules_preview", body={"account": "shop", "text": "hi"}).json()
    assert saved["result"] == {
        "kind": "default",
        "keyword": None,
        "item_id": None,
        "rule_index": None,
        "reply": "auto: hi",
        "silent": False,
        "once_per_chat": False,
    }


def test_the_live_stream_carries_new_accounts_and_events(
    web_service: Service, page: Browserless, seller: Seller, secrets_guard: SecretsGuard
) -> None:
    assert web_service.web is not None
    page.request("/")
    tap = LiveTap(web_service.web.url, page.session())
    try:
        wait_for(lambda: ": live" in tap.text(), timeout=5, what="the stream's start")
        add_echo_account(web_service.client, "shop", seller)
        wait_for(lambda: '"state":"online"' in tap.text(), timeout=10, what="shop online")
        wait_for(lambda: '"kind":"added"' in tap.text(), timeout=10, what="the added event")
        web_service.client.remove("shop")
        wait_for(lambda: '"removed":["shop"]' in tap.text(), timeout=10, what="the removal")
    finally:
        tap.close()
        secrets_guard.add_text("live stream", tap.text())


def test_a_rotated_token_ends_every_session(web_service: Service, page: Browserless) -> None:
    assert web_service.web is not None
    old_login = web_service.web.login_url
    assert page.request("/").status == 200
    new_token = rotate_token(web_service.settings.web_token_path)
    assert page.request("/").status == 403
    assert page.request("/?token=" + old_login.split("token=")[1]).status == 403
    assert page.request("/?token=" + new_token).status == 200
    assert web_service.settings.web_token_path.stat().st_mode & 0o777 == 0o600


def test_stopping_with_an_open_stream_is_quick(
    start_service: Callable[..., Service], secrets_guard: SecretsGuard
) -> None:
    service = start_service(web="127.0.0.1:0")
    assert service.web is not None
    client = Browserless(service.web.url, secrets_guard)
    client.request("/?token=" + service.web.login_url.split("token=")[1])
    tap = LiveTap(service.web.url, client.session())
    wait_for(lambda: ": live" in tap.text(), timeout=5, what="the stream's start")
    started = time.monotonic()
    service.stop()
    assert time.monotonic() - started < 5
    tap.close()


def test_a_port_in_use_is_a_clear_error_at_start(start_service: Callable[..., Service]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(XianyuSupervisorError, match=f"cannot listen on 127.0.0.1:{port}"):
            start_service(web=f"127.0.0.1:{port}")


def test_an_account_id_with_a_slash_has_its_page(
    web_service: Service, page: Browserless, seller: Seller
) -> None:
    add_echo_account(web_service.client, "shop/1", seller, online=False)
    fleet = page.request("/").body
    assert 'href="/accounts/shop%2F1"' in fleet
    assert page.request("/accounts/shop%2F1").status == 200


def test_an_unknown_page_is_a_sentence(page: Browserless) -> None:
    answer = page.request("/no/such/page")
    assert answer.status == 404
    assert "Not Found: /no/such/page" in answer.body
    assert page.request("/api/status").status == 405  # GET on an action
