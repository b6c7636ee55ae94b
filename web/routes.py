"""The page's routes and its gate (session, CSRF, headers).

GET  /?token=T                  log in: sets the session cookie, redirects to /
GET  /                          fleet
GET  /accounts/{id}             one account: status, actions, QR login, settings, rules,
                                history, events
GET  /accounts/{id}/history     the cookie-history table alone (the account page refreshes it)
GET  /events?account=&kind=     the audit log, newest first
GET  /live?account=&kind=       Server-Sent Events (web/sse.py)
GET  /lang/{en|zh}?next=/path   the language toggle (a preference cookie)
POST /api/{command}             a control command with a JSON object of its arguments; the
                                answer is the control response plus ``html`` (it rendered)
GET  /static/...                the page's own CSS and JavaScript

Everything but ``/static`` and the login needs the session cookie; every POST needs the
session's CSRF token in ``X-CSRF-Token``. Refusals are 403 and change nothing.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp_jinja2
import segno
import structlog
from aiohttp import web

from web import sse
from web.auth import CSRF_HEADER, SESSION_COOKIE, Gate
from web.i18n import LANG_COOKIE, LANGUAGES, choose_language, translator
from web.live import Live
from web.ops import CommandFailed, Operations
from web.views import ENVIRONMENT_OPTIONS, TEMPLATES, Fragments, configure, loader

log = structlog.get_logger(__name__)

MAX_BODY = 1024 * 1024  # as the control socket's line limit
SESSION_MAX_AGE_S = 30 * 24 * 3600
HTTP_STATUS = {
    "bad_request": 400,
    "unknown_command": 404,
    "not_found": 404,
    "exists": 409,
    "conflict": 409,
    "too_large": 413,
    "internal": 500,
    "login_failed": 409,
    "unavailable": 503,
}
# reads and polls: logged at debug only (a QR login polls every second)
QUIET_COMMANDS = frozenset(
    {"status", "account", "history", "events", "rules", "rules_preview", "login_poll", "ping"}
)
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # the login URL carries the token: never hand it to another site
    "Referrer-Policy": "no-referrer",
}


@dataclass(frozen=True)
class Site:
    ops: Operations
    gate: Gate
    live: Live
    fragments: Fragments


SITE = web.AppKey("site", Site)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def build_app(ops: Operations, gate: Gate, live: Live) -> web.Application:
    app = web.Application(middlewares=[guard], client_max_size=MAX_BODY)
    env = aiohttp_jinja2.setup(app, loader=loader(), **ENVIRONMENT_OPTIONS)
    configure(env)
    app[SITE] = Site(ops, gate, live, Fragments(env))
    app.router.add_get("/", fleet)
    app.router.add_get("/accounts/{account}", account)
    app.router.add_get("/accounts/{account}/history", history)
    app.router.add_get("/events", events)
    app.router.add_get("/live", live_stream)
    app.router.add_get("/lang/{lang}", language)
    app.router.add_post("/api/{cmd}", api)
    app.router.add_static("/static/", TEMPLATES.parent / "static", append_version=False)
    return app


# --- gate ------------------------------------------------------------------------------------


def _is_api(request: web.Request) -> bool:
    return request.path.startswith("/api/")


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    site = request.app[SITE]
    started = time.perf_counter()
    if request.path.startswith("/static/"):
        response = await handler(request)
    elif request.path == "/" and "token" in request.query:
        response = _login(request, site.gate)
    else:
        sid = site.gate.session_id(request.cookies.get(SESSION_COOKIE))
        if sid is None:
            response = _refuse(request, "refused.no_session", "no_session")
        elif request.method not in ("GET", "HEAD") and not site.gate.csrf_ok(
            sid, request.headers.get(CSRF_HEADER)
        ):
            log.warning("web_csrf_refused", path=request.path, method=request.method)
            response = _refuse(request, "refused.csrf", "csrf")
        else:
            response = await _handle(request, handler)
    if not response.prepared:  # an SSE stream has sent its headers already
        response.headers.update(SECURITY_HEADERS)
        response.headers.setdefault("Cache-Control", "no-store")
        response.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.1f}"
    return response


async def _handle(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The page's survival boundary: whatever a handler raises, the answer is a sentence."""
    try:
        return await handler(request)
    except web.HTTPException as refused:
        if refused.status >= 400:
            code = "not_found" if refused.status == 404 else "bad_request"
            failure = CommandFailed(code, f"{refused.reason}: {request.path}")
            return _sentence(request, failure, status=refused.status)
        raise  # a redirect
    # survival boundary (docstring): logged with its traceback, answered with a sentence
    except Exception as exc:  # noqa: BLE001
        log.exception("web_request_crashed", path=request.path, error_type=type(exc).__name__)
        message = f"internal error ({type(exc).__name__}); the service log has the traceback"
        return _sentence(request, CommandFailed("internal", message))


