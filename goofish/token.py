"""The IM access token: request building, answer classification, async client (section 2).

``build_token_request`` and ``classify_token_response`` are pure. ``TokenClient`` does the HTTP
with aiohttp on whatever event loop awaits it and turns every network failure into a result of
kind ``"error"`` with ``network=True``: no aiohttp exception leaves this module.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote, urlencode

import aiohttp
import yarl

from common import metrics_sink
from common.errors import CookieError
from common.proxy import connect_failed
from common.sentences import error_sentence
from goofish.constants import BROWSER_UA, IM_APP_KEY, MTOP_APP_KEY, ORIGIN, TOKEN_API
from goofish.constants import TOKEN_API_VERSION as _VERSION
from goofish.cookies import Cookie
from goofish.routes import NETWORK_ERRORS, Routes
from goofish.sign import mtop_sign

TokenKind = Literal["success", "token_expired", "session_expired", "risk_control", "error"]

_SUCCESS = "SUCCESS::调用成功"
_SESSION_EXPIRED = ("FAIL_SYS_SESSION_EXPIRED", "Session过期")
# Risk-control keywords of the fact sheet (2.3), plus the codes [NEW] treats the same way.
_RISK_KEYWORDS = (
    "FAIL_SYS_USER_VALIDATE",
    "RGV587_ERROR",
    "哎哟喂,被挤爆啦",
    "哎哟喂，被挤爆啦",
    "挤爆了",
    "punish?x5secdata",
    "captcha",
    "FAIL_SYS_ILLEGAL_ACCESS",
    "FAIL_BIZ_WUA_IS_MACHINE",
)
_RISK_URL_MARKERS = ("punish", "captcha", "validate")
# "EXOIRED" is mtop's own spelling; EMPTY is the same case without any _m_h5_tk.
_TOKEN_EXPIRED = (
    "FAIL_SYS_TOKEN_EXOIRED",
    "FAIL_SYS_TOKEN_EXPIRED",
    "令牌过期",
    "FAIL_SYS_TOKEN_EMPTY",
    "令牌为空",
)
_RELOGIN_HINT = "log in again on https://www.goofish.com/im and update the account's cookie"

_HEADERS = {
    "accept": "application/json",
    "accept-language": "zh-CN,zh;q=0.9,en;q=0.8",
    "cache-control": "no-cache",
    "content-type": "application/x-www-form-urlencoded",
    "pragma": "no-cache",
    "priority": "u=1, i",
    "sec-ch-ua": '"Not;A=Brand";v="99", "Google Chrome";v="139", "Chromium";v="139"',
    "sec-ch-ua-mobile": "?0",
    "sec-ch-ua-platform": '"Windows"',
    "sec-fetch-dest": "empty",
    "sec-fetch-mode": "cors",
    "sec-fetch-site": "same-site",
    "user-agent": BROWSER_UA,
    "referer": f"{ORIGIN}/",
    "origin": ORIGIN,
}


@dataclass(frozen=True)
class TokenRequest:
    """One token call: the full URL (query already encoded), headers, and the signed ``data``."""

    url: str
    # Holds the cookie: kept out of repr so a logged request leaks nothing.
    headers: Mapping[str, str] = field(repr=False)
    data: str = ""

    @property
    def body(self) -> str:
        """The form-encoded request body: the single field ``data``."""
        return urlencode({"data": self.data})


@dataclass(frozen=True)
class TokenResult:
    """What a token answer means. ``message`` says what happened and what to do; no secrets."""

    kind: TokenKind
    token: str = field(default="", repr=False)  # the IM access token: a secret, out of repr
    punish_url: str = ""
    message: str = ""
    # True when the API was not reached (connect error, timeout, broken answer stream).
    network: bool = False

    @property
    def ok(self) -> bool:
        return self.kind == "success"


@dataclass(frozen=True)
class TokenOutcome:
    """The result and the cookie after merging every Set-Cookie of the exchange."""

    result: TokenResult
    cookie: Cookie


def token_data(did: str) -> str:
    """The signed ``data`` string: exactly this key order, no spaces."""
    return json.dumps({"appKey": IM_APP_KEY, "deviceId": did}, separators=(",", ":"))


def token_url(api_url: str) -> str:
    """``{api_url}mtop.taobao.idlemessage.pc.login.token/1.0/`` (``api_url`` ends with ``/``)."""
    base = api_url if api_url.endswith("/") else api_url + "/"
    return f"{base}{TOKEN_API}/{_VERSION}/"


def build_token_request(api_url: str, cookie: Cookie, did: str, *, now_ms: int) -> TokenRequest:
    """The token request of section 2.1, signed with the cookie's ``_m_h5_tk``."""
    data = token_data(did)
    t = str(now_ms)
    query = [
        ("jsv", "2.7.2"),
        ("appKey", MTOP_APP_KEY),
        ("t", t),
        ("sign", mtop_sign(cookie.mtop_token, t, data)),
        ("v", _VERSION),
        ("type", "originaljson"),
        ("accountSite", "xianyu"),
        ("dataType", "json"),
        ("timeout", "20000"),
        ("api", TOKEN_API),
        ("sessionOption", "AutoLoginOnly"),
        ("dangerouslySetWindvaneParams", "[object Object]"),
        ("smToken", "token"),
        ("queryToken", "sm"),
        ("sm", "sm"),
        ("spm_cnt", "a21ybx.im.0.0"),
        ("spm_pre", "a21ybx.home.sidebar.1.4c053da6vYwnmf"),
        ("log_id", "4c053da6vYwnmf"),
    ]
    url = f"{token_url(api_url)}?{urlencode(query, quote_via=quote)}"
    headers = {**_HEADERS, "cookie": cookie.serialize()}
    return TokenRequest(url=url, headers=headers, data=data)


