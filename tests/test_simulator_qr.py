"""The simulator's QR login: mini_login, generate.do, query.do, login_token/login.do and the
admin ``qr`` calls, over raw HTTP (urllib only)."""

from __future__ import annotations

import json
import re
import urllib.parse
import urllib.request
from typing import Any

import pytest

from common.errors import ConflictError, NotFoundError
from simulator.server import SimulatorHandle
from tests.plugins.simulator import Seller, cookie_get, fetch_token_retrying, make_did
from tests.plugins.timing import wait_for

LOGIN_COOKIES = {"unb", "cookie2", "sgcookie", "csg", "tracknick", "_tb_token_", "havana_lgc2_77"}


def get(url: str) -> tuple[str, list[str]]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read().decode(), response.headers.get_all("Set-Cookie") or []


def post(url: str, form: dict[str, str]) -> tuple[dict[str, Any], list[str]]:
    request = urllib.request.Request(url, data=urllib.parse.urlencode(form).encode(), method="POST")
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read()), response.headers.get_all("Set-Cookie") or []


def generate(sim: SimulatorHandle) -> dict[str, Any]:
    text, _ = get(f"{sim.passport_url}newlogin/qrcode/generate.do?appName=xianyu&fromSite=77")
    payload = json.loads(text)
    assert payload["content"]["success"] is True
    return payload["content"]["data"]


