"""Login renewal through the passport: request builders and answer classification (pure).

docs/login.md has the facts. The calls: ``silentHasLogin.do`` (mint a new session from the
long-login cookies), ``hasLogin.do`` (the same from a live session), ``setLoginSettings.do``
(renew the long-login itself), ``queryLoginSettings.do``, and the mtop ``loginuser.get``
probe. ``goofish.passport_client.PassportClient`` does the HTTP and runs the ladder.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import quote, urlencode

from goofish.constants import (
    BROWSER_UA,
    HAS_LOGIN_PATH,
    LOGINUSER_API,
    LOGINUSER_API_VERSION,
    LONG_LOGIN_BAK_EXP_COOKIE,
    LONG_LOGIN_COOKIE,
    LONG_LOGIN_EXP_COOKIE,
    MTOP_APP_KEY,
    ORIGIN,
    PASSPORT_SITE,
    QUERY_LOGIN_SETTINGS_PATH,
    SDK_SILENT_COOKIE,
    SET_LOGIN_SETTINGS_PATH,
    SILENT_HAS_LOGIN_PATH,
)
from goofish.cookies import Cookie, parse_set_cookie
from goofish.sign import mtop_sign

RESULT_OK = 100
LOGIN_HINT = "log in again by QR code (ctl login ACCOUNT) or update the cookie from a browser"
# markers of risk control, on passport answers as on mtop ones (docs/login.md)
_RISK_MARKERS = ("FAIL_SYS_USER_VALIDATE", "RGV587", "punish", "captcha", "x5secdata", "baxia")
_SESSION_EXPIRED = ("FAIL_SYS_SESSION_EXPIRED", "Session过期", "SESSION_EXPIRED")
_TOKEN_STALE = ("FAIL_SYS_TOKEN_EXOIRED", "FAIL_SYS_TOKEN_EXPIRED", "FAIL_SYS_TOKEN_EMPTY")
_HAS_LOGIN_BIZ = "taobaoBizLoginFrom=web&renderRefer=https%3A%2F%2Fwww.goofish.com%2F"
_CHROME_HINTS = {
    "sec-ch-ua": '"Not;A=Brand";v="99", "Google Chrome";v="139", "Chromium";v="139"',
    "sec-ch-ua-mobile": "?0",
    "sec-ch-ua-platform": '"Windows"',
    "user-agent": BROWSER_UA,
}

LongLoginMode = Literal["havana", "cookie3"]
AnswerKind = Literal["ok", "refused", "risk_control", "error"]
ProbeKind = Literal["alive", "token_refreshed", "session_expired", "risk_control", "error"]


@dataclass(frozen=True)
class PassportRequest:
    """One HTTP call: method, full URL (query encoded), headers (hold the cookie), body.

    Only the method shows in ``repr``: the body may carry ``cookie2`` (``hsiz``) and the URL
    a login token."""

    method: str
    url: str = field(repr=False)
    headers: Mapping[str, str] = field(repr=False)
    body: str = field(default="", repr=False)


@dataclass(frozen=True)
class LongLogin:
    """What the cookie says about its long-login, read without any request."""

    mode: LongLoginMode | None  # None: no usable long-login (missing or expired)
    expires_at: float | None  # epoch seconds, when a numeric expiry cookie says so
    fatigue_until: float | None  # sdkSilent in the future: no silent renewal before it
    reason: str = ""  # why mode is None


@dataclass(frozen=True)
class PassportAnswer:
    """A classified passport answer. ``message`` says what happened; it holds no secrets."""

    kind: AnswerKind
    message: str
    punish_url: str = ""
    result_code: int | None = None


@dataclass(frozen=True)
class ProbeResult:
    """The ``loginuser.get`` probe: is the login session alive?"""

    kind: ProbeKind
    message: str
    punish_url: str = ""


def base_url(url: str) -> str:
    return url if url.endswith("/") else url + "/"


def _ms_cookie(cookie: Cookie, name: str) -> float | None:
    """A 13-digit millisecond cookie as epoch seconds; None when absent or not numeric."""
    value = cookie.get(name)
    return int(value) / 1000 if value.isdigit() else None


def long_login_state(cookie: Cookie, *, now: float) -> LongLogin:
    """Which silent-renewal mode the cookie allows, as the site's own script decides it.

    A future (or non-numeric) ``havana_lgc_exp`` with ``havana_lgc2_77`` → havana mode;
    else a future ``cookie3_bak_exp`` → cookie3 mode; else nothing (log in again).
    """
    fatigue = _ms_cookie(cookie, SDK_SILENT_COOKIE)
    fatigue_until = fatigue if fatigue is not None and fatigue > now else None
    havana_exp = _ms_cookie(cookie, LONG_LOGIN_EXP_COOKIE)
    bak_exp = _ms_cookie(cookie, LONG_LOGIN_BAK_EXP_COOKIE)
    if cookie.get(LONG_LOGIN_COOKIE) and (havana_exp is None or havana_exp > now):
        return LongLogin("havana", havana_exp, fatigue_until)
    if bak_exp is not None and bak_exp > now:
        return LongLogin("cookie3", bak_exp, fatigue_until)
    if not cookie.get(LONG_LOGIN_COOKIE) and bak_exp is None:
        reason = f"the cookie has no long-login cookies ({LONG_LOGIN_COOKIE})"
    else:
        reason = "the long-login cookies have expired"
    return LongLogin(None, havana_exp or bak_exp, fatigue_until, reason)


def _passport_headers(cookie: Cookie, *, referer: str, **extra: str) -> dict[str, str]:
    return {
        "accept": "application/json, text/plain, */*",
        "accept-language": "zh-CN,zh;q=0.9",
        **_CHROME_HINTS,
        "origin": ORIGIN,
        "referer": referer,
        "sec-fetch-dest": "empty",
        "sec-fetch-mode": "cors",
        "sec-fetch-site": "same-site",
        **extra,
        "cookie": cookie.serialize(),
    }


def build_silent_has_login(
    passport_url: str, cookie: Cookie, *, mode: LongLoginMode
) -> PassportRequest:
    """``POST silentHasLogin.do``, no body; the long-login cookies do the work."""
    query = [
        ("documentReferer", f"{ORIGIN}/im"),
        ("appName", "xianyu"),
        ("appEntrance", "xianyu_sdkSilent"),
        ("fromSite", "0"),
    ]
    if mode == "havana":
        query.append(("ltl", "true"))
    else:
        query += [("skipSessionFilter", "true"), ("c2r", "true")]
    url = f"{base_url(passport_url)}{SILENT_HAS_LOGIN_PATH}?{urlencode(query, quote_via=quote)}"
    headers = _passport_headers(cookie, referer=f"{ORIGIN}/im", accept="*/*")
    return PassportRequest("POST", url, headers)


def build_has_login(
    passport_url: str, cookie: Cookie, *, now_ms: int, rng: random.Random | None = None
) -> PassportRequest:
    """``POST hasLogin.do``: the "quick enter" of a remembered account, from a live session."""
    rng = rng or random.Random()
    base = base_url(passport_url)
    fields = [
        ("hid", cookie.unb),
        ("ltl", "true"),
        ("appName", "xianyu"),
        ("appEntrance", "web"),
        ("_csrf_token", cookie.get("_tb_token_") or cookie.get("XSRF-TOKEN")),
        ("umidToken", cookie.get("_uab_collina") or cookie.get("cna")),
        ("hsiz", cookie.get("cookie2")),
        ("bizParams", _HAS_LOGIN_BIZ),
        ("mainPage", "false"),
        ("isMobile", "false"),
        ("lang", "zh_CN"),
        ("returnUrl", ""),
        ("fromSite", PASSPORT_SITE),
        ("isIframe", "true"),
        ("documentReferer", f"{ORIGIN}/"),
        ("defaultView", "hasLogin"),
        ("umidTag", "SERVER"),
        ("deviceId", ""),
        ("pageTraceId", f"21504{now_ms}{rng.randrange(10**6):06d}"),
    ]
    extra = {"content-type": "application/x-www-form-urlencoded"}
    if cookie.get("XSRF-TOKEN"):
        extra["x-xsrf-token"] = cookie.get("XSRF-TOKEN")
    referer = (
        f"{base}mini_login.htm?lang=zh_cn&appName=xianyu&appEntrance=web&styleType=vertical"
        f"&isMobile=false&stie={PASSPORT_SITE}&rnd={rng.random()}"
    )
    url = f"{base}{HAS_LOGIN_PATH}?appName=xianyu&fromSite={PASSPORT_SITE}"
    headers = _passport_headers(cookie, referer=referer, **extra)
    return PassportRequest("POST", url, headers, urlencode(fields))


def _login_settings_url(passport_url: str, path: str) -> str:
    return f"{base_url(passport_url)}{path}?fromSite={PASSPORT_SITE}&appName=xianyu&bizEntrance=web"


def build_set_login_settings(passport_url: str, cookie: Cookie, *, keep: bool) -> PassportRequest:
    """``POST setLoginSettings.do`` ``status=0`` (keep me logged in) or ``status=1`` (off)."""
    url = _login_settings_url(passport_url, SET_LOGIN_SETTINGS_PATH)
    extra = {"content-type": "application/x-www-form-urlencoded"}
    headers = _passport_headers(cookie, referer=f"{ORIGIN}/", **extra)
    return PassportRequest("POST", url, headers, urlencode({"status": "0" if keep else "1"}))


def build_query_login_settings(passport_url: str, cookie: Cookie) -> PassportRequest:
    url = _login_settings_url(passport_url, QUERY_LOGIN_SETTINGS_PATH)
    return PassportRequest("POST", url, _passport_headers(cookie, referer=f"{ORIGIN}/"))


def build_loginuser_probe(api_url: str, cookie: Cookie, *, now_ms: int) -> PassportRequest:
    """The signed mtop ``loginuser.get`` call with ``data={}``."""
    data, t = "{}", str(now_ms)
    query = [
        ("jsv", "2.7.2"),
        ("appKey", MTOP_APP_KEY),
        ("t", t),
        ("sign", mtop_sign(cookie.mtop_token, t, data)),
        ("v", LOGINUSER_API_VERSION),
        ("type", "originaljson"),
        ("accountSite", "xianyu"),
        ("dataType", "json"),
        ("timeout", "20000"),
        ("api", LOGINUSER_API),
        ("sessionOption", "AutoLoginOnly"),
        ("spm_cnt", "a21ybx.im.0.0"),
    ]
    url = (
        f"{base_url(api_url)}{LOGINUSER_API}/{LOGINUSER_API_VERSION}/"
        f"?{urlencode(query, quote_via=quote)}"
    )
    extra = {"content-type": "application/x-www-form-urlencoded", "accept": "application/json"}
    headers = _passport_headers(cookie, referer=f"{ORIGIN}/", **extra)
    return PassportRequest("POST", url, headers, urlencode({"data": data}))


# classification -----------------------------------------------------------------------------


def _mapping(value: object) -> Mapping[str, object]:
    return value if isinstance(value, Mapping) else {}


def _content(payload: Mapping[str, object]) -> Mapping[str, object]:
    content = _mapping(payload.get("content"))
    # some answers nest the envelope one level deeper under "data"
    return content or _mapping(_mapping(payload.get("data")).get("content"))


def _risk_url(payload: Mapping[str, object], data: Mapping[str, object]) -> str | None:
    """The punish URL when the answer is risk control, else None."""
    rets = payload.get("ret")
    ret_text = " ".join(str(r) for r in rets) if isinstance(rets, list) else str(rets or "")
    url = data.get("url") or _mapping(payload.get("data")).get("url") or ""
    url = url if isinstance(url, str) else ""
    if any(m in ret_text for m in _RISK_MARKERS) or any(m in url for m in _RISK_MARKERS):
        return url
    return None


def classify_passport_response(
    status: int, payload: object, *, require_finished: bool = False
) -> PassportAnswer:
    """Risk control → HTTP/shape errors → ``content.success`` (and, for ``silentHasLogin``,
    ``processFinished`` with ``resultCode`` 100) → refused with the server's ``titleMsg``."""
    if not isinstance(payload, Mapping):
        return PassportAnswer("error", f"passport answered HTTP {status} without a JSON object")
    content = _content(payload)
    data = _mapping(content.get("data"))
    punish = _risk_url(payload, data)
    if punish is not None:
        return PassportAnswer(
            "risk_control",
            "risk control on renewal (RGV587); open the punish URL in the browser the cookie "
            "came from, pass the check, and do not renew again soon",
            punish_url=punish,
        )
    if status >= 400:
        return PassportAnswer("error", f"passport answered HTTP {status}; will retry later")
    code = data.get("resultCode")
    result_code = code if isinstance(code, int) else None
    success = content.get("success") is True or data.get("success") is True
    if require_finished:
        success = success and data.get("processFinished") is True and result_code == RESULT_OK
    if success:
        return PassportAnswer("ok", "passport accepted the call", result_code=result_code)
    reason = data.get("titleMsg") or data.get("retMsg") or data.get("msg") or "no reason given"
    return PassportAnswer(
        "refused", f"passport refused: {reason}; {LOGIN_HINT}", result_code=result_code
    )


