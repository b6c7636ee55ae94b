"""The HTTP route of one call: direct, or through an account's proxy (aiohttp).

An ``http://``/``https://`` proxy is a per-request argument of one shared session; a
``socks5://`` one needs a connector of its own, so each SOCKS proxy URL gets its own session.
Cookies are ours to manage per account: no session keeps a cookie jar.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import python_socks
import yarl
from aiohttp_socks import ProxyConnector

# what a call that did not get through raises: aiohttp's, the OS's, a SOCKS proxy's errors
NETWORK_ERRORS: tuple[type[BaseException], ...] = (
    aiohttp.ClientError,
    TimeoutError,
    OSError,
    python_socks.ProxyError,
)


class Routes:
    """The aiohttp sessions of one client; use it on one event loop, ``await close()`` there."""

    def __init__(self, timeout: aiohttp.ClientTimeout) -> None:
        self._timeout = timeout
        self._direct: aiohttp.ClientSession | None = None
        self._socks: dict[str, aiohttp.ClientSession] = {}

    def session(self, proxy: str = "") -> tuple[aiohttp.ClientSession, dict[str, Any]]:
        """The session for a call through ``proxy`` ('' = direct) and the request kwargs."""
        if proxy.lower().startswith("socks"):
            session = self._socks.get(proxy)
            if session is None or session.closed:
                session = self._socks[proxy] = aiohttp.ClientSession(
                    connector=ProxyConnector.from_url(proxy, rdns=True),
                    timeout=self._timeout,
                    cookie_jar=aiohttp.DummyCookieJar(),
                )
            return session, {}
        if self._direct is None or self._direct.closed:
            self._direct = aiohttp.ClientSession(
                timeout=self._timeout, cookie_jar=aiohttp.DummyCookieJar()
            )
        # aiohttp sends an HTTP(S) proxy URL's user:password as Proxy-Authorization
        return self._direct, ({"proxy": yarl.URL(proxy)} if proxy else {})

    async def close(self) -> None:
        """Close every session (idempotent)."""
        sessions = [self._direct, *self._socks.values()]
        self._direct, self._socks = None, {}
        for session in sessions:
            if session is not None:
                await session.close()
