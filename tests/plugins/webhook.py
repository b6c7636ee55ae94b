"""A real notification endpoint for the notify tests: an aiohttp server on 127.0.0.1.

``webhook``: a running ``Webhook``; ``.url`` is the apprise URL that posts to it
(``json://127.0.0.1:PORT/hook``), ``.posts`` what it received (apprise's JSON: ``title``,
``message``, ``type``), ``.raw`` the request bodies as text, ``.wait(n)`` waits for ``n``
posts. ``.stop()`` takes it down (connections refused) and ``.start()`` brings it back on
the same port: a notification endpoint that is down for a while.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web

from tests.plugins.timing import wait_for


class Webhook:
    def __init__(self) -> None:
        self.port = 0
        self.posts: list[dict[str, Any]] = []
        self.raw: list[str] = []
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return self.url_with("hook")

    def url_with(self, path: str) -> str:
        return f"json://127.0.0.1:{self.port}/{path}"

    async def _receive(self, request: web.Request) -> web.Response:
        text = await request.text()
        with self._lock:
            self.raw.append(text)
            self.posts.append(json.loads(text))
        return web.json_response({"ok": True})

    def start(self) -> Webhook:
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()

        async def serve() -> None:
            app = web.Application()
            app.router.add_post("/{path:.*}", self._receive)  # any path: a token in it
            self._runner = web.AppRunner(app, access_log=None)
            await self._runner.setup()
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", self.port))  # 0 the first time; the same port again later
            self.port = sock.getsockname()[1]
            await web.SockSite(self._runner, sock).start()
            ready.set()

        def run() -> None:
            assert self._loop is not None
            self._loop.run_until_complete(serve())
            self._loop.run_forever()
            self._loop.close()

        self._thread = threading.Thread(target=run, name="webhook", daemon=True)
        self._thread.start()
        assert ready.wait(10), "the webhook did not start"
        return self

    def stop(self) -> None:
        loop, runner, thread = self._loop, self._runner, self._thread
        if loop is None or runner is None or thread is None:
            return
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        self._loop = self._runner = self._thread = None

    def received(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.posts)

    def wait(self, count: int, *, timeout: float = 15.0) -> list[dict[str, Any]]:
        def enough() -> list[dict[str, Any]] | None:
            posts = self.received()
            return posts if len(posts) >= count else None

        return wait_for(
            enough,
            timeout=timeout,
            what=f"{count} notices at the webhook",
        )


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook().start()
    yield hook
    hook.stop()
