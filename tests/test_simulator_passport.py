"""The simulator's passport stand-in: renewal, ageing sessions, risk control, long-login,
the loginuser.get probe and the admin ``session`` call, over raw HTTP (urllib only)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import pytest

from common.errors import ConflictError, NotFoundError
from simulator.server import SimulatorHandle
from tests.plugins.simulator import (
    Seller,
    cookie_get,
    cookie_merge,
    fetch_token,
    make_did,
    new_seller,
    online,
)
from tests.plugins.timing import wait_for

SILENT = "newlogin/silentHasLogin.do"
SILENT_QUERY = (
    "?documentReferer=https%3A%2F%2Fwww.goofish.com%2Fim"
    "&appName=xianyu&appEntrance=xianyu_sdkSilent&fromSite=0"
)
HAS_LOGIN = "newlogin/hasLogin.do?appName=xianyu&fromSite=77"
SETTINGS = "ac/account/setLoginSettings.do?fromSite=77&appName=xianyu&bizEntrance=web"
QUERY_SETTINGS = "ac/account/queryLoginSettings.do?fromSite=77&appName=xianyu&bizEntrance=web"


def post(
    url: str, cookie: str, form: dict[str, str] | None = None
) -> tuple[dict[str, Any], list[str]]:
    body = urllib.parse.urlencode(form).encode() if form is not None else b""
    headers = {"cookie": cookie, "content-type": "application/x-www-form-urlencoded"}
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read()), response.headers.get_all("Set-Cookie") or []


def silent(sim: SimulatorHandle, cookie: str, mode: str = "&ltl=true") -> tuple[dict, list[str]]:
    return post(f"{sim.passport_url}{SILENT}{SILENT_QUERY}{mode}", cookie)


def names(set_cookies: list[str]) -> set[str]:
    return {h.split("=", 1)[0] for h in set_cookies}


def token_ret(sim: SimulatorHandle, cookie: str) -> str:
    payload, _ = fetch_token(sim.api_url, cookie, make_did(cookie_get(cookie, "unb")))
    return " ".join(payload["ret"])


def test_silent_renewal_mints_a_new_session_and_the_old_one_dies_after_the_grace(
    start_sim,
) -> None:
    sim = start_sim(renew_grace_s=0.5)
    seller = new_seller(sim)
    payload, set_cookies = silent(sim, seller.cookie)
    assert payload["hasError"] is False
    assert payload["content"]["success"] is True
    assert payload["content"]["data"] == {"resultCode": 100, "processFinished": True}
    assert {"cookie2", "sgcookie", "csg", "_tb_token_", "unb", "sdkSilent"} <= names(set_cookies)
    renewed = cookie_merge(seller.cookie, set_cookies)
    assert cookie_get(renewed, "unb") == seller.user_id
    assert cookie_get(renewed, "cookie2") != cookie_get(seller.cookie, "cookie2")
    for name in ("sgcookie", "csg", "_tb_token_"):
        assert cookie_get(renewed, name) != cookie_get(seller.cookie, name)
    assert int(cookie_get(renewed, "sdkSilent")) > time.time() * 1000
    cookie2_header = next(h for h in set_cookies if h.startswith("cookie2="))
    assert "Max-Age=86400" in cookie2_header
    assert "SUCCESS" in token_ret(sim, seller.cookie)  # within the grace
    assert "SUCCESS" in token_ret(sim, renewed)
    wait_for(
        lambda: "FAIL_SYS_SESSION_EXPIRED" in token_ret(sim, seller.cookie),
        timeout=5,
        what="the old session to die after the grace",
    )
    assert "SUCCESS" in token_ret(sim, renewed)
    assert sim.admin.user_state(seller.user_id)["renewals"] == 1


def test_cookie3_mode_renews_too_and_a_call_without_a_mode_is_refused(sim, seller) -> None:
    payload, set_cookies = silent(sim, seller.cookie, "&skipSessionFilter=true&c2r=true")
    assert payload["content"]["success"] is True and "cookie2" in names(set_cookies)
    payload, set_cookies = silent(sim, seller.cookie, "")
    assert payload["content"]["success"] is False and set_cookies == []
    assert "ltl=true" in payload["content"]["data"]["titleMsg"]


def test_an_expired_session_answers_session_expired_closes_its_connection_and_can_be_renewed(
    sim, seller
) -> None:
    async def scenario() -> None:
        client = await online(sim, seller)
        assert sim.admin.session(seller.user_id, expire_in_s=0) == 1
        await asyncio.wait_for(client.closed, 5)

    asyncio.run(scenario())
    assert "FAIL_SYS_SESSION_EXPIRED" in token_ret(sim, seller.cookie)
    payload, set_cookies = silent(sim, seller.cookie)  # the long-login is still valid
    assert payload["content"]["success"] is True
    assert "SUCCESS" in token_ret(sim, cookie_merge(seller.cookie, set_cookies))
    assert sim.admin.session(seller.user_id, expire_in_s=0) == 1  # only the renewed one lived


def test_sessions_age_on_their_own(start_sim) -> None:
    sim = start_sim(session_lifetime_s=0.5)
    seller = new_seller(sim)
    assert "SUCCESS" in token_ret(sim, seller.cookie)
    wait_for(lambda: "SESSION_EXPIRED" in token_ret(sim, seller.cookie), timeout=5)


def test_an_expired_long_login_refuses_renewal_until_made_valid_again(sim, seller) -> None:
    sim.admin.session(seller.user_id, long_login="expired")
    payload, set_cookies = silent(sim, seller.cookie)
    assert payload["content"]["success"] is False and set_cookies == []
    assert "登录已过期" in payload["content"]["data"]["titleMsg"]
    assert "SUCCESS" in token_ret(sim, seller.cookie)  # the session itself still lives
    sim.admin.session(seller.user_id, long_login="valid")
    assert silent(sim, seller.cookie)[0]["content"]["success"] is True


def test_a_revoked_login_cannot_be_renewed(sim, seller) -> None:
    sim.admin.revoke(user_id=seller.user_id)
    payload, _ = silent(sim, seller.cookie)
    assert payload["content"]["success"] is False


def test_has_login_needs_matching_hid_and_hsiz_of_a_live_session(sim, seller) -> None:
    url = sim.passport_url + HAS_LOGIN
    form = {"hid": seller.user_id, "hsiz": cookie_get(seller.cookie, "cookie2"), "ltl": "true"}
    payload, _ = post(url, seller.cookie, {**form, "hid": "1"})
    assert payload["content"]["success"] is False
    payload, set_cookies = post(url, seller.cookie, form)
    assert payload["content"]["success"] is True
    assert {"cookie2", "sgcookie", "csg", "_tb_token_", "unb", "tracknick"} <= names(set_cookies)
    assert "sdkSilent" not in names(set_cookies)
    sim.admin.session(seller.user_id, expire_in_s=0)
    assert post(url, seller.cookie, form)[0]["content"]["success"] is False


def test_renewing_too_often_answers_risk_control_for_a_while(start_sim) -> None:
    sim = start_sim(renew_risk_per_h=2, renew_risk_s=0.5)
    seller = new_seller(sim)
    assert silent(sim, seller.cookie)[0]["content"]["success"] is True
    assert silent(sim, seller.cookie)[0]["content"]["success"] is True
    payload, set_cookies = silent(sim, seller.cookie)
    assert payload["ret"][0] == "FAIL_SYS_USER_VALIDATE" and "RGV587" in payload["ret"][1]
    assert "punish" in payload["data"]["url"] and payload["content"]["success"] is False
    assert set_cookies == []
    assert sim.admin.user_state(seller.user_id)["renewals"] == 3


def test_login_settings_renew_the_long_login_and_switch_it_off(sim, seller) -> None:
    url = sim.passport_url + SETTINGS
    payload, set_cookies = post(url, seller.cookie, {"status": "0"})
    assert payload["content"]["success"] is True
    assert {"havana_lgc2_77", "_hvn_lgc_", "havana_lgc_exp"} <= names(set_cookies)
    assert any(h.startswith("havana_lgc_exp=") and "HttpOnly" in h for h in set_cookies)
    extended = cookie_merge(seller.cookie, set_cookies)
    lgc = json.loads(base64.b64decode(cookie_get(extended, "havana_lgc2_77")))
    assert lgc["hid"] == int(seller.user_id) and lgc["site"] == 77 and lgc["token"]
    query, _ = post(sim.passport_url + QUERY_SETTINGS, extended)
    assert query["content"]["data"]["returnValue"] == {
        "canOpenLongLogin": True,
        "hasLongTokenLogin": True,
    }
    payload, set_cookies = post(url, extended, {"status": "1"})
    assert payload["content"]["success"] is True
    assert all("Max-Age=0" in h for h in set_cookies) and "havana_lgc2_77" in names(set_cookies)
    assert silent(sim, extended)[0]["content"]["success"] is False
    query, _ = post(sim.passport_url + QUERY_SETTINGS, extended)
    assert query["content"]["data"]["returnValue"]["hasLongTokenLogin"] is False


def test_login_settings_need_a_live_session(sim, seller) -> None:
    sim.admin.session(seller.user_id, expire_in_s=0)
    payload, set_cookies = post(sim.passport_url + SETTINGS, seller.cookie, {"status": "0"})
    assert payload["content"]["success"] is False and set_cookies == []


def _probe(sim: SimulatorHandle, seller: Seller) -> dict[str, Any]:
    t = str(int(time.time() * 1000))
    tk = cookie_get(seller.cookie, "_m_h5_tk").split("_")[0]
    sign = hashlib.md5(f"{tk}&{t}&34839810&{{}}".encode()).hexdigest()
    query = urllib.parse.urlencode({"appKey": "34839810", "t": t, "sign": sign, "v": "1.0"})
    url = f"{sim.api_url}mtop.taobao.idlemessage.pc.loginuser.get/1.0/?{query}"
    return post(url, seller.cookie, {"data": "{}"})[0]


def test_loginuser_probe_says_alive_then_session_expired(sim, seller) -> None:
    alive = _probe(sim, seller)
    assert alive["ret"] == ["SUCCESS::调用成功"] and alive["data"]["userId"] == seller.user_id
    sim.admin.session(seller.user_id, expire_in_s=0)
    assert _probe(sim, seller)["ret"] == ["FAIL_SYS_SESSION_EXPIRED::Session过期"]
    state = sim.admin.user_state(seller.user_id)
    assert state["probes"] == 2 and state["token_calls"] == 0


def test_admin_session_refuses_bad_input(sim, seller) -> None:
    with pytest.raises(NotFoundError):
        sim.admin.session("404404", expire_in_s=1)
    with pytest.raises(ConflictError, match="expire_in_s"):
        sim.admin.session(seller.user_id, expire_in_s=-1)
    with pytest.raises(ConflictError, match="long_login"):
        sim.admin.session(seller.user_id, long_login="later")


def test_state_has_the_login_counters(sim, seller) -> None:
    token_ret(sim, seller.cookie)
    state = sim.admin.user_state(seller.user_id)
    assert {"renewals": 0, "qr_logins": 0, "token_calls": 1}.items() <= state.items()


def test_passport_answers_unknown_sellers_with_a_refusal(sim) -> None:
    payload, set_cookies = silent(sim, "unb=999; cookie2=x")
    assert payload["content"]["success"] is False and set_cookies == []
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(sim.passport_url + "nothing.do", timeout=5)


def test_renew_error_fault_answers_503_for_a_while(sim, seller) -> None:
    sim.admin.fault(seller.user_id, "renew_error", seconds=30)
    with pytest.raises(urllib.error.HTTPError) as caught:
        silent(sim, seller.cookie)
    assert caught.value.code == 503
    assert sim.admin.user_state(seller.user_id)["renewals"] == 1


def test_the_risk_window_shrinks_with_an_accelerated_clock(start_sim) -> None:
    sim = start_sim(renew_risk_per_h=1, renew_risk_window_s=0.3, renew_risk_s=0.0)
    seller = new_seller(sim)
    assert silent(sim, seller.cookie)[0]["content"]["success"] is True
    assert "ret" in silent(sim, seller.cookie)[0]  # the second within the window: risk
    # calls spaced wider than the window are fine again
    wait_for(
        lambda: silent(sim, seller.cookie)[0]["content"]["success"],
        timeout=5,
        interval=0.5,
        what="renewal allowed again once the window passed",
    )