def _ret_strings(payload: Mapping[str, Any]) -> list[str]:
    ret = payload.get("ret")
    if isinstance(ret, str):
        return [ret]
    return [str(entry) for entry in ret] if isinstance(ret, list) else []


def classify_token_response(status: int, payload: object, set_cookies: list[str]) -> TokenResult:
    """Classify an answer: success → session expired → risk control → token expired → error.

    ``set_cookies`` is accepted so a stale-token answer can be told apart by its fresh
    ``_m_h5_tk``; the classification itself rests on ``ret`` as all clients do.
    """
    if not isinstance(payload, Mapping):
        return TokenResult(
            "error",
            message=f"token API answered HTTP {status} without a JSON object; "
            "check api_url points at the mtop h5 API",
        )
    rets = _ret_strings(payload)
    ret_text = " ".join(rets)
    data = payload.get("data")
    data = data if isinstance(data, Mapping) else {}
    token = data.get("accessToken")
    if any(_SUCCESS in ret for ret in rets) and isinstance(token, str) and token:
        return TokenResult("success", token=token, message="token issued")
    if any(marker in ret_text for marker in _SESSION_EXPIRED):
        return TokenResult(
            "session_expired", message=f"login session expired ({ret_text}); {_RELOGIN_HINT}"
        )
    raw_url = data.get("url")
    url = raw_url if isinstance(raw_url, str) else ""
    if any(key in ret_text for key in _RISK_KEYWORDS) or any(m in url for m in _RISK_URL_MARKERS):
        return TokenResult(
            "risk_control",
            punish_url=url,
            # the URL is what the operator needs: it goes into status, events and update reasons
            message=f"risk control ({ret_text}): open {url or 'goofish.com/im'} in the browser "
            "the cookie came from and pass the check, then update the cookie with "
            "'ctl update'; the account waits (minutes, growing) and does not retry soon",
        )
    if any(marker in ret_text for marker in _TOKEN_EXPIRED):
        fresh = any(header.lstrip().startswith("_m_h5_tk=") for header in set_cookies)
        return TokenResult(
            "token_expired",
            message=f"the signing token (_m_h5_tk) had expired ({ret_text}); "
            + (
                "the fresh one the API sent is merged into the cookie and tried at once: "
                "nothing to do unless this repeats, then update the cookie"
                if fresh
                else f"the API sent no fresh one; {_RELOGIN_HINT}"
            ),
        )
    return TokenResult(
        "error", message=f"token API answered HTTP {status} with ret {rets or 'missing'}"
    )


