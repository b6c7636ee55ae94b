"""The simulated token API: sign, _m_h5_tk rotation, sessions, risk control (section 2)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from simulator.server import SimulatorHandle
from tests.plugins.simulator import (
    RawClient,
    cookie_get,
    cookie_merge,
    fetch_token,
    fetch_token_retrying,
    make_did,
    new_seller,
)
from tests.plugins.timing import wait_for


def _without(cookie: str, name: str) -> str:
    return "; ".join(p for p in cookie.split("; ") if not p.startswith(f"{name}="))


def test_admin_cookie_holds_every_login_field(sim: SimulatorHandle) -> None:
    seller = new_seller(sim)
    for name in ("unb", "cookie2", "_m_h5_tk", "_m_h5_tk_enc", "t", "cna", "sgcookie"):
        assert cookie_get(seller.cookie, name), name
    assert cookie_get(seller.cookie, "unb") == seller.user_id


def test_missing_mh5tk_answers_token_empty_with_fresh_cookie(sim: SimulatorHandle) -> None:
    seller = new_seller(sim)
    did = make_did(seller.user_id)
    cookie = _without(seller.cookie, "_m_h5_tk")
    payload, set_cookies = fetch_token(sim.api_url, cookie, did)
    assert payload["ret"] == ["FAIL_SYS_TOKEN_EMPTY::令牌为空"]
    names = sorted(c.split("=")[0] for c in set_cookies)
    assert names == ["_m_h5_tk", "_m_h5_tk_enc"]
    retried, _ = fetch_token(sim.api_url, cookie_merge(cookie, set_cookies), did)
    assert retried["ret"] == ["SUCCESS::调用成功"]


def test_stale_mh5tk_answers_token_expired_and_rotates(
    start_sim: Callable[..., SimulatorHandle],
) -> None:
    sim = start_sim(mh5tk_lifetime_s=0.0)
    seller = new_seller(sim)
    payload, set_cookies = fetch_token(sim.api_url, seller.cookie, make_did(seller.user_id))
    assert payload["ret"] == ["FAIL_SYS_TOKEN_EXOIRED::令牌过期"]
    fresh = cookie_get(cookie_merge(seller.cookie, set_cookies), "_m_h5_tk")
    assert fresh != cookie_get(seller.cookie, "_m_h5_tk")
    token, time_ms = fresh.split("_")
    assert len(token) == 32 and len(time_ms) == 13


def test_unknown_mh5tk_is_treated_as_stale(sim: SimulatorHandle) -> None:
    seller = new_seller(sim)
    forged = seller.cookie.replace(cookie_get(seller.cookie, "_m_h5_tk"), "0" * 32 + "_1")
    payload, set_cookies = fetch_token(sim.api_url, forged, make_did(seller.user_id))
    assert payload["ret"] == ["FAIL_SYS_TOKEN_EXOIRED::令牌过期"] and set_cookies


def test_revoked_session_answers_session_expired(sim: SimulatorHandle) -> None:
    seller = new_seller(sim)
    other = new_seller(sim, user_id=seller.user_id)  # a second login of the same seller
    assert sim.admin.revoke(cookie=seller.cookie) == 1
    payload, _ = fetch_token(sim.api_url, seller.cookie, make_did(seller.user_id))
    assert payload["ret"] == ["FAIL_SYS_SESSION_EXPIRED::Session过期"]
    still, _ = fetch_token(sim.api_url, other.cookie, make_did(seller.user_id))
    assert still["ret"] == ["SUCCESS::调用成功"]


def test_unknown_seller_answers_session_expired(sim: SimulatorHandle) -> None:
    seller = new_seller(sim)
    stranger = seller.cookie.replace(f"unb={seller.user_id}", "unb=999")
    payload, _ = fetch_token(sim.api_url, stranger, make_did("999"))
    assert payload["ret"] == ["FAIL_SYS_SESSION_EXPIRED::Session过期"]


def test_token_expired_fault_fails_the_next_call_once(sim: SimulatorHandle) -> None:
    seller = new_seller(sim)
    did = make_did(seller.user_id)
    sim.admin.fault(seller.user_id, "token_expired")
    payload, set_cookies = fetch_token(sim.api_url, seller.cookie, did)
    assert payload["ret"] == ["FAIL_SYS_TOKEN_EXOIRED::令牌过期"] and set_cookies
    # the old _m_h5_tk is dead now: only the merged cookie works
    again, _ = fetch_token(sim.api_url, seller.cookie, did)
    assert again["ret"] == ["FAIL_SYS_TOKEN_EXOIRED::令牌过期"]
    merged, _ = fetch_token(sim.api_url, cookie_merge(seller.cookie, set_cookies), did)
    assert merged["ret"] == ["SUCCESS::调用成功"]


def test_captcha_fault_answers_punish_url_for_its_duration(sim: SimulatorHandle) -> None:
    seller = new_seller(sim)
    did = make_did(seller.user_id)
    sim.admin.fault(seller.user_id, "captcha", seconds=0.3)
    payload, _ = fetch_token(sim.api_url, seller.cookie, did)
    assert payload["ret"] == [
        "FAIL_SYS_USER_VALIDATE",
        "RGV587_ERROR::SM::哎哟喂,被挤爆啦,请稍后重试",
    ]
    assert "punish?x5secdata=" in payload["data"]["url"]
    wait_for(
        lambda: fetch_token(sim.api_url, seller.cookie, did)[0]["ret"] == ["SUCCESS::调用成功"],
        timeout=5,
        interval=0.05,
        what="captcha window to end",
    )


def test_state_counts_token_calls_and_tokens_issued(sim: SimulatorHandle) -> None:
    seller = new_seller(sim)
    did = make_did(seller.user_id)
    fetch_token(sim.api_url, seller.cookie, did, bad_sign=True)
    fetch_token(sim.api_url, seller.cookie, did)
    counts = sim.admin.user_state(seller.user_id)
    assert counts["token_calls"] == 2 and counts["tokens_issued"] == 1


def test_token_is_bound_to_its_device_id(sim: SimulatorHandle) -> None:
    seller = new_seller(sim)
    token, cookie = fetch_token_retrying(sim.api_url, seller.cookie, make_did(seller.user_id))

    async def scenario() -> None:
        client = await RawClient.open(sim.ws_url, cookie)
        reply = await client.register(token, make_did(seller.user_id))
        assert reply["code"] == 401
        assert await asyncio.wait_for(client.closed, 5) is None  # then a normal close
        assert client.ws.close_code == 1000

    asyncio.run(scenario())


def test_revoked_session_token_is_refused_by_reg(sim: SimulatorHandle) -> None:
    seller = new_seller(sim)
    did = make_did(seller.user_id)
    token, cookie = fetch_token_retrying(sim.api_url, seller.cookie, did)
    sim.admin.revoke(user_id=seller.user_id)

    async def scenario() -> None:
        client = await RawClient.open(sim.ws_url, cookie)
        assert (await client.register(token, did))["code"] == 401
        await client.close()

    asyncio.run(scenario())