@dataclass(frozen=True)
class LongLoginSettings:
    """``queryLoginSettings.do``: may the account keep a long-login, and does it have one?"""

    can_open: bool
    has_long_login: bool


def _find_return_value(value: object, depth: int = 6) -> Mapping[str, object] | None:
    if not isinstance(value, Mapping) or depth == 0:
        return None
    found = value.get("returnValue")
    if isinstance(found, Mapping):
        return found
    for child in value.values():
        nested = _find_return_value(child, depth - 1)
        if nested is not None:
            return nested
    return None


def classify_login_settings(payload: object) -> LongLoginSettings | None:
    """The ``returnValue`` object of a ``queryLoginSettings.do`` answer (searched up to six
    levels deep, as the answer's nesting is not pinned down), or None."""
    found = _find_return_value(payload)
    if found is None:
        return None
    return LongLoginSettings(
        can_open=found.get("canOpenLongLogin") is True,
        has_long_login=found.get("hasLongTokenLogin") is True,
    )


def has_new_cookies(set_cookies: list[str], *, now: float) -> bool:
    """At least one ``Set-Cookie`` that sets rather than deletes (setLoginSettings' test)."""
    parsed = (parse_set_cookie(h, now=now) for h in set_cookies)
    return any(p is not None and not p.deletes(now) for p in parsed)