class TokenClient:
    """Fetches IM tokens over HTTP. One ``aiohttp.ClientSession``, created on first use.

    Use it from one event loop only (the IoLoop), and ``await close()`` on that loop.
    """

    def __init__(
        self, api_url: str, *, timeout_s: float = 30.0, retry_delay_s: float = 0.5
    ) -> None:
        self._api_url = api_url
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        # [NEW] waits 0.5 s before the single retry after a stale mtop token.
        self._retry_delay_s = retry_delay_s
        self._routes = Routes(self._timeout)

    async def fetch(self, cookie: Cookie, did: str, *, proxy: str = "") -> TokenOutcome:
        """Ask for a token; retry once after a stale-token answer with the merged cookie.

        ``proxy``: the account's http://, https:// or socks5:// proxy ('' = direct)."""
        result = TokenResult("error", message="token API not called")
        for attempt in range(2):
            if attempt:
                await asyncio.sleep(self._retry_delay_s)
            request = build_token_request(self._api_url, cookie, did, now_ms=_now_ms())
            try:
                status, payload, set_cookies = await self._post(request, proxy)
            except NETWORK_ERRORS as exc:
                metrics_sink.token_call(cookie.unb, "network")
                return TokenOutcome(_network_error(exc, proxy), cookie)
            except asyncio.CancelledError:  # the caller's deadline, or its session closed
                metrics_sink.token_call(cookie.unb, "cancelled")
                raise
            try:
                cookie = cookie.merge_set_cookie(set_cookies)
            except CookieError:
                # The server deleted unb: the login is gone, whatever ``ret`` says.
                metrics_sink.token_call(cookie.unb, "session_expired")
                return TokenOutcome(
                    TokenResult("session_expired", message=f"server cleared unb; {_RELOGIN_HINT}"),
                    cookie,
                )
            result = classify_token_response(status, payload, set_cookies)
            metrics_sink.token_call(cookie.unb, result.kind)
            if result.kind != "token_expired":
                break
        return TokenOutcome(result, cookie)

    async def _post(self, request: TokenRequest, proxy: str) -> tuple[int, object, list[str]]:
        url = yarl.URL(request.url, encoded=True)
        body = request.body.encode("ascii")
        client, route = self._routes.session(proxy)
        async with client.post(url, data=body, headers=dict(request.headers), **route) as answer:
            raw = await answer.read()
            set_cookies = answer.headers.getall("Set-Cookie", [])
            status = answer.status
        try:
            payload: object = json.loads(raw)
        except (ValueError, RecursionError):
            payload = None
        return status, payload, list(set_cookies)

    async def close(self) -> None:
        """Close the HTTP sessions (idempotent)."""
        await self._routes.close()


def _network_error(exc: BaseException, proxy: str = "") -> TokenResult:
    if proxy:
        what = connect_failed(exc, proxy, what="token API request")
        return TokenResult(
            "error",
            network=True,
            message=f"{what}; check that proxy (or change it with 'ctl set ACCOUNT --proxy "
            "URL'), will retry",
        )
    what = "timed out" if isinstance(exc, TimeoutError) else f"failed: {error_sentence(exc)}"
    return TokenResult(
        "error",
        network=True,
        message=f"token API request {what}; check the network and api_url, will retry",
    )


def _now_ms() -> int:
    return int(time.time() * 1000)
