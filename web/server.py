"""``WebServer``: the page on its own asyncio loop thread, started and stopped by the service.

It binds before it serves, so a port in use is a clear error at start. A non-loopback
address is served (the CLI only allows it when given explicitly) with a warning: the
login token then crosses the network in clear text.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from pathlib import Path

import structlog
from aiohttp import web

from common.errors import XianyuSupervisorError
from web.address import WebAddress
from web.auth import Gate
from web.live import Live
from web.ops import DispatcherLike, Operations
from web.routes import build_app

log = structlog.get_logger(__name__)

# open live streams wait on their queue: at stop they are given this long, then cancelled
SHUTDOWN_S = 1.0


class WebServer:
    def __init__(
        self,
        address: WebAddress,
        dispatcher: DispatcherLike,
        token_path: Path,
        *,
        live_interval_s: float = 1.0,
    ) -> None:
        self._address = address
        self._ops = Operations(dispatcher)
        self._gate = Gate(token_path)
        self._live = Live(self._ops, interval_s=live_interval_s)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self.port = address.port

    @property
    def url(self) -> str:
        """The page's address, without the token."""
        return WebAddress(self._address.host, self.port).url("/")

    @property
    def login_url(self) -> str:
        return f"{self.url}?token={self._gate.token}"

    def start(self, *, timeout: float = 10.0) -> WebServer:
        self._loop = loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=loop.run_forever, name="web", daemon=True)
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self._serve(), loop).result(timeout=timeout)
        except OSError as exc:
            self.stop()
            raise XianyuSupervisorError(
                f"the web page cannot listen on {self._address}: {exc.strerror or exc}",
                hint="give another --web HOST:PORT, or --web off",
            ) from exc
        except BaseException:
            self.stop()
            raise
        if not self._address.loopback:
            log.warning(
                "web_not_loopback",
                address=str(self._address),
                hint="anyone who can reach this address and learns the token controls every "
                "account; the token travels unencrypted over plain HTTP",
            )
        log.info("web_listening", url=self.url, login_url=self.login_url)
        return self

    async def _serve(self) -> None:
        app = build_app(self._ops, self._gate, self._live)
        # no access log: the login URL carries the token
        self._runner = web.AppRunner(
            app, access_log=None, handle_signals=False, shutdown_timeout=SHUTDOWN_S
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._address.host, self._address.port)
        await site.start()
        server = site._server  # the bound socket tells the port when 0 was asked for
        if isinstance(server, asyncio.Server) and server.sockets:
            self.port = server.sockets[0].getsockname()[1]

    async def _close(self) -> None:
        await self._live.close()
        if self._runner is not None:
            await self._runner.cleanup()

    def stop(self, *, timeout: float = 5.0) -> None:
        loop, thread = self._loop, self._thread
        self._loop = self._thread = None
        if loop is not None and thread is not None and thread.is_alive():
            with contextlib.suppress(concurrent.futures.TimeoutError, RuntimeError):
                asyncio.run_coroutine_threadsafe(self._close(), loop).result(timeout=timeout)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=timeout)
            if not thread.is_alive():
                loop.close()
        self._ops.close(timeout)
