"""The passport stand-in (``{passport_url}``), the ``loginuser.get`` probe and their admin calls.

Every passport ``.do`` answer is HTTP 200 with the envelope
``{"content": {"data": {...}, "status": 0, "success": bool}, "hasError": false}``; a refusal
says why in ``content.data.titleMsg``. Renewal risk control answers the mtop-style
``ret: ["FAIL_SYS_USER_VALIDATE", "RGV587_ERROR::..."]`` with ``data.url`` a punish page (and
``content.success: false``, so a client reading either shape sees a failure). docs/login.md
has the whole contract; ``simulator.sessions`` and ``simulator.qr`` hold the state.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from typing import Any

from aiohttp import web

from goofish.constants import (
    HAS_LOGIN_PATH,
    LOGINUSER_API,
    LOGINUSER_API_VERSION,
    LONG_LOGIN_COOKIE,
    MINI_LOGIN_PATH,
    PASSPORT_SITE,
    QR_GENERATE_PATH,
    QR_QUERY_PATH,
    QUERY_LOGIN_SETTINGS_PATH,
    SDK_SILENT_COOKIE,
    SET_LOGIN_SETTINGS_PATH,
    SILENT_HAS_LOGIN_PATH,
    TOKEN_LOGIN_PATH,
)
from goofish.cookies import Cookie
from simulator.control import AdminRefused, Control
from simulator.knobs import Knobs
from simulator.mtop import RET_CAPTCHA, TokenPolicy, answer_loginuser_call
from simulator.qr import CONFIRMED, QrCode, QrCodes
from simulator.sessions import Sessions, cookie_of
from simulator.world import World

PASSPORT_PREFIX = "/passport/"
LOGINUSER_PATH = f"/h5/{LOGINUSER_API}/{LOGINUSER_API_VERSION}/"
RESULT_OK = 100
# invented refusal codes (the fact sheet only knows 100 = ok)
RESULT_NOT_LOGGED_IN = 14034
RESULT_LONG_LOGIN_INVALID = 14035
RESULT_RISK = 14036


def envelope(data: dict[str, Any], *, success: bool = True) -> dict[str, Any]:
    return {"content": {"data": data, "status": 0, "success": success}, "hasError": False}


def refusal(message: str, code: int = RESULT_NOT_LOGGED_IN) -> dict[str, Any]:
    return envelope({"titleMsg": message, "resultCode": code}, success=False)


def _json(payload: dict[str, Any], set_cookies: list[str] | None = None) -> web.Response:
    response = web.json_response(
        payload, dumps=lambda v: json.dumps(v, ensure_ascii=False, separators=(",", ":"))
    )
    for value in set_cookies or ():
        response.headers.add("Set-Cookie", value)
    return response


async def _admin_body(request: web.Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.read() or b"{}")
    except ValueError:
        raise AdminRefused(400, "request body must be a JSON object") from None
    if not isinstance(body, dict):
        raise AdminRefused(400, "request body must be a JSON object")
    return body


def _optional_text(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is not None and (not isinstance(value, str) or not value):
        raise AdminRefused(400, f'"{name}" must be a non-empty string')
    return value


class PassportApi:
    """aiohttp handlers of the passport stand-in, bound to one simulator's state."""

    def __init__(
        self,
        *,
        world: World,
        control: Control,
        sessions: Sessions,
        qr: QrCodes,
        knobs: Knobs,
        policy: TokenPolicy,
    ) -> None:
        self._world = world
        self._control = control
        self._sessions = sessions
        self._qr = qr
        self._knobs = knobs
        self._policy = policy

    def add_routes(self, app: web.Application, admin_prefix: str) -> None:
        post, get = app.router.add_post, app.router.add_get
        post(PASSPORT_PREFIX + SILENT_HAS_LOGIN_PATH, self.silent_has_login)
        post(PASSPORT_PREFIX + HAS_LOGIN_PATH, self.has_login)
        post(PASSPORT_PREFIX + SET_LOGIN_SETTINGS_PATH, self.set_login_settings)
        post(PASSPORT_PREFIX + QUERY_LOGIN_SETTINGS_PATH, self.query_login_settings)
        get(PASSPORT_PREFIX + MINI_LOGIN_PATH, self.mini_login)
        get(PASSPORT_PREFIX + QR_GENERATE_PATH, self.qr_generate)
        post(PASSPORT_PREFIX + QR_QUERY_PATH, self.qr_query)
        post(PASSPORT_PREFIX + TOKEN_LOGIN_PATH, self.token_login)
        post(LOGINUSER_PATH, self.loginuser)
        post(admin_prefix + "session", self.admin_session)
        get(admin_prefix + "qr", self.admin_qr)
        for action in ("scan", "confirm", "cancel", "expire"):
            post(f"{admin_prefix}qr/{action}", self.admin_qr_action)

    def _base(self, request: web.Request) -> str:
        return f"{request.url.origin()}{PASSPORT_PREFIX}"

    def _punish(self, request: web.Request) -> dict[str, Any]:
        url = f"{self._base(request)}_____tmd_____/punish?x5secdata={secrets.token_urlsafe(32)}"
        body = envelope(
            {"titleMsg": "哎哟喂,被挤爆啦,请稍后重试", "resultCode": RESULT_RISK, "url": url}
        )
        body["content"]["success"] = False
        return {**body, "ret": list(RET_CAPTCHA), "data": {"url": url}}

    # renewal ------------------------------------------------------------------------------

    async def silent_has_login(self, request: web.Request) -> web.Response:
        """No body; ``ltl=true`` (long-login mode) or ``c2r=true`` (cookie3 mode)."""
        query = request.query
        if query.get("ltl") != "true" and query.get("c2r") != "true":
            return _json(refusal("ltl=true or skipSessionFilter=true&c2r=true is required"))
        return await self._renew(request, cookie_of(request.headers.get("Cookie", "")), silent=True)

    async def has_login(self, request: web.Request) -> web.Response:
        """Form ``hid`` = unb and ``hsiz`` = cookie2 of a live session."""
        form = await request.post()
        cookie = cookie_of(request.headers.get("Cookie", ""))
        refuse = None
        if cookie is not None:
            if form.get("hid") != cookie.unb or form.get("hsiz") != cookie.get("cookie2"):
                refuse = "hid/hsiz do not match the cookie's unb/cookie2"
            elif self._world.live_session(cookie.get("cookie2"), cookie.unb) is None:
                refuse = "会话已失效,请重新登录 (the session in hsiz is not alive)"
        return await self._renew(request, cookie, silent=False, refuse=refuse)

    async def _renew(
        self,
        request: web.Request,
        cookie: Cookie | None,
        *,
        silent: bool,
        refuse: str | None = None,
    ) -> web.Response:
        """Faults, risk control (every call of a known seller counts), then ``refuse`` if
        given, then the long-login check and a new session."""
        user = self._world.users.get(cookie.unb) if cookie is not None else None
        if cookie is None or user is None:
            return _json(refusal("请登录 (no known seller in the cookie)"))
        if user.faults.renew_slow_s > 0:  # fault renew_slow: one late answer
            delay, user.faults.renew_slow_s = user.faults.renew_slow_s, 0.0
            await asyncio.sleep(delay)
        if user.faults.renew_error_until > time.monotonic():  # fault renew_error
            user.stats.renewals += 1
            return web.Response(status=503, text="service unavailable")
        now = time.time()
        if self._sessions.risky(user, now):
            return _json(self._punish(request))
        if refuse is not None:
            return _json(refusal(refuse))
        long_login = self._sessions.long_login_of(cookie, now)
        if long_login is None:
            return _json(
                refusal(
                    "登录已过期,请重新登录 (long-login missing, expired or revoked)",
                    RESULT_LONG_LOGIN_INVALID,
                )
            )
        pairs = self._sessions.renew(user, long_login, cookie.get("cookie2"))
        headers = self._sessions.set_cookie_headers(pairs)
        if silent:
            until_ms = int((now + self._knobs.sdk_silent_s) * 1000)
            headers.append(f"{SDK_SILENT_COOKIE}={until_ms}; Path=/; Domain=.goofish.com")
        return _json(envelope({"resultCode": RESULT_OK, "processFinished": True}), headers)

    async def set_login_settings(self, request: web.Request) -> web.Response:
        """Form ``status=0`` (keep me logged in: new long-login cookies) or ``1`` (off)."""
        status = (await request.post()).get("status")
        cookie = cookie_of(request.headers.get("Cookie", ""))
        session = self._world.live_session(cookie.get("cookie2"), cookie.unb) if cookie else None
        if session is None or cookie is None:
            return _json(refusal("请先登录 (no live session in the cookie)"))
        if status == "0":
            pairs = self._sessions.extend_long_login(session)
            return _json(envelope({"success": True}), self._sessions.set_cookie_headers(pairs))
        if status == "1":
            self._sessions.drop_long_login(cookie)
            gone = [
                f"{name}=; Max-Age=0; Path=/; Domain=.goofish.com"
                for name in (LONG_LOGIN_COOKIE, "_hvn_lgc_", "havana_lgc_exp")
            ]
            return _json(envelope({"success": True}), gone)
        return _json(refusal('status must be "0" (on) or "1" (off)'))

    async def query_login_settings(self, request: web.Request) -> web.Response:
        cookie = cookie_of(request.headers.get("Cookie", ""))
        if cookie is None or self._world.live_session(cookie.get("cookie2"), cookie.unb) is None:
            return _json(refusal("请先登录 (no live session in the cookie)"))
        has_long = self._sessions.long_login_of(cookie, time.time()) is not None
        value = {"canOpenLongLogin": True, "hasLongTokenLogin": has_long}
        return _json(envelope({"returnValue": value}))

    async def loginuser(self, request: web.Request) -> web.Response:
        form = await request.post()
        data = form.get("data", "")
        answer = answer_loginuser_call(
            self._world,
            self._policy,
            query=request.query,
            cookie_header=request.headers.get("Cookie", ""),
            data=data if isinstance(data, str) else "",
        )
        return _json(answer.payload, answer.set_cookies)

    # QR login -----------------------------------------------------------------------------

    async def mini_login(self, request: web.Request) -> web.Response:
        csrf = secrets.token_hex(16)
        form_data = {
            "appName": "xianyu",
            "appEntrance": "web",
            "_csrf_token": csrf,
            "umidToken": "",
            "hsiz": "",
            "bizParams": "taobaoBizLoginFrom=web",
            "mainPage": "false",
            "isMobile": "false",
            "lang": "zh_CN",
            "returnUrl": "",
            "fromSite": PASSPORT_SITE,
        }
        view = {"loginFormData": form_data, "trySilentHasLogin": False, "umidToken": ""}
        html = (
            "<!DOCTYPE html><html><head><meta charset='utf-8'></head><body>"
            f"<script>window.viewData = {json.dumps(view, separators=(',', ':'))};</script>"
            "</body></html>"
        )
        response = web.Response(text=html, content_type="text/html")
        response.headers.add("Set-Cookie", f"XSRF-TOKEN={csrf}; Path=/")
        response.headers.add("Set-Cookie", f"_tb_token_={secrets.token_hex(7)}; Path=/")
        return response

    async def qr_generate(self, request: web.Request) -> web.Response:
        if request.query.get("appName") != "xianyu":
            return _json(refusal("获取登录二维码失败 (appName=xianyu is required)"))
        code = self._qr.generate()
        content = (
            f"{self._base(request)}qrcodeCheck.htm?lgToken={code.lg_token}"
            "&tbScanOpenType=Notification"
        )
        data = {
            "t": code.t,
            "ck": code.ck,
            "codeContent": content,
            "resultCode": RESULT_OK,
            "processFinished": True,
        }
        return _json(envelope(data))

    async def qr_query(self, request: web.Request) -> web.Response:
        form = await request.post()
        t, ck = form.get("t"), form.get("ck")
        code = self._qr.find(t, ck) if isinstance(t, str) and isinstance(ck, str) else None
        if code is None:
            return _json(envelope({"qrCodeStatus": "ERROR", "titleMsg": "二维码不存在"}))
        data: dict[str, Any] = {"qrCodeStatus": code.state, "resultCode": RESULT_OK}
        if code.state != CONFIRMED:
            return _json(envelope(data))
        return self._confirmed(request, code, data)

    def _confirmed(self, request: web.Request, code: QrCode, data: dict[str, Any]) -> web.Response:
        if code.variant == "verify":
            url = f"{self._base(request)}iv/mini/identity_verify.htm?htoken={code.htoken}"
            data.update(iframeRedirect=True, iframeRedirectUrl=url, processFinished=False)
            return _json(envelope(data))
        data["processFinished"] = True
        if code.variant == "token":
            if code.login_token:
                data["token"] = code.login_token
            return _json(envelope(data))
        return _json(envelope(data), code.set_cookies)

    async def token_login(self, request: web.Request) -> web.Response:
        token = request.query.get("token", "")
        code = self._qr.redeem(token) if token else None
        if code is None:
            return _json(refusal("token 无效或已使用 (unknown or already used login token)"))
        return _json(
            envelope({"loginResult": "success", "resultCode": RESULT_OK}), code.set_cookies
        )

    # admin --------------------------------------------------------------------------------

    def qr_login(self, user_id: str) -> list[str]:
        """Mint the login of a confirmed QR code: its ``Set-Cookie`` values."""
        user = self._control.user(user_id)
        user.stats.qr_logins += 1
        pairs = self._sessions.login(user.user_id)
        pairs["tracknick"] = user.nick
        return self._sessions.set_cookie_headers(pairs)

    async def admin_session(self, request: web.Request) -> web.Response:
        body = await _admin_body(request)
        user_id = _optional_text(body, "user_id")
        if user_id is None:
            raise AdminRefused(400, '"user_id" must be a non-empty string')
        self._control.user(user_id)
        expire_in_s = body.get("expire_in_s")
        if expire_in_s is not None and (
            isinstance(expire_in_s, bool)
            or not isinstance(expire_in_s, int | float)
            or expire_in_s < 0
        ):
            raise AdminRefused(400, '"expire_in_s" must be a number >= 0')
        long_login = body.get("long_login")
        if long_login not in (None, "valid", "expired"):
            raise AdminRefused(400, '"long_login" must be "valid" or "expired"')
        return _json({"sessions": self._sessions.age(user_id, expire_in_s, long_login)})

    async def admin_qr(self, request: web.Request) -> web.Response:
        return _json({"codes": self._qr.listing()})

    async def admin_qr_action(self, request: web.Request) -> web.Response:
        action = request.path.rsplit("/", 1)[-1]
        body = await _admin_body(request)
        lg_token = _optional_text(body, "lg_token")
        if action == "scan":
            user_id = _optional_text(body, "user_id")
            if user_id is None:
                raise AdminRefused(400, '"user_id" must be a non-empty string')
            code = self._qr.scan(self._control.user(user_id).user_id, lg_token)
        elif action == "confirm":
            variant = _optional_text(body, "variant") or "cookies"
            code = self._qr.confirm(lg_token, variant, self.qr_login)
        elif action == "cancel":
            code = self._qr.cancel(lg_token)
        else:
            code = self._qr.expire(lg_token)
        return _json(code.as_dict())
