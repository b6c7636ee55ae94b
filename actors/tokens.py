"""The IM token of one session (``actors/session.py``): obtained before connecting, checked
now and then while the session lives.

Every token call is bounded by ``Timings.token_timeout_s``. At the start, a call that times
out is a network failure (``SessionOver``, ``NETWORK``: the actor backs off and retries),
never a crash; a refusal ends the session with the class of its kind. While the session
lives, ``watch`` re-asks every ``token_refresh_s``: a different token means the socket is
stale (the zombie guard of PR #290), a dead login session ends it; any other failure
leaves the working session alone until the next period (never hammer the token API).
A call's Set-Cookie merges are adopted as the session's cookie and reported
(``CookieMerged``); issued tokens are reported (``TokenIssued``) for the actor's cache.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Protocol

from actors.events import CookieMerged, TokenIssued
from actors.exchange import SessionOver
from actors.failures import FailureClass, classify_token_failure
from actors.protocol import Ending
from common.settings import Timings
from goofish.cookies import Cookie
from goofish.token import TokenOutcome


class TokenSource(Protocol):
    """What a session needs of ``goofish.token.TokenClient``."""

    async def fetch(self, cookie: Cookie, did: str, *, proxy: str = "") -> TokenOutcome: ...


class TokenKeeper:
    """The token and cookie of one session; ``report`` is the session's sink."""

    def __init__(
        self,
        client: TokenSource,
        *,
        cookie: Cookie,
        did: str,
        session_id: int,
        timings: Timings,
        report: Callable[[object], None],
        logger: Any,
        proxy: str = "",
    ) -> None:
        self.cookie = cookie
        self._proxy = proxy  # the account's proxy URL ('' = direct): a secret
        self.token: str | None = None
        self._client = client
        self._did = did
        self._session_id = session_id
        self._timings = timings
        self._report = report
        self._log = logger

    async def obtain(self, cached: str | None) -> str:
        """The token to register with: ``cached`` if given, else a fresh one."""
        if cached:
            self.token = cached
            return cached
        try:
            outcome = await self._fetch()
        except TimeoutError:
            # an unanswered token API is the network's fault: back off and try again
            reason = f"token request not answered within {self._timings.token_timeout_s:g}s"
            raise SessionOver(Ending(FailureClass.NETWORK, reason)) from None
        result = outcome.result
        if result.kind != "success" or not result.token:
            failure = classify_token_failure(result.kind, network=result.network)
            raise SessionOver(Ending(failure, f"token refused ({result.kind}): {result.message}"))
        self.token = result.token
        self._report(TokenIssued(self._session_id, result.token, self._did))
        return result.token

    async def watch(self, *, first_check_in_s: float) -> Ending:
        """Check the token every ``token_refresh_s`` (the first after ``first_check_in_s``);
        returns why the session must end."""
        wait = max(0.0, first_check_in_s)
        while True:
            await asyncio.sleep(wait)
            wait = self._timings.token_refresh_s
            try:
                outcome = await self._fetch()
            except TimeoutError:
                self._log.warning("token_check_timed_out")
                continue
            result = outcome.result
            if result.kind != "success":
                self._log.warning("token_check_failed", kind=result.kind)
            if result.kind == "session_expired":
                return Ending(FailureClass.SESSION_EXPIRED, f"token refresh: {result.message}")
            if result.kind == "success" and result.token and result.token != self.token:
                self._report(TokenIssued(self._session_id, result.token, self._did))
                self._log.info("token_changed")
                return Ending(FailureClass.TOKEN_CHANGED, "a new token was issued")

    async def _fetch(self) -> TokenOutcome:
        """One token call, bounded by ``token_timeout_s``; a timeout raises ``TimeoutError``."""
        outcome = await asyncio.wait_for(
            self._client.fetch(self.cookie, self._did, proxy=self._proxy),
            self._timings.token_timeout_s,
        )
        if outcome.cookie != self.cookie:
            self._report(
                CookieMerged(self._session_id, self.cookie.serialize(), outcome.cookie.serialize())
            )
            self.cookie = outcome.cookie
        return outcome
