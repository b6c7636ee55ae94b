"""PassportClient over real HTTP against the simulator (renewal ladder, probe, QR login), and
the pure builders and classifiers of goofish.passport / goofish.qr_login."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import time
from collections.abc import Awaitable
from typing import TypeVar
from urllib.parse import parse_qsl, urlsplit

import pytest

from common.errors import LoginError
from goofish import Cookie
from goofish.passport import (
    LongLoginSettings,
    build_has_login,
    build_silent_has_login,
    classify_login_settings,
    classify_passport_response,
    classify_probe,
    long_login_state,
)
from goofish.passport_client import PassportClient, QrCode, RenewalOutcome
from goofish.qr_login import classify_query, login_form
from simulator.server import SimulatorHandle
from tests.plugins.simulator import Seller, fetch_token_retrying, make_did, new_seller

T = TypeVar("T")
NOW = 1_780_000_000.0


def run(coro: Awaitable[T]) -> T:
    return asyncio.run(_with_timeout(coro))


async def _with_timeout(coro: Awaitable[T]) -> T:
    return await asyncio.wait_for(coro, 10)


async def renew(sim: SimulatorHandle, cookie: Cookie, **kwargs) -> RenewalOutcome:
    client = PassportClient(sim.passport_url, sim.api_url, **kwargs.pop("client", {}))
    try:
        return await client.renew(cookie, **kwargs)
    finally:
        await client.close()


def renewals(sim: SimulatorHandle, seller: Seller) -> int:
    return sim.admin.user_state(seller.user_id)["renewals"]


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


# --- renewal ---------------------------------------------------------------------------------


def test_renew_mints_a_working_session_with_its_expiry(sim, seller) -> None:
    cookie = Cookie.parse(seller.cookie)
    outcome = run(renew(sim, cookie))
    assert outcome.ok and outcome.endpoint == "silentHasLogin" and outcome.calls == 1
    assert outcome.cookie.unb == cookie.unb
    assert outcome.cookie.get("cookie2") != cookie.get("cookie2")
    assert outcome.session_expires_at == pytest.approx(time.time() + 86400, abs=30)
    assert outcome.long_login_expires_at == pytest.approx(time.time() + 30 * 86400, abs=30)
    assert not outcome.long_login_extended  # 30 days left: no need
    fetch_token_retrying(sim.api_url, outcome.cookie.serialize(), make_did(cookie.unb))
    assert renewals(sim, seller) == 1
    assert outcome.cookie.get("cookie2") not in repr(outcome)


def test_the_fatigue_window_holds_renewal_unless_the_session_expired(sim, seller) -> None:
    renewed = run(renew(sim, Cookie.parse(seller.cookie))).cookie
    held = run(renew(sim, renewed))
    assert held.kind == "fatigue" and held.calls == 0 and held.cookie == renewed
    assert held.retry_at is not None and held.retry_at > time.time()
    assert renewals(sim, seller) == 1
    forced = run(renew(sim, renewed, session_expired=True))
    assert forced.ok and renewals(sim, seller) == 2


def test_an_expired_session_is_renewed_from_the_long_login(sim, seller) -> None:
    sim.admin.session(seller.user_id, expire_in_s=0)
    outcome = run(renew(sim, Cookie.parse(seller.cookie), session_expired=True))
    assert outcome.ok
    fetch_token_retrying(sim.api_url, outcome.cookie.serialize(), make_did(seller.user_id))


def test_a_long_login_expired_by_the_cookie_sends_nothing(sim, seller) -> None:
    past = str(int((time.time() - 60) * 1000))
    cookie = Cookie.parse(seller.cookie).merge_set_cookie([f"havana_lgc_exp={past}"])
    outcome = run(renew(sim, cookie))
    assert outcome.kind == "long_login_expired" and outcome.needs_login and outcome.calls == 0
    assert "ctl login" in outcome.message
    assert renewals(sim, seller) == 0
    bare = Cookie.parse(seller.cookie).merge_set_cookie(["havana_lgc2_77=; Max-Age=0"])
    assert run(renew(sim, bare)).kind == "long_login_expired"


def test_a_long_login_the_server_expired_is_refused_after_trying_has_login(sim, seller) -> None:
    sim.admin.session(seller.user_id, long_login="expired")
    outcome = run(renew(sim, Cookie.parse(seller.cookie)))
    assert outcome.kind == "refused" and outcome.needs_login
    assert outcome.endpoint == "hasLogin" and outcome.calls == 2
    assert outcome.cookie == Cookie.parse(seller.cookie)
    assert "登录已过期" in outcome.message and "ctl login" in outcome.message


def test_risk_control_stops_the_ladder_with_the_punish_url(start_sim) -> None:
    sim = start_sim(renew_risk_per_h=0)
    seller = new_seller(sim)
    outcome = run(renew(sim, Cookie.parse(seller.cookie)))
    assert outcome.kind == "risk_control" and outcome.calls == 1
    assert "punish" in outcome.punish_url and not outcome.needs_login


def test_a_near_long_login_end_is_extended_after_the_renewal(sim, seller) -> None:
    cookie = Cookie.parse(seller.cookie)
    outcome = run(renew(sim, cookie, client={"extend_within_s": 40 * 86400}))
    assert outcome.ok and outcome.long_login_extended
    assert outcome.cookie.get("havana_lgc2_77") != cookie.get("havana_lgc2_77")
    assert renewals(sim, seller) == 1  # setLoginSettings is not a renewal call


def test_an_unreachable_passport_is_an_error_outcome_not_an_exception(seller) -> None:
    client = PassportClient(closed_port_url(), closed_port_url(), timeout_s=2)

    async def scenario() -> RenewalOutcome:
        try:
            return await client.renew(Cookie.parse(seller.cookie))
        finally:
            await client.close()

    outcome = run(scenario())
    assert outcome.kind == "error" and outcome.network and not outcome.needs_login
    assert outcome.cookie == Cookie.parse(seller.cookie)


def test_probe_tells_alive_from_expired(sim, seller) -> None:
    client = PassportClient(sim.passport_url, sim.api_url)

    async def scenario() -> list[str]:
        try:
            kinds = [(await client.probe(Cookie.parse(seller.cookie)))[0].kind]
            sim.admin.session(seller.user_id, expire_in_s=0)
            kinds.append((await client.probe(Cookie.parse(seller.cookie)))[0].kind)
            return kinds
        finally:
            await client.close()

    assert run(scenario()) == ["alive", "session_expired"]


# --- QR login --------------------------------------------------------------------------------


async def _qr(sim: SimulatorHandle, steps) -> list:
    """Start a login, then for each step: run the admin action (or None) and poll once."""
    client = PassportClient(sim.passport_url, sim.api_url)
    try:
        code = await client.start()
        seen: list = [code]
        for action in steps:
            if action is not None:
                await asyncio.to_thread(action)
            seen.append(await client.poll(code))
        return seen
    finally:
        await client.close()


@pytest.mark.parametrize("variant", ["cookies", "token"])
def test_qr_login_follows_waiting_scanned_confirmed(sim, seller, variant) -> None:
    code, *states = run(
        _qr(
            sim,
            [
                None,
                lambda: sim.admin.qr_scan(seller.user_id),
                lambda: sim.admin.qr_confirm(variant=variant),
            ],
        )
    )
    assert isinstance(code, QrCode)
    assert code.qr_text.startswith(sim.passport_url) and code.lg_token in code.qr_text
    assert code.expires_at == pytest.approx(time.time() + 300, abs=30)
    assert [s.state for s in states] == ["waiting", "scanned", "confirmed"]
    cookie = states[-1].cookie
    assert cookie is not None and cookie.unb == seller.user_id
    assert cookie.get("havana_lgc2_77")  # renewable later
    fetch_token_retrying(sim.api_url, cookie.serialize(), make_did(seller.user_id))
    assert sim.admin.qr_codes()[0]["state"] == "CONFIRMED"


def test_qr_verification_then_confirmation(sim, seller) -> None:
    _, verifying, confirmed = run(
        _qr(
            sim,
            [
                lambda: (sim.admin.qr_scan(seller.user_id), sim.admin.qr_confirm(variant="verify")),
                sim.admin.qr_confirm,
            ],
        )
    )
    assert verifying.state == "verification_required" and "/iv/" in verifying.verify_url
    assert verifying.cookie is None
    assert confirmed.state == "confirmed" and confirmed.cookie.unb == seller.user_id


def test_qr_expired_and_cancelled_end_cleanly(sim, seller) -> None:
    _, expired = run(_qr(sim, [sim.admin.qr_expire]))
    assert expired.state == "expired" and expired.cookie is None
    _, cancelled = run(_qr(sim, [sim.admin.qr_cancel]))
    assert cancelled.state == "cancelled"


def test_qr_start_against_nothing_raises_login_error() -> None:
    client = PassportClient(closed_port_url(), closed_port_url(), timeout_s=2)

    async def scenario() -> None:
        try:
            await client.start()
        finally:
            await client.close()

    with pytest.raises(LoginError, match="QR generate"):
        run(scenario())


# --- pure ------------------------------------------------------------------------------------

COOKIE = "unb=42; cookie2=c2; _tb_token_=tb; cna=device; XSRF-TOKEN=xs; havana_lgc2_77=lgc"


def test_long_login_state_follows_the_site_script() -> None:
    future, past = str(int((NOW + 60) * 1000)), str(int((NOW - 60) * 1000))
    cookie = Cookie.parse(COOKIE)
    assert long_login_state(cookie, now=NOW).mode == "havana"  # no expiry cookie: try it
    with_exp = cookie.merge_set_cookie([f"havana_lgc_exp={future}", f"sdkSilent={future}"])
    state = long_login_state(with_exp, now=NOW)
    assert (state.mode, state.expires_at, state.fatigue_until) == ("havana", NOW + 60, NOW + 60)
    expired = cookie.merge_set_cookie([f"havana_lgc_exp={past}", f"sdkSilent={past}"])
    assert long_login_state(expired, now=NOW).mode is None
    assert long_login_state(expired, now=NOW).fatigue_until is None
    bak = expired.merge_set_cookie([f"cookie3_bak_exp={future}"])
    assert long_login_state(bak, now=NOW).mode == "cookie3"
    assert "no long-login" in long_login_state(Cookie.parse("unb=1"), now=NOW).reason


def test_request_builders_carry_what_the_passport_checks() -> None:
    cookie = Cookie.parse(COOKIE)
    silent = build_silent_has_login("https://passport.example/", cookie, mode="cookie3")
    query = dict(parse_qsl(urlsplit(silent.url).query))
    assert query["appEntrance"] == "xianyu_sdkSilent" and query["c2r"] == "true"
    assert "ltl" not in query and silent.body == "" and silent.headers["cookie"] == COOKIE
    has_login = build_has_login("https://passport.example", cookie, now_ms=1_700_000_000_000)
    fields = parse_qsl(has_login.body, keep_blank_values=True)
    assert [k for k, _ in fields][:7] == [
        "hid",
        "ltl",
        "appName",
        "appEntrance",
        "_csrf_token",
        "umidToken",
        "hsiz",
    ]
    assert dict(fields)["hid"] == "42" and dict(fields)["hsiz"] == "c2"
    assert dict(fields)["_csrf_token"] == "tb" and dict(fields)["umidToken"] == "device"
    trace = dict(fields)["pageTraceId"]
    assert trace.startswith("215041700000000000") and len(trace) == 24
    assert has_login.headers["x-xsrf-token"] == "xs"
    assert "c2" not in repr(has_login) and "cookie2" not in repr(silent)


def test_passport_classification() -> None:
    ok = {"content": {"data": {"processFinished": True, "resultCode": 100}, "success": True}}
    assert classify_passport_response(200, ok, require_finished=True).kind == "ok"
    unfinished = {"content": {"data": {"resultCode": 100}, "success": True}}
    assert classify_passport_response(200, unfinished, require_finished=True).kind == "refused"
    nested = {"data": {"content": {"data": {"success": True}}}}
    assert classify_passport_response(200, nested).kind == "ok"
    refused = {"content": {"data": {"titleMsg": "请重新登录"}, "success": False}}
    answer = classify_passport_response(200, refused)
    assert answer.kind == "refused" and "请重新登录" in answer.message
    risk = {"ret": ["FAIL_SYS_USER_VALIDATE"], "data": {"url": "https://x/punish?x5secdata=1"}}
    assert classify_passport_response(200, risk).punish_url == "https://x/punish?x5secdata=1"
    assert classify_passport_response(502, None).kind == "error"
    assert classify_passport_response(503, {"content": {}}).kind == "error"


def test_probe_classification() -> None:
    assert classify_probe(200, {"ret": ["SUCCESS::调用成功"]}, []).kind == "alive"
    stale = {"ret": ["FAIL_SYS_TOKEN_EXOIRED::令牌过期"]}
    assert classify_probe(200, stale, ["_m_h5_tk=a_1; Path=/"]).kind == "token_refreshed"
    assert classify_probe(200, stale, []).kind == "error"
    dead = {"ret": ["FAIL_SYS_SESSION_EXPIRED::Session过期"]}
    assert classify_probe(200, dead, []).kind == "session_expired"


def test_qr_classification() -> None:
    def step(data: dict, **top) -> str:
        return classify_query(200, {"content": {"data": data, "success": True}, **top}).state

    assert step({"qrCodeStatus": "NEW"}) == "waiting"
    assert step({"qrCodeStatus": "SCANED"}) == "scanned"
    assert step({"qrCodeStatus": "CANCELED"}) == "cancelled"
    assert step({"qrCodeStatus": "SOMETHING_NEW"}) == "waiting"  # keep polling
    assert step({"qrCodeStatus": "NEW"}, hasError=True) == "waiting"
    assert step({"qrCodeStatus": "ERROR"}) == "error"
    # a plain landing redirect is not a verification
    assert (
        step(
            {
                "qrCodeStatus": "CONFIRMED",
                "iframeRedirect": True,
                "iframeRedirectUrl": "https://www.goofish.com/",
            }
        )
        == "confirmed"
    )
    token = classify_query(200, {"content": {"data": {"qrCodeStatus": "CONFIRMED", "token": "t"}}})
    assert token.token == "t" and "'t'" not in repr(token)


def test_login_form_prefers_view_data_and_forces_umid_tag() -> None:
    html = '<script>window.viewData = {"loginFormData":{"appName":"xianyu","x":1}};</script>'
    assert login_form(html, {}) == {"appName": "xianyu", "x": "1", "umidTag": "SERVER"}
    fallback = login_form("<html></html>", {"XSRF-TOKEN": "xs"})
    assert fallback["_csrf_token"] == "xs" and fallback["fromSite"] == "77"


def test_a_passport_5xx_is_an_error_that_keeps_the_cookie_and_sends_one_call(sim, seller) -> None:
    sim.admin.fault(seller.user_id, "renew_error", seconds=30)
    cookie = Cookie.parse(seller.cookie)
    outcome = run(renew(sim, cookie))
    assert outcome.kind == "error" and not outcome.network and outcome.calls == 1
    assert outcome.cookie == cookie and "503" in outcome.message
    assert renewals(sim, seller) == 1


def test_a_slow_passport_times_out_as_a_network_error(sim, seller) -> None:
    sim.admin.fault(seller.user_id, "renew_slow", seconds=3)
    outcome = run(renew(sim, Cookie.parse(seller.cookie), client={"timeout_s": 0.3}))
    assert outcome.kind == "error" and outcome.network and "timed out" in outcome.message


def test_long_login_settings_after_a_login_and_after_switching_it_off(sim, seller) -> None:
    client = PassportClient(sim.passport_url, sim.api_url)
    cookie = Cookie.parse(seller.cookie)

    async def scenario():
        try:
            before = await client.long_login_settings(cookie)
            extended = await client.extend_long_login(cookie)
            return before, extended
        finally:
            await client.close()

    before, extended = run(scenario())
    assert before is not None and before.can_open and before.has_long_login
    assert extended is not None and extended.get("havana_lgc2_77") != cookie.get("havana_lgc2_77")
    assert classify_login_settings({"a": {"b": {"returnValue": {"canOpenLongLogin": True}}}}) == (
        LongLoginSettings(can_open=True, has_long_login=False)
    )
    assert classify_login_settings({"content": {}}) is None


def test_a_code_past_its_time_is_expired_even_if_the_server_does_not_say_so(sim) -> None:
    client = PassportClient(sim.passport_url, sim.api_url)

    async def scenario():
        try:
            code = await client.start()
            return await client.poll(dataclasses.replace(code, expires_at=time.time() - 1))
        finally:
            await client.close()

    state = run(scenario())
    assert state.state == "expired" and sim.admin.qr_codes()[0]["state"] == "NEW"
