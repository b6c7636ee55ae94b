"""The mtop token API and the ``loginuser.get`` probe: decide the answer to one call.

Pure: ``answer_token_call`` reads and changes the ``World`` and returns the JSON payload and
the ``Set-Cookie`` values; ``simulator.http`` turns that into an HTTP response.

Order of checks: risk control (captcha fault) → missing ``_m_h5_tk`` → stale/unknown
``_m_h5_tk`` → sign → login session (``cookie2`` + ``unb``) → one-shot token_expired fault →
request data → success. mtop answers business failures with HTTP 200 and a ``ret`` list.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from common.errors import CookieError
from goofish.constants import (
    IM_APP_KEY,
    LOGINUSER_API,
    MTOP_APP_KEY,
    TOKEN_API,
    TOKEN_API_VERSION,
)
from goofish.cookies import Cookie
from goofish.sign import mtop_sign
from simulator.world import User, World

RET_SUCCESS = "SUCCESS::调用成功"
RET_TOKEN_EMPTY = "FAIL_SYS_TOKEN_EMPTY::令牌为空"  # noqa: S105 (an mtop ret code)
# sic: mtop's own spelling
RET_TOKEN_EXPIRED = "FAIL_SYS_TOKEN_EXOIRED::令牌过期"  # noqa: S105 (an mtop ret code)
RET_SESSION_EXPIRED = "FAIL_SYS_SESSION_EXPIRED::Session过期"
RET_ILLEGAL = "FAIL_SYS_ILLEGAL_ACCESS::非法请求"
RET_PARAM = "FAIL_SYS_PARAM_FORMAT_ERROR::参数格式错误"
RET_CAPTCHA = ["FAIL_SYS_USER_VALIDATE", "RGV587_ERROR::SM::哎哟喂,被挤爆啦,请稍后重试"]

# accessTokenExpiredTime as the [3P] type definitions give it (24 h in ms)
ACCESS_TOKEN_EXPIRED_TIME_MS = 86_400_000


@dataclass(frozen=True)
class TokenAnswer:
    payload: dict[str, Any]
    set_cookies: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class TokenPolicy:
    """The knobs the token API obeys."""

    mh5tk_lifetime_s: float
    punish_base_url: str  # where the captcha punish URL points (never fetched by clients)


def _envelope(
    ret: list[str], data: dict[str, Any] | None = None, *, api: str = TOKEN_API
) -> dict[str, Any]:
    return {"api": api, "v": TOKEN_API_VERSION, "ret": ret, "data": data or {}}


def _fresh_tk_cookies(world: World) -> list[str]:
    tk, tk_enc = world.issue_mtop_tk()
    attrs = "Path=/; Domain=goofish.com; Max-Age=86400"
    return [f"_m_h5_tk={tk}; {attrs}", f"_m_h5_tk_enc={tk_enc}; {attrs}"]


def _punish_url(base: str) -> str:
    secdata = secrets.token_urlsafe(48)
    return (
        f"{base}{TOKEN_API}/{TOKEN_API_VERSION}/_____tmd_____/punish"
        f"?x5secdata={secdata}&x5step=2&action=captcha&pureCaptcha="
    )


def _parse_data(data: str) -> str | None:
    """The deviceId of a well-formed token request body, else None."""
    try:
        parsed = json.loads(data)
    except ValueError:
        return None
    if not isinstance(parsed, dict) or parsed.get("appKey") != IM_APP_KEY:
        return None
    did = parsed.get("deviceId")
    return did if isinstance(did, str) and did else None


def _gate(
    world: World,
    policy: TokenPolicy,
    api: str,
    *,
    query: Mapping[str, str],
    cookie_header: str,
    data: str,
    count: str,
) -> TokenAnswer | tuple[User, Cookie]:
    """The checks every signed mtop call of a seller passes: a refusal, or (user, cookie).

    ``count`` names the ``UserStats`` counter this call increments.
    """
    try:
        cookie: Cookie | None = Cookie.parse(cookie_header)
    except CookieError:
        cookie = None
    user = world.users.get(cookie.unb) if cookie is not None else None
    if user is not None:
        setattr(user.stats, count, getattr(user.stats, count) + 1)
    if user is not None and user.faults.captcha_until > time.monotonic():
        return TokenAnswer(
            _envelope(list(RET_CAPTCHA), {"url": _punish_url(policy.punish_base_url)}, api=api)
        )

    tk_cookie = cookie.get("_m_h5_tk") if cookie is not None else ""
    if not tk_cookie:
        return TokenAnswer(_envelope([RET_TOKEN_EMPTY], api=api), _fresh_tk_cookies(world))
    if not world.mtop_tk_fresh(tk_cookie, policy.mh5tk_lifetime_s):
        return TokenAnswer(_envelope([RET_TOKEN_EXPIRED], api=api), _fresh_tk_cookies(world))

    expected = mtop_sign(tk_cookie.partition("_")[0], query.get("t", ""), data)
    if query.get("appKey") != MTOP_APP_KEY or query.get("sign") != expected:
        return TokenAnswer(_envelope([RET_ILLEGAL], api=api))

    assert cookie is not None  # a fresh _m_h5_tk implies a parsed cookie
    if user is None or world.live_session(cookie.get("cookie2"), user.user_id) is None:
        return TokenAnswer(_envelope([RET_SESSION_EXPIRED], api=api))
    return user, cookie


def answer_token_call(
    world: World,
    policy: TokenPolicy,
    *,
    query: Mapping[str, str],
    cookie_header: str,
    data: str,
) -> TokenAnswer:
    """What the token endpoint answers to this request."""
    gate = _gate(
        world,
        policy,
        TOKEN_API,
        query=query,
        cookie_header=cookie_header,
        data=data,
        count="token_calls",
    )
    if isinstance(gate, TokenAnswer):
        return gate
    user, cookie = gate
    if user.faults.token_expired_once:
        user.faults.token_expired_once = False
        world.mtop_tks.pop(cookie.get("_m_h5_tk"), None)  # the retry must use the rotated tk
        return TokenAnswer(_envelope([RET_TOKEN_EXPIRED]), _fresh_tk_cookies(world))

    did = _parse_data(data)
    if did is None:
        return TokenAnswer(_envelope([RET_PARAM]))
    return TokenAnswer(_success(world, user, cookie.get("cookie2"), did))


def answer_loginuser_call(
    world: World,
    policy: TokenPolicy,
    *,
    query: Mapping[str, str],
    cookie_header: str,
    data: str,
) -> TokenAnswer:
    """The ``loginuser.get`` liveness probe: the token call's checks, then who is logged in."""
    gate = _gate(
        world,
        policy,
        LOGINUSER_API,
        query=query,
        cookie_header=cookie_header,
        data=data,
        count="probes",
    )
    if isinstance(gate, TokenAnswer):
        return gate
    user, _ = gate
    return TokenAnswer(
        _envelope([RET_SUCCESS], {"userId": user.user_id, "nick": user.nick}, api=LOGINUSER_API)
    )


def _success(world: World, user: User, cookie2: str, did: str) -> dict[str, Any]:
    grant = world.grant_token(user.user_id, cookie2, did)
    user.stats.tokens_issued += 1
    return _envelope(
        [RET_SUCCESS],
        {"accessToken": grant.token, "accessTokenExpiredTime": ACCESS_TOKEN_EXPIRED_TIME_MS},
    )
