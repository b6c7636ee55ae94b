"""QR-code login: request builders and answer classification (pure; docs/login.md).

The flow: ``GET mini_login.htm`` (bootstrap cookies ``XSRF-TOKEN``/``_tb_token_`` and the
``loginFormData`` parameters inside ``window.viewData``) → ``GET generate.do`` (``t``, ``ck``
and ``codeContent``, the text to show as a QR code) → ``POST query.do`` with ``t``+``ck``
until ``qrCodeStatus`` is final. A ``CONFIRMED`` answer hands over the login either as its own
``Set-Cookie``s, or as ``data.token`` for ``POST login_token/login.do``, or asks for a
verification on the phone first (``iframeRedirect`` with a verification URL).
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import parse_qs, quote, urlencode, urlsplit

from goofish.constants import (
    BROWSER_UA,
    MINI_LOGIN_PATH,
    PASSPORT_SITE,
    QR_GENERATE_PATH,
    QR_QUERY_PATH,
    TOKEN_LOGIN_PATH,
)
from goofish.passport import PassportRequest, base_url

QrStateName = Literal[
    "waiting", "scanned", "confirmed", "expired", "cancelled", "verification_required", "error"
]

_VIEW_DATA = re.compile(r"window\.viewData\s*=\s*(\{.*?\})\s*;\s*(?:</script>|\n)", re.DOTALL)
# a verification URL, as opposed to a plain landing redirect (docs/login.md)
_VERIFY_MARKERS = ("/iv/", "verify", "identity", "punish", "havana", "aq.taobao", "risk")
_DEFAULT_FORM = {
    "appName": "xianyu",
    "appEntrance": "web",
    "_csrf_token": "",
    "umidToken": "",
    "hsiz": "",
    "bizParams": "taobaoBizLoginFrom=web",
    "mainPage": "false",
    "isMobile": "false",
    "lang": "zh_CN",
    "returnUrl": "",
    "fromSite": PASSPORT_SITE,
}
_STATES: dict[str, QrStateName] = {
    "NEW": "waiting",
    "SCANED": "scanned",
    "EXPIRED": "expired",
    "CANCELED": "cancelled",
    "ERROR": "error",
}


@dataclass(frozen=True)
class QrStep:
    """What one ``query.do`` answer means before any follow-up call."""

    state: QrStateName
    message: str
    token: str = field(default="", repr=False)  # CONFIRMED variant: for login_token/login.do
    verify_url: str | None = None


def _headers(jar: Mapping[str, str], *, referer: str, form: bool = False) -> dict[str, str]:
    headers = {
        "accept": "application/json, text/plain, */*",
        "accept-language": "zh-CN,zh;q=0.9",
        "user-agent": BROWSER_UA,
        "origin": "https://passport.goofish.com",
        "referer": referer,
        "sec-fetch-site": "same-origin",
    }
    if form:
        headers["content-type"] = "application/x-www-form-urlencoded"
    if jar:
        headers["cookie"] = "; ".join(f"{k}={v}" for k, v in jar.items())
    return headers


def build_mini_login(passport_url: str, *, rng: random.Random | None = None) -> PassportRequest:
    """``GET mini_login.htm``: the login page that sets the bootstrap cookies."""
    rng = rng or random.Random()
    query = [
        ("lang", "zh_cn"),
        ("appName", "xianyu"),
        ("appEntrance", "web"),
        ("styleType", "vertical"),
        ("bizParams", ""),
        ("notLoadSsoView", "false"),
        ("notKeepLogin", "false"),
        ("isMobile", "false"),
        ("qrCodeFirst", "false"),
        ("stie", PASSPORT_SITE),
        ("rnd", str(rng.random())),
    ]
    url = f"{base_url(passport_url)}{MINI_LOGIN_PATH}?{urlencode(query, quote_via=quote)}"
    headers = _headers({}, referer="https://www.goofish.com/")
    headers["accept"] = "text/html,application/xhtml+xml,*/*;q=0.8"
    return PassportRequest("GET", url, headers)


def login_form(html: str, jar: Mapping[str, str]) -> dict[str, str]:
    """``viewData.loginFormData`` of the login page (``umidTag=SERVER`` added), or the
    hand-built equivalent when the page has none."""
    form = dict(_DEFAULT_FORM, _csrf_token=jar.get("XSRF-TOKEN", ""))
    match = _VIEW_DATA.search(html)
    if match:
        try:
            view = json.loads(match.group(1))
        except ValueError:
            view = None
        data = view.get("loginFormData") if isinstance(view, dict) else None
        if isinstance(data, dict):
            form = {str(k): "" if v is None else str(v) for k, v in data.items()}
    form["umidTag"] = "SERVER"
    return form


def build_generate(
    passport_url: str, form: Mapping[str, str], jar: Mapping[str, str]
) -> PassportRequest:
    """``GET generate.do`` with the login form parameters."""
    base = base_url(passport_url)
    url = f"{base}{QR_GENERATE_PATH}?{urlencode(list(form.items()), quote_via=quote)}"
    return PassportRequest("GET", url, _headers(jar, referer=f"{base}{MINI_LOGIN_PATH}"))


def build_query(
    passport_url: str, form: Mapping[str, str], jar: Mapping[str, str], *, t: str, ck: str
) -> PassportRequest:
    """``POST query.do``: the login form parameters plus ``t`` and ``ck`` of the code."""
    base = base_url(passport_url)
    fields = [
        *form.items(),
        ("t", t),
        ("ck", ck),
        ("navlanguage", "zh-CN"),
        ("navUserAgent", BROWSER_UA),
        ("navPlatform", "Win32"),
        ("isIframe", "true"),
        ("documentReferer", "https://www.goofish.com/"),
        ("defaultView", "qrcode"),
    ]
    url = f"{base}{QR_QUERY_PATH}?appName=xianyu&fromSite={PASSPORT_SITE}"
    headers = _headers(jar, referer=f"{base}{MINI_LOGIN_PATH}", form=True)
    return PassportRequest("POST", url, headers, urlencode(fields))


def build_token_login(
    passport_url: str, token: str, jar: Mapping[str, str], *, now_ms: int
) -> PassportRequest:
    """``POST login_token/login.do``: trade a CONFIRMED code's ``token`` for the cookies."""
    base = base_url(passport_url)
    query = [
        ("token", token),
        ("subFlow", "DIALOG_CHECK_LOGIN_RPC"),
        ("nextCode", "0018"),
        ("bizScene", "qrcode"),
        ("confirm", "true"),
    ]
    url = f"{base}{TOKEN_LOGIN_PATH}?{urlencode(query, quote_via=quote)}"
    body = urlencode({"deviceId": jar.get("cna", ""), "pageTraceId": f"21504{now_ms}"})
    headers = _headers(jar, referer=f"{base}{MINI_LOGIN_PATH}", form=True)
    return PassportRequest("POST", url, headers, body)


