"""Run the simulator: HTTP (token + admin API, aiohttp) and the IM WebSocket (websockets).

Two ports: HTTP on ``port`` and the WebSocket on ``port + 1`` (both any free port when
``port`` is 0). ``Simulator.start``/``stop`` run on the caller's loop; ``start_in_thread``
gives the simulator its own loop thread, for tests, the demo and benchmarks.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, fields, replace
from typing import Any, TypeVar

import structlog
from aiohttp import web
from websockets.asyncio.server import Server, serve

from common.errors import InvalidValueError
from simulator.admin import AdminClient
from simulator.admin_api import ADMIN_PREFIX, API_PREFIX, AdminApi
from simulator.control import Control
from simulator.im import ImServer
from simulator.knobs import Knobs
from simulator.mtop import TokenPolicy
from simulator.passport import PASSPORT_PREFIX, PassportApi
from simulator.qr import QrCodes
from simulator.sessions import Sessions
from simulator.world import World

log = structlog.get_logger(__name__)

T = TypeVar("T")

_START_TIMEOUT_S = 10.0
_STOP_TIMEOUT_S = 10.0
# WebSocket frames larger than this are refused (the real frames are a few kB at most)
_MAX_FRAME_BYTES = 1 << 20


@dataclass(frozen=True)
class SimulatorUrls:
    ws_url: str
    api_url: str
    admin_url: str
    passport_url: str

    def as_dict(self) -> dict[str, str]:
        return {
            "ws_url": self.ws_url,
            "api_url": self.api_url,
            "admin_url": self.admin_url,
            "passport_url": self.passport_url,
        }


class Simulator:
    """The simulated Goofish servers. ``Simulator(read_receipts=0.0)`` overrides a knob."""

    def __init__(self, knobs: Knobs | None = None, **overrides: Any) -> None:
        unknown = set(overrides) - {f.name for f in fields(Knobs)}
        if unknown:
            raise InvalidValueError(
                "a simulator knob",
                f"one of {sorted(f.name for f in fields(Knobs))}",
                value=sorted(unknown)[0],
            )
        self.knobs = replace(knobs or Knobs(), **overrides)
        self.world = World()
        self.im = ImServer(self.world, self.knobs)
        self.sessions = Sessions(self.world, self.im, self.knobs)
        self.qr = QrCodes(self.knobs.qr_lifetime_s)
        self.control = Control(self.world, self.im, self.sessions)
        self._runner: web.AppRunner | None = None
        self._ws_server: Server | None = None
        self.urls: SimulatorUrls | None = None

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> SimulatorUrls:
        """Listen (HTTP on ``port``, WebSocket on ``port + 1``; 0 = any free ports)."""
        self._runner = web.AppRunner(self._application(host), access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        http_port = _bound_port(self._runner.addresses)
        self._ws_server = await serve(
            self.im.handler,
            host,
            port + 1 if port else 0,
            process_request=self.im.process_request,
            # the real server's keepalive is unknown; clients must detect dead peers themselves
            ping_interval=None,
            # slow_handshake may hold the upgrade for longer than any fixed limit
            open_timeout=None,
            compression=None,
            max_size=_MAX_FRAME_BYTES,
        )
        ws_port = _bound_port([s.getsockname() for s in self._ws_server.sockets])
        shown = f"[{host}]" if ":" in host else host
        self.urls = SimulatorUrls(
            ws_url=f"ws://{shown}:{ws_port}/",
            api_url=f"http://{shown}:{http_port}{API_PREFIX}",
            admin_url=f"http://{shown}:{http_port}{ADMIN_PREFIX}",
            passport_url=f"http://{shown}:{http_port}{PASSPORT_PREFIX}",
        )
        log.info("sim_started", **self.urls.as_dict())
        return self.urls

    def _application(self, host: str) -> web.Application:
        policy = TokenPolicy(
            mh5tk_lifetime_s=self.knobs.mh5tk_lifetime_s,
            punish_base_url=f"http://{host}/h5/",
        )
        app = AdminApi(self.control, self.world, policy).application()
        passport = PassportApi(
            world=self.world,
            control=self.control,
            sessions=self.sessions,
            qr=self.qr,
            knobs=self.knobs,
            policy=policy,
        )
        passport.add_routes(app, ADMIN_PREFIX)
        return app

    async def stop(self) -> None:
        """Stop listening and cut every connection (no close handshakes to wait for)."""
        if self._ws_server is not None:
            self._ws_server.close(close_connections=False)
            await self.im.shutdown()
            await self._ws_server.wait_closed()
            self._ws_server = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self.sessions.shutdown()

    def start_in_thread(self, host: str = "127.0.0.1", port: int = 0) -> SimulatorHandle:
        """Start on a new loop thread; returns once both servers listen."""
        return SimulatorHandle.start(self, host, port)


def _bound_port(addresses: list[Any]) -> int:
    return int(addresses[0][1])


class SimulatorHandle:
    """A simulator running on its own thread: its URLs, an admin client, and ``stop()``."""

    def __init__(self, simulator: Simulator, loop: asyncio.AbstractEventLoop) -> None:
        self.simulator = simulator
        self._loop = loop
        self._thread = threading.Thread(target=self._run, name="goofish-simulator", daemon=True)
        self._admin: AdminClient | None = None
        self._stopped = False

    @classmethod
    def start(cls, simulator: Simulator, host: str, port: int) -> SimulatorHandle:
        handle = cls(simulator, asyncio.new_event_loop())
        handle._thread.start()
        try:
            handle.run(simulator.start(host, port), timeout=_START_TIMEOUT_S)
        except BaseException:
            handle.stop()
            raise
        return handle

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()

    @property
    def urls(self) -> SimulatorUrls:
        assert self.simulator.urls is not None
        return self.simulator.urls

    @property
    def ws_url(self) -> str:
        return self.urls.ws_url

    @property
    def api_url(self) -> str:
        return self.urls.api_url

    @property
    def admin_url(self) -> str:
        return self.urls.admin_url

    @property
    def passport_url(self) -> str:
        return self.urls.passport_url

    @property
    def admin(self) -> AdminClient:
        """An admin client for this simulator (closed by ``stop``)."""
        if self._admin is None:
            self._admin = AdminClient(self.admin_url)
        return self._admin

    def run(self, coro: Coroutine[Any, Any, T], *, timeout: float = _STOP_TIMEOUT_S) -> T:
        """Run ``coro`` on the simulator's loop; wait for its result (not from that loop)."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def call(self, fn: Callable[[], T], *, timeout: float = _STOP_TIMEOUT_S) -> T:
        """Run ``fn()`` on the simulator's loop (where the world may be read safely)."""

        async def call() -> T:
            return fn()

        return self.run(call(), timeout=timeout)

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self._admin is not None:
            self._admin.close()
        try:
            if self._thread.is_alive():
                self.run(self._shutdown(), timeout=_STOP_TIMEOUT_S)
        except concurrent.futures.TimeoutError:
            log.warning("sim_stop_timed_out")
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=_STOP_TIMEOUT_S)
            if not self._thread.is_alive():
                self._loop.close()

    async def _shutdown(self) -> None:
        await self.simulator.stop()
        await cancel_leftover_tasks()

    def __enter__(self) -> SimulatorHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


async def cancel_leftover_tasks() -> None:
    """Cancel and await every other task on this loop (handler tasks of cut connections)."""
    current = asyncio.current_task()
    leftovers = [t for t in asyncio.all_tasks() if t is not current]
    for task in leftovers:
        task.cancel()
    await asyncio.gather(*leftovers, return_exceptions=True)
