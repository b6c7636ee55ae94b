"""The admin HTTP API under ``/admin/`` and the token endpoint under ``/h5/`` (aiohttp).

Thin shells: parse the request, call ``Control`` / ``answer_token_call``, shape the answer.
The admin paths, fields and JSON shapes are a contract (issue 2, section 3).
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from goofish.constants import TOKEN_API, TOKEN_API_VERSION
from simulator.control import AdminRefused, Control
from simulator.mtop import TokenPolicy, answer_token_call
from simulator.world import World

ADMIN_PREFIX = "/admin/"
API_PREFIX = "/h5/"
TOKEN_PATH = f"{API_PREFIX}{TOKEN_API}/{TOKEN_API_VERSION}/"


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.read() or b"{}")
    except ValueError:
        raise AdminRefused(400, "request body must be a JSON object") from None
    if not isinstance(body, dict):
        raise AdminRefused(400, "request body must be a JSON object")
    return body


def _text(body: dict[str, Any], name: str, *, required: bool = True) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value and name != "text"):
        raise AdminRefused(400, f'"{name}" must be a non-empty string')
    return value


@web.middleware
async def _refusals(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        return await handler(request)
    except AdminRefused as exc:
        return _error(exc.status, str(exc))


class AdminApi:
    """aiohttp handlers bound to one simulator's ``Control`` and ``World``."""

    def __init__(self, control: Control, world: World, policy: TokenPolicy) -> None:
        self._control = control
        self._world = world
        self._policy = policy

    def application(self) -> web.Application:
        app = web.Application(middlewares=[_refusals])
        app.router.add_post(TOKEN_PATH, self.token)
        app.router.add_post(ADMIN_PREFIX + "users", self.users)
        app.router.add_post(ADMIN_PREFIX + "revoke", self.revoke)
        app.router.add_post(ADMIN_PREFIX + "push", self.push)
        app.router.add_post(ADMIN_PREFIX + "push_many", self.push_many)
        app.router.add_get(ADMIN_PREFIX + "sent", self.sent)
        app.router.add_get(ADMIN_PREFIX + "state", self.state)
        app.router.add_post(ADMIN_PREFIX + "fault", self.fault)
        return app

    async def token(self, request: web.Request) -> web.Response:
        form = await request.post()
        data = form.get("data", "")
        answer = answer_token_call(
            self._world,
            self._policy,
            query=request.query,
            cookie_header=request.headers.get("Cookie", ""),
            data=data if isinstance(data, str) else "",
        )
        response = web.json_response(answer.payload, dumps=_dumps)
        for value in answer.set_cookies:
            response.headers.add("Set-Cookie", value)
        return response

    async def users(self, request: web.Request) -> web.Response:
        body = await _body(request)
        user_id = _text(body, "user_id", required=False)
        nick = _text(body, "nick", required=False)
        return web.json_response(self._control.create_user(user_id, nick))

    async def revoke(self, request: web.Request) -> web.Response:
        body = await _body(request)
        user_id = _text(body, "user_id", required=False)
        cookie = _text(body, "cookie", required=False)
        return web.json_response(self._control.revoke(user_id, cookie))

    async def push(self, request: web.Request) -> web.Response:
        return web.json_response(await self._push_one(await _body(request)))

    async def push_many(self, request: web.Request) -> web.Response:
        """Extension for benchmarks: ``{"messages": [push, ...]}`` → ``{"results": [...]}``.

        Applied in order; a refused item stops the batch (earlier items stay applied) and the
        error names its index.
        """
        messages = (await _body(request)).get("messages")
        if not isinstance(messages, list):
            raise AdminRefused(400, '"messages" must be a list of push objects')
        results = []
        for index, item in enumerate(messages):
            if not isinstance(item, dict):
                raise AdminRefused(400, f"messages[{index}] must be an object")
            try:
                results.append(await self._push_one(item))
            except AdminRefused as exc:
                raise AdminRefused(exc.status, f"messages[{index}]: {exc}") from None
        return web.json_response({"results": results})

    async def _push_one(self, body: dict[str, Any]) -> dict[str, str]:
        return await self._control.push(
            _text(body, "to") or "",
            _text(body, "from") or "",
            _text(body, "text") or "",
            _text(body, "item_id", required=False),
            kind=_text(body, "kind", required=False) or "text",
            chat_id=_text(body, "chat_id", required=False),
            order_id=_text(body, "order_id", required=False),
            title=_text(body, "title", required=False),
        )

    async def sent(self, request: web.Request) -> web.Response:
        user_id = request.query.get("user_id")
        if not user_id:
            raise AdminRefused(400, "sent needs ?user_id=<seller id>")
        return web.json_response(self._control.sent(user_id), dumps=_dumps)

    async def state(self, request: web.Request) -> web.Response:
        return web.json_response(self._control.state())

    async def fault(self, request: web.Request) -> web.Response:
        body = await _body(request)
        seconds = body.get("seconds")
        if seconds is not None and (
            isinstance(seconds, bool) or not isinstance(seconds, int | float)
        ):
            raise AdminRefused(400, '"seconds" must be a number')
        answer = await self._control.fault(
            _text(body, "user_id") or "", _text(body, "kind") or "", seconds
        )
        return web.json_response(answer)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