def _mapping(value: object) -> Mapping[str, object]:
    return value if isinstance(value, Mapping) else {}


def _data(payload: object) -> tuple[Mapping[str, object], Mapping[str, object]] | None:
    """(content, content.data) of a passport envelope, or None when it is not one."""
    if not isinstance(payload, Mapping):
        return None
    content = _mapping(payload.get("content"))
    return content, _mapping(content.get("data"))


def classify_generate(status: int, payload: object) -> tuple[str, str, str] | str:
    """``(t, ck, codeContent)`` of a generate.do answer, or the error message."""
    parts = _data(payload)
    if parts is None:
        return f"获取登录二维码失败: passport answered HTTP {status} without a JSON object"
    content, data = parts
    t, ck, text = data.get("t"), data.get("ck"), data.get("codeContent")
    if content.get("success") is not True or not (ck and text) or t is None:
        reason = data.get("titleMsg") or "no QR code in the answer"
        return f"获取登录二维码失败 (could not get a login QR code): {reason}"
    # t is a millisecond number: send it back as an integer string, never 1.7e12
    t_text = str(int(t)) if isinstance(t, int | float) else str(t)
    return t_text, str(ck), str(text)


def lg_token_of(code_content: str) -> str:
    """The ``lgToken`` inside the QR text (the code's id), or ``""``."""
    return parse_qs(urlsplit(code_content).query).get("lgToken", [""])[0]


def classify_query(status: int, payload: object) -> QrStep:
    """One ``query.do`` answer; ``confirmed`` means "take the cookies, or redeem the token"."""
    parts = _data(payload)
    if parts is None:
        return QrStep("error", f"passport answered HTTP {status} without a JSON object")
    if isinstance(payload, Mapping) and payload.get("hasError") is True:
        return QrStep("waiting", "passport reported a transient error (hasError); poll again")
    _, data = parts
    status_text = str(data.get("qrCodeStatus") or "")
    if status_text == "CONFIRMED":
        return _confirmed(data)
    state = _STATES.get(status_text)
    if state is None:  # an unknown state: keep polling, as the most careful client does
        return QrStep("waiting", f"unknown QR state {status_text or 'missing'!r}; polling on")
    messages = {
        "waiting": "waiting for the code to be scanned",
        "scanned": "scanned; waiting for the confirmation on the phone",
        "expired": "the QR code expired; start a new login",
        "cancelled": "the login was cancelled on the phone",
        "error": f"passport error: {data.get('titleMsg') or 'no reason given'}",
    }
    return QrStep(state, messages[state])


def _confirmed(data: Mapping[str, object]) -> QrStep:
    url = data.get("iframeRedirectUrl")
    url = url if isinstance(url, str) else ""
    finished = data.get("processFinished") is True
    if data.get("iframeRedirect") is True and not finished and _is_verification(url):
        return QrStep(
            "verification_required",
            "the phone asks for a verification (face check); finish it there, polling on",
            verify_url=url,
        )
    token = data.get("token") or data.get("lgToken")
    return QrStep(
        "confirmed", "confirmed on the phone", token=token if isinstance(token, str) else ""
    )


def _is_verification(url: str) -> bool:
    return any(marker in url for marker in _VERIFY_MARKERS)


def classify_token_login(status: int, payload: object) -> str | None:
    """None when ``login_token/login.do`` succeeded, else the error message."""
    parts = _data(payload)
    if parts is None:
        return f"token login: passport answered HTTP {status} without a JSON object"
    content, data = parts
    if content.get("success") is True or data.get("loginResult") == "success":
        return None
    return f"token login refused: {data.get('titleMsg') or 'no reason given'}"
