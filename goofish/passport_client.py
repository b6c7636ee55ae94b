"""``PassportClient``: login renewal, the liveness probe and QR login over HTTP (aiohttp).

Like ``goofish.token.TokenClient``: one ``aiohttp.ClientSession`` (no cookie jar: every
seller's cookie travels in its own ``Cookie`` header), used from one event loop; no aiohttp
exception leaves this module: a network failure is an outcome of kind ``error`` with
``network=True``. Nothing here sleeps or retries on its own: the caller (the account's
lifecycle) decides when to call again, so it can count every call against its budget.

The renewal ladder (``renew``), from docs/login.md:

1. the cookie must carry a usable long-login (``havana_lgc2_77`` with a future or unknown
   ``havana_lgc_exp``, or a future ``cookie3_bak_exp``), else ``long_login_expired`` without
   any request;
2. a future ``sdkSilent`` is the site's fatigue window: no silent renewal before it
   (``fatigue`` with ``retry_at``), unless the session is known to be expired;
3. ``silentHasLogin.do`` mints a new session; if the passport refuses it while the session
   may still be alive, ``hasLogin.do`` once;
4. after a renewal, when the long-login ends within ``extend_within_s``,
   ``setLoginSettings.do status=0`` renews the long-login itself (its failure does not undo
   the renewal).
"""

from __future__ import annotations

import time
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from typing import Literal

import aiohttp
import yarl

from common.errors import CookieError, LoginError
from common.proxy import proxy_label
from goofish.cookies import Cookie, merge_set_cookie_pairs
from goofish.passport import (
    LOGIN_HINT,
    LongLoginSettings,
    PassportAnswer,
    PassportRequest,
    ProbeResult,
    build_has_login,
    build_loginuser_probe,
    build_query_login_settings,
    build_set_login_settings,
    build_silent_has_login,
    classify_login_settings,
    classify_passport_response,
    classify_probe,
    has_new_cookies,
    loads,
    long_login_state,
    set_cookie_expiry,
)
from goofish.qr_login import (
    QrStateName,
    QrStep,
    build_generate,
    build_mini_login,
    build_query,
    build_token_login,
    classify_generate,
    classify_query,
    classify_token_login,
    lg_token_of,
    login_form,
)
from goofish.routes import NETWORK_ERRORS, Routes

RenewalKind = Literal[
    "renewed", "unchanged", "fatigue", "long_login_expired", "refused", "risk_control", "error"
]
_NETWORK_ERRORS = NETWORK_ERRORS
# the account's proxy for the calls of one renewal ('' = direct): set by ``renew`` for its task
_PROXY: ContextVar[str] = ContextVar("passport_proxy", default="")
# how long a QR code lives when nothing says otherwise (the clients all assume 5 minutes)
QR_LIFETIME_S = 300.0
_WEEK_S = 7 * 24 * 3600.0
_STILL_OPEN = ("waiting", "scanned", "verification_required")


@dataclass(frozen=True)
class RenewalOutcome:
    """What a renewal did. ``cookie`` is the cookie to keep (the input when nothing changed);
    ``message`` says what happened and what to do, with no secret in it."""

    kind: RenewalKind
    cookie: Cookie
    message: str
    endpoint: str = ""  # the passport call that decided: "silentHasLogin", "hasLogin" or ""
    punish_url: str = ""
    retry_at: float | None = None  # epoch seconds: the fatigue window ends
    session_expires_at: float | None = None  # epoch seconds, when the answer said so
    long_login_expires_at: float | None = None  # epoch seconds, when the cookie says so
    long_login_extended: bool = False
    network: bool = False  # the passport was not reached
    calls: int = 0  # renewal calls sent (silentHasLogin/hasLogin), for a login budget

    @property
    def ok(self) -> bool:
        return self.kind == "renewed"

    @property
    def needs_login(self) -> bool:
        """Only a person can help: a new login by QR code or a browser cookie."""
        return self.kind in ("long_login_expired", "refused")