def set_cookie_expiry(set_cookies: list[str], name: str, *, now: float) -> float | None:
    """When the last ``Set-Cookie`` of ``name`` says it expires (epoch seconds), if it says."""
    expiry = None
    for header in set_cookies:
        parsed = parse_set_cookie(header, now=now)
        if parsed is not None and parsed.name == name:
            expiry = parsed.expires_at
    return expiry


# one return per row of the decision order
def classify_probe(  # noqa: PLR0911
    status: int, payload: object, set_cookies: list[str]
) -> ProbeResult:
    """``loginuser.get``: success → session expired → risk → stale ``_m_h5_tk`` → error."""
    if not isinstance(payload, Mapping):
        return ProbeResult("error", f"mtop answered HTTP {status} without a JSON object")
    rets = payload.get("ret")
    ret_text = " ".join(str(r) for r in rets) if isinstance(rets, list) else str(rets or "")
    if "SUCCESS" in ret_text:
        return ProbeResult("alive", "the login session is alive")
    if any(m in ret_text for m in _SESSION_EXPIRED):
        return ProbeResult("session_expired", f"login session expired ({ret_text})")
    punish = _risk_url(payload, _mapping(payload.get("data")))
    if punish is not None:
        return ProbeResult("risk_control", f"risk control ({ret_text})", punish_url=punish)
    if any(m in ret_text for m in _TOKEN_STALE):
        if any(h.lstrip().startswith("_m_h5_tk=") for h in set_cookies):
            return ProbeResult("token_refreshed", "mtop token rotated; probe again")
        return ProbeResult("error", f"mtop token stale ({ret_text}) and no fresh one was sent")
    return ProbeResult("error", f"mtop answered HTTP {status} with ret {ret_text or 'missing'}")


def loads(raw: bytes) -> object:
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return None