def _sentence(
    request: web.Request, failure: CommandFailed, *, status: int | None = None
) -> web.StreamResponse:
    status = status or HTTP_STATUS.get(failure.code, 500)
    if _is_api(request):
        answer = {"ok": False, "error": {"code": failure.code, "message": failure.message}}
        return web.json_response({**answer, "html": ""}, status=status)
    return _failed(request, failure, status=status)


def _login(request: web.Request, gate: Gate) -> web.StreamResponse:
    if not gate.token_ok(request.query.get("token", "")):
        log.warning("web_login_refused", reason="wrong token")
        return _refuse(request, "refused.wrong_token", "wrong_token")
    response = _see_other("/")
    response.set_cookie(
        SESSION_COOKIE,
        gate.new_session(),
        httponly=True,
        samesite="Strict",
        path="/",
        max_age=SESSION_MAX_AGE_S,
    )
    log.info("web_login")
    return response


def _see_other(location: str) -> web.Response:
    # returned, not raised: the gate adds its headers to every answer
    return web.Response(status=303, headers={"Location": location})


def _lang(request: web.Request) -> str:
    return choose_language(request.headers.get("Accept-Language"), request.cookies.get(LANG_COOKIE))


def _refuse(request: web.Request, reason: str, code: str) -> web.StreamResponse:
    t = translator(_lang(request))
    if _is_api(request) or request.path == "/live":
        return web.json_response(
            {"ok": False, "error": {"code": code, "message": t(reason)}, "html": ""},
            status=403,
        )
    context = _context(request, csrf="")
    context["reason"] = reason
    return aiohttp_jinja2.render_template("refused.html", request, context, status=403)


# --- pages -----------------------------------------------------------------------------------


def _context(request: web.Request, *, csrf: str | None = None) -> dict[str, Any]:
    lang = _lang(request)
    if csrf is None:
        gate = request.app[SITE].gate
        sid = gate.session_id(request.cookies.get(SESSION_COOKIE))
        csrf = gate.csrf_token(sid) if sid else ""
    return {"t": translator(lang), "lang": lang, "csrf": csrf, "path": request.path_qs}


def _page(request: web.Request, name: str, **values: Any) -> web.Response:
    return aiohttp_jinja2.render_template(name, request, {**_context(request), **values})


def _failed(
    request: web.Request, failure: CommandFailed, *, status: int | None = None
) -> web.Response:
    return aiohttp_jinja2.render_template(
        "failed.html",
        request,
        {**_context(request), "code": failure.code, "message": failure.message},
        status=status or HTTP_STATUS.get(failure.code, 500),
    )


async def fleet(request: web.Request) -> web.StreamResponse:
    ops = request.app[SITE].ops
    try:
        accounts = (await ops.result("status"))["accounts"]
    except CommandFailed as failure:
        return _failed(request, failure)
    counts: dict[str, int] = {}
    for row in accounts:
        counts[row["state"]] = counts.get(row["state"], 0) + 1
    with_node = any("node" in row for row in accounts)
    return _page(
        request,
        "fleet.html",
        accounts=accounts,
        counts=counts,
        with_node=with_node,
        qr_available=ops.knows("login_start"),
    )