def query(sim: SimulatorHandle, data: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    payload, set_cookies = post(
        f"{sim.passport_url}newlogin/qrcode/query.do?appName=xianyu&fromSite=77",
        {"t": str(data["t"]), "ck": data["ck"], "appName": "xianyu"},
    )
    return payload["content"]["data"], set_cookies


def lg_token(data: dict[str, Any]) -> str:
    return urllib.parse.parse_qs(urllib.parse.urlsplit(data["codeContent"]).query)["lgToken"][0]


def jar(set_cookies: list[str]) -> str:
    return "; ".join(h.split(";", 1)[0] for h in set_cookies)


def test_mini_login_has_view_data_and_sets_the_bootstrap_cookies(sim) -> None:
    html, set_cookies = get(f"{sim.passport_url}mini_login.htm?appName=xianyu")
    view = json.loads(re.search(r"window\.viewData = (\{.*?\});</script>", html).group(1))
    assert view["loginFormData"]["appName"] == "xianyu"
    assert view["loginFormData"]["fromSite"] == "77"
    names = {h.split("=", 1)[0] for h in set_cookies}
    assert {"XSRF-TOKEN", "_tb_token_"} <= names


def test_generate_gives_a_code_that_the_admin_lists_as_new(sim) -> None:
    data = generate(sim)
    assert isinstance(data["t"], int) and data["ck"] and data["resultCode"] == 100
    assert data["codeContent"].startswith(sim.passport_url + "qrcodeCheck.htm?lgToken=")
    assert "tbScanOpenType=Notification" in data["codeContent"]
    second = generate(sim)
    codes = sim.admin.qr_codes()
    assert [c["lg_token"] for c in codes] == [lg_token(second), lg_token(data)]  # newest first
    assert codes[0]["state"] == "NEW" and codes[0]["user_id"] is None
    assert codes[0]["created_at"] >= codes[1]["created_at"]
    assert query(sim, data)[0]["qrCodeStatus"] == "NEW"
    assert query(sim, {**data, "ck": "wrong"})[0]["qrCodeStatus"] == "ERROR"


def test_scan_then_confirm_with_cookies_logs_the_seller_in(sim, seller: Seller) -> None:
    data = generate(sim)
    scanned = sim.admin.qr_scan(seller.user_id)
    assert scanned["state"] == "SCANED" and scanned["user_id"] == seller.user_id
    status, set_cookies = query(sim, data)
    assert status["qrCodeStatus"] == "SCANED" and set_cookies == []
    sim.admin.qr_confirm()
    status, set_cookies = query(sim, data)
    assert status["qrCodeStatus"] == "CONFIRMED" and status["processFinished"] is True
    assert {h.split("=", 1)[0] for h in set_cookies} >= LOGIN_COOKIES
    cookie = jar(set_cookies)
    assert cookie_get(cookie, "unb") == seller.user_id
    fetch_token_retrying(sim.api_url, cookie, make_did(seller.user_id))  # a working login
    state = sim.admin.user_state(seller.user_id)
    assert state["qr_logins"] == 1


def test_confirm_with_a_token_hands_the_login_over_once(sim, seller: Seller) -> None:
    data = generate(sim)
    sim.admin.qr_scan(seller.user_id, lg_token(data))
    sim.admin.qr_confirm(lg_token(data), variant="token")
    status, set_cookies = query(sim, data)
    assert status["qrCodeStatus"] == "CONFIRMED" and status["token"] and set_cookies == []
    url = (
        f"{sim.passport_url}login_token/login.do?token={status['token']}"
        "&subFlow=DIALOG_CHECK_LOGIN_RPC&nextCode=0018&bizScene=qrcode&confirm=true"
    )
    payload, set_cookies = post(url, {"deviceId": ""})
    assert payload["content"]["data"]["loginResult"] == "success"
    assert cookie_get(jar(set_cookies), "unb") == seller.user_id
    payload, set_cookies = post(url, {"deviceId": ""})
    assert payload["content"]["success"] is False and set_cookies == []


def test_verify_variant_asks_for_a_verification_until_confirmed_again(sim, seller) -> None:
    data = generate(sim)
    sim.admin.qr_scan(seller.user_id)
    sim.admin.qr_confirm(variant="verify")
    status, set_cookies = query(sim, data)
    assert status["qrCodeStatus"] == "CONFIRMED" and status["iframeRedirect"] is True
    assert "/iv/" in status["iframeRedirectUrl"] and set_cookies == []
    sim.admin.qr_confirm()  # the phone finished the check
    status, set_cookies = query(sim, data)
    assert "iframeRedirect" not in status
    assert cookie_get(jar(set_cookies), "unb") == seller.user_id


def test_cancel_and_expire_end_codes(sim, seller) -> None:
    first, second = generate(sim), generate(sim)
    assert sim.admin.qr_cancel(lg_token(first))["state"] == "CANCELED"
    sim.admin.qr_scan(seller.user_id, lg_token(second))
    assert sim.admin.qr_expire()["state"] == "EXPIRED"  # the newest open code
    assert query(sim, first)[0]["qrCodeStatus"] == "CANCELED"
    assert query(sim, second)[0]["qrCodeStatus"] == "EXPIRED"


def test_codes_expire_on_their_own(start_sim) -> None:
    sim = start_sim(qr_lifetime_s=0.3)
    data = generate(sim)
    wait_for(lambda: query(sim, data)[0]["qrCodeStatus"] == "EXPIRED", timeout=5)
    assert sim.admin.qr_codes()[0]["state"] == "EXPIRED"


def test_admin_qr_refusals_say_what_is_wrong(sim, seller) -> None:
    with pytest.raises(ConflictError, match="generate one first"):
        sim.admin.qr_scan(seller.user_id)
    data = generate(sim)
    with pytest.raises(ConflictError, match="scan one first"):
        sim.admin.qr_confirm()
    with pytest.raises(NotFoundError):
        sim.admin.qr_scan("404404")
    with pytest.raises(NotFoundError):
        sim.admin.qr_cancel("0" * 32)
    sim.admin.qr_scan(seller.user_id)
    with pytest.raises(ConflictError, match="variant"):
        sim.admin.qr_confirm(variant="sms")
    with pytest.raises(ConflictError, match="SCANED"):
        sim.admin.qr_scan(seller.user_id, lg_token(data))
    sim.admin.qr_confirm()
    with pytest.raises(ConflictError, match="already confirmed"):
        sim.admin.qr_confirm(lg_token(data))