@dataclass(frozen=True)
class QrCode:
    """A started QR login: show ``qr_text`` as a QR code before ``expires_at`` (epoch s)."""

    lg_token: str
    qr_text: str
    expires_at: float
    t: str = field(repr=False, default="")
    ck: str = field(repr=False, default="")
    form: tuple[tuple[str, str], ...] = field(repr=False, default=())
    jar: tuple[tuple[str, str], ...] = field(repr=False, default=())  # bootstrap cookies


@dataclass(frozen=True)
class QrState:
    """One poll of a QR login. ``cookie`` is set once ``confirmed``."""

    state: QrStateName
    message: str
    cookie: Cookie | None = None
    verify_url: str | None = None


class PassportClient:
    """Renewal, probe and QR login against ``passport_url`` (and ``api_url`` for the probe)."""

    def __init__(
        self,
        passport_url: str,
        api_url: str,
        *,
        timeout_s: float = 20.0,
        extend_within_s: float = _WEEK_S,
    ) -> None:
        self._passport_url = passport_url
        self._api_url = api_url
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._extend_within_s = extend_within_s
        self._routes = Routes(self._timeout)

    async def _send(self, request: PassportRequest) -> tuple[int, object, list[str], str]:
        """(status, JSON payload or None, Set-Cookie values, text). Raises network errors."""
        url = yarl.URL(request.url, encoded=True)
        data = request.body.encode("utf-8") if request.body else None
        client, route = self._routes.session(_PROXY.get())
        async with client.request(
            request.method,
            url,
            data=data,
            headers=dict(request.headers),
            allow_redirects=False,
            **route,
        ) as answer:
            raw = await answer.read()
            set_cookies = list(answer.headers.getall("Set-Cookie", []))
            status = answer.status
        return status, loads(raw), set_cookies, raw.decode("utf-8", "replace")

    # renewal ------------------------------------------------------------------------------

    async def renew(
        self, cookie: Cookie, *, session_expired: bool = False, proxy: str = ""
    ) -> RenewalOutcome:
        """Run the renewal ladder once. ``session_expired``: the token API just said the
        session is dead (the fatigue window is ignored and ``hasLogin`` is pointless).
        ``proxy``: the account's proxy ('' = direct): every call of the ladder goes through it."""
        route = _PROXY.set(proxy)
        try:
            return await self._renew(cookie, session_expired=session_expired)
        finally:
            _PROXY.reset(route)

    async def _renew(self, cookie: Cookie, *, session_expired: bool) -> RenewalOutcome:
        now = time.time()
        state = long_login_state(cookie, now=now)
        base = RenewalOutcome("unchanged", cookie, "", long_login_expires_at=state.expires_at)
        if state.mode is None:
            return replace(base, kind="long_login_expired", message=f"{state.reason}; {LOGIN_HINT}")
        if state.fatigue_until is not None and not session_expired:
            return replace(
                base,
                kind="fatigue",
                retry_at=state.fatigue_until,
                message="inside the silent-login fatigue window (sdkSilent); renew after it",
            )
        silent = build_silent_has_login(self._passport_url, cookie, mode=state.mode)
        outcome = await self._renew_call(base, silent, "silentHasLogin", require_finished=True)
        if outcome.kind == "refused" and not session_expired:
            first = outcome.message.removesuffix(f"; {LOGIN_HINT}")
            has_login = build_has_login(self._passport_url, cookie, now_ms=int(now * 1000))
            outcome = await self._renew_call(outcome, has_login, "hasLogin")
            if outcome.kind == "refused":  # say what both answered
                outcome = replace(
                    outcome, message=f"silentHasLogin: {first}; hasLogin: " + outcome.message
                )
        if outcome.ok:
            outcome = await self._maybe_extend(outcome)
        return outcome

    async def _renew_call(
        self,
        base: RenewalOutcome,
        request: PassportRequest,
        endpoint: str,
        *,
        require_finished: bool = False,
    ) -> RenewalOutcome:
        base = replace(base, endpoint=endpoint, calls=base.calls + 1)
        try:
            status, payload, set_cookies, _ = await self._send(request)
        except _NETWORK_ERRORS as exc:
            return replace(base, kind="error", network=True, message=_network(endpoint, exc))
        answer = classify_passport_response(status, payload, require_finished=require_finished)
        if answer.kind != "ok":
            return _refusal(base, answer)
        now = time.time()
        try:
            cookie = base.cookie.merge_set_cookie(set_cookies, now=now)
        except CookieError:
            return replace(base, kind="refused", message=f"the passport cleared unb; {LOGIN_HINT}")
        if cookie.unb != base.cookie.unb:
            return replace(base, kind="refused", message="the passport answered for another seller")
        if cookie.get("cookie2") == base.cookie.get("cookie2"):
            return replace(
                base, cookie=cookie, message=f"{endpoint} accepted but minted no session"
            )
        return replace(
            base,
            kind="renewed",
            cookie=cookie,
            message=f"new login session from {endpoint}",
            session_expires_at=set_cookie_expiry(set_cookies, "cookie2", now=now),
            long_login_expires_at=long_login_state(cookie, now=now).expires_at,
        )

    async def _maybe_extend(self, outcome: RenewalOutcome) -> RenewalOutcome:
        ends = outcome.long_login_expires_at
        if ends is not None and ends - time.time() > self._extend_within_s:
            return outcome
        extended = await self.extend_long_login(outcome.cookie)
        if extended is None:
            return replace(outcome, message=outcome.message + "; long-login not extended")
        return replace(
            outcome,
            cookie=extended,
            long_login_extended=True,
            long_login_expires_at=long_login_state(extended, now=time.time()).expires_at,
        )

    async def extend_long_login(self, cookie: Cookie) -> Cookie | None:
        """``setLoginSettings.do status=0``: the cookie with a renewed long-login, or None
        (refused, no new cookie, or the network failed)."""
        request = build_set_login_settings(self._passport_url, cookie, keep=True)
        try:
            status, payload, set_cookies, _ = await self._send(request)
        except _NETWORK_ERRORS:
            return None
        now = time.time()
        answer = classify_passport_response(status, payload)
        if answer.kind != "ok" or not has_new_cookies(set_cookies, now=now):
            return None
        try:
            merged = cookie.merge_set_cookie(set_cookies, now=now)
        except CookieError:
            return None
        return merged if merged != cookie else None

    async def long_login_settings(self, cookie: Cookie) -> LongLoginSettings | None:
        """``queryLoginSettings.do`` (e.g. right after a QR login); None if it cannot tell."""
        request = build_query_login_settings(self._passport_url, cookie)
        try:
            _, payload, _, _ = await self._send(request)
        except _NETWORK_ERRORS:
            return None
        return classify_login_settings(payload)

    async def probe(self, cookie: Cookie) -> tuple[ProbeResult, Cookie]:
        """The ``loginuser.get`` probe (one call); returns the result and the merged cookie."""
        request = build_loginuser_probe(self._api_url, cookie, now_ms=int(time.time() * 1000))
        try:
            status, payload, set_cookies, _ = await self._send(request)
        except _NETWORK_ERRORS as exc:
            return ProbeResult("error", _network("loginuser.get", exc)), cookie
        try:
            merged = cookie.merge_set_cookie(set_cookies)
        except CookieError:
            return ProbeResult("session_expired", "the server cleared unb"), cookie
        return classify_probe(status, payload, set_cookies), merged

    # QR login -----------------------------------------------------------------------------

    async def start(self) -> QrCode:
        """Open the login page and generate a code. Raises ``LoginError`` saying why not."""
        try:
            status, _, set_cookies, html = await self._send(build_mini_login(self._passport_url))
            jar = dict(merge_set_cookie_pairs((), set_cookies))
            form = login_form(html if status < 400 else "", jar)
            request = build_generate(self._passport_url, form, jar)
            status, payload, set_cookies, _ = await self._send(request)
        except _NETWORK_ERRORS as exc:
            raise LoginError(_network("QR generate", exc)) from None
        generated = classify_generate(status, payload)
        if isinstance(generated, str):
            raise LoginError(generated)
        t, ck, text = generated
        jar = dict(merge_set_cookie_pairs(jar.items(), set_cookies))
        return QrCode(
            lg_token=lg_token_of(text),
            qr_text=text,
            expires_at=time.time() + QR_LIFETIME_S,
            t=t,
            ck=ck,
            form=tuple(form.items()),
            jar=tuple(jar.items()),
        )

    async def poll(self, code: QrCode) -> QrState:
        """One ``query.do``; on ``confirmed`` also the token exchange when the answer asks.
        Past ``code.expires_at`` a code that is still open counts as ``expired``."""
        jar = dict(code.jar)
        request = build_query(self._passport_url, dict(code.form), jar, t=code.t, ck=code.ck)
        set_cookies: list[str] = []
        try:
            status, payload, set_cookies, _ = await self._send(request)
        except _NETWORK_ERRORS as exc:
            step = QrStep("waiting", _network("QR query", exc) + "; polling on")
        else:
            step = classify_query(status, payload)
        if step.state in _STILL_OPEN and time.time() > code.expires_at:
            # the server may never say EXPIRED; every client gives up after its window
            return QrState("expired", "the QR code's time is up; start a new login")
        if step.state != "confirmed":
            return QrState(step.state, step.message, verify_url=step.verify_url)
        return await self._confirmed(step, merge_set_cookie_pairs(jar.items(), set_cookies))

    async def _confirmed(self, step: QrStep, pairs: tuple[tuple[str, str], ...]) -> QrState:
        """The login cookie of a CONFIRMED code: from the answer, or by redeeming its token."""
        if step.token:
            redeemed = await self._redeem(step.token, pairs)
            if isinstance(redeemed, QrState):
                return redeemed
            pairs = redeemed
        try:
            cookie = Cookie(pairs)
        except CookieError:
            return QrState("error", "confirmed, but the passport sent no login cookie (no unb)")
        return QrState("confirmed", f"logged in as seller {cookie.unb}", cookie=cookie)

    async def _redeem(
        self, token: str, pairs: tuple[tuple[str, str], ...]
    ) -> tuple[tuple[str, str], ...] | QrState:
        """``login_token/login.do``: the jar with the login cookies, or an error state."""
        request = build_token_login(
            self._passport_url, token, dict(pairs), now_ms=int(time.time() * 1000)
        )
        try:
            status, payload, set_cookies, _ = await self._send(request)
        except _NETWORK_ERRORS as exc:
            return QrState("error", _network("token login", exc))
        refused = classify_token_login(status, payload)
        if refused is not None:
            return QrState("error", refused)
        return merge_set_cookie_pairs(pairs, set_cookies)

    async def close(self) -> None:
        """Close the HTTP sessions (idempotent)."""
        await self._routes.close()


def _refusal(base: RenewalOutcome, answer: PassportAnswer) -> RenewalOutcome:
    kind: RenewalKind = answer.kind if answer.kind != "ok" else "error"
    return replace(base, kind=kind, message=answer.message, punish_url=answer.punish_url)


def _network(what: str, exc: BaseException) -> str:
    how = "timed out" if isinstance(exc, TimeoutError) else f"failed ({type(exc).__name__})"
    proxy = _PROXY.get()
    if proxy:  # named by scheme, host and port: its URL may hold credentials
        return f"{what} request through proxy {proxy_label(proxy)} {how}; check that proxy"
    return f"{what} request {how}; check the network and passport_url"