async def account(request: web.Request) -> web.StreamResponse:
    site = request.app[SITE]
    account_id = request.match_info["account"]
    args = {"account": account_id}
    try:
        status = (await site.ops.result("status", args))["accounts"][0]
        details = (await site.ops.result("account", args))["account"]
        versions = (await site.ops.result("history", args))["versions"]
        log_events = (await site.ops.result("events", {**args, "limit": 100}))["events"]
        rules = await site.ops.result("rules", args)
    except CommandFailed as failure:
        return _failed(request, failure)
    return _page(
        request,
        "account.html",
        account_id=account_id,
        status=status,
        details=details,
        versions=versions,
        events=log_events,
        account=account_id,
        kind=None,
        rules=rules,
        with_node="node" in status,
        qr_available=site.ops.knows("login_start"),
    )


async def history(request: web.Request) -> web.StreamResponse:
    args = {"account": request.match_info["account"]}
    try:
        versions = (await request.app[SITE].ops.result("history", args))["versions"]
    except CommandFailed as failure:
        return _failed(request, failure)
    return _page(request, "_history.html", versions=versions)


async def events(request: web.Request) -> web.StreamResponse:
    account_id = request.query.get("account", "").strip() or None
    kind = request.query.get("kind", "").strip() or None
    args: dict[str, Any] = {"account": account_id, "limit": 500}
    try:
        rows = (await request.app[SITE].ops.result("events", args))["events"]
    except CommandFailed as failure:
        return _failed(request, failure)
    if kind:
        rows = [e for e in rows if e["kind"] == kind]
    return _page(request, "events.html", events=rows, account=account_id, kind=kind)


async def live_stream(request: web.Request) -> web.StreamResponse:
    site = request.app[SITE]
    return await sse.stream(request, site.live, site.fragments, _lang(request))


async def language(request: web.Request) -> web.StreamResponse:
    lang = request.match_info["lang"]
    target = request.query.get("next", "/")
    if not target.startswith("/") or target.startswith(("//", "/\\")):
        target = "/"  # only our own pages
    response = _see_other(target)
    if lang in LANGUAGES:
        response.set_cookie(LANG_COOKIE, lang, samesite="Strict", path="/", max_age=365 * 86400)
    return response


# --- actions ---------------------------------------------------------------------------------


async def api(request: web.Request) -> web.StreamResponse:
    site = request.app[SITE]
    cmd = request.match_info["cmd"]
    try:
        args = await request.json()
    except ValueError:
        args = None
    if not isinstance(args, dict):
        answer: dict[str, Any] = {
            "ok": False,
            "error": {
                "code": "bad_request",
                "message": "the request body must be a JSON object of the command's arguments",
            },
        }
    else:
        answer = await site.ops.call(cmd, args)
    if answer.get("ok") and cmd == "login_start":
        answer["qr"] = qr_image(str(answer["result"].get("qr_text", "")))
    answer["html"] = site.fragments.answer(_lang(request), cmd, answer)
    account_id = args.get("account") if isinstance(args, dict) else None
    (log.debug if cmd in QUIET_COMMANDS else log.info)(
        "web_action",
        cmd=cmd[:64],
        account=account_id if isinstance(account_id, str) else None,
        ok=bool(answer.get("ok")),
        code=None if answer.get("ok") else answer["error"]["code"],
    )
    status = 200 if answer.get("ok") else HTTP_STATUS.get(answer["error"]["code"], 500)
    return web.json_response(answer, status=status)


def qr_image(text: str) -> str:
    """The QR code of ``text`` as an SVG data URI (rendered here: no script draws it)."""
    return str(segno.make(text, error="m").svg_data_uri(scale=6, border=2))
