"""Login sessions that age, long-login tokens, renewal and its risk control (docs/login.md).

Each login (admin ``users``, a confirmed QR code) mints a session (``cookie2``) that lives
``session_lifetime_s`` and a long-login token (cookie ``havana_lgc2_77``) valid for
``long_login_lifetime_s``. A renewal while the long-login is valid mints a new session of the
same seller (new ``cookie2``, rotated ``sgcookie``/``csg``/``_tb_token_``, same ``unb``); the
old session dies ``renew_grace_s`` later. When a session dies its IM tokens stop working and
its registered connections are closed (a timer on the loop, set whenever an expiry is set).

Runs on the simulator's loop only (it schedules timers there); the state is plain data.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import time
from collections import deque
from dataclasses import dataclass

from common.errors import CookieError
from goofish.constants import LONG_LOGIN_COOKIE, LONG_LOGIN_EXP_COOKIE, PASSPORT_SITE
from goofish.cookies import Cookie
from simulator.im import ImServer
from simulator.knobs import Knobs
from simulator.world import Session, User, World

# attributes of the cookies a login sets (a flat jar ignores them; they look like the site's)
_ATTRS = "Path=/; Domain=.goofish.com"


@dataclass
class LongLogin:
    """One long-login ("keep me logged in") token of a seller."""

    token: str
    user_id: str
    expires_at: float  # wall clock
    revoked: bool = False

    def valid(self, now: float) -> bool:
        return not self.revoked and self.expires_at > now


def long_login_value(user_id: str, token: str) -> str:
    """The ``havana_lgc2_77`` value: base64 of JSON ``hid``, ``sg``, ``site``, ``token``."""
    hid: int | str = int(user_id) if user_id.isdigit() else user_id
    body = {"hid": hid, "sg": secrets.token_hex(16), "site": int(PASSPORT_SITE), "token": token}
    return base64.b64encode(json.dumps(body, separators=(",", ":")).encode()).decode()


def long_login_token(value: str) -> str:
    """The token inside a ``havana_lgc2_77`` value, or ``""`` when it does not decode."""
    try:
        decoded = json.loads(base64.b64decode(value, validate=True))
    except (ValueError, TypeError):
        return ""
    token = decoded.get("token") if isinstance(decoded, dict) else None
    return token if isinstance(token, str) else ""


def cookie_of(header: str) -> Cookie | None:
    try:
        return Cookie.parse(header)
    except CookieError:
        return None


class Sessions:
    """Login sessions and long-logins of every seller, with the renewal rules."""

    def __init__(self, world: World, im: ImServer, knobs: Knobs) -> None:
        self._world = world
        self._im = im
        self._knobs = knobs
        self.long_logins: dict[str, LongLogin] = {}
        self._renewal_times: dict[str, deque[float]] = {}
        self._risk_until: dict[str, float] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}

    # logins ---------------------------------------------------------------------------------

    def login(self, user_id: str) -> dict[str, str]:
        """A full new login (session + long-login): every cookie a browser would hold."""
        now = time.time()
        long_login = self._new_long_login(user_id, now)
        cookie = self._world.new_session(
            user_id,
            expires_at=now + self._knobs.session_lifetime_s,
            long_login=long_login.token,
        )
        pairs = dict(pair.split("=", 1) for pair in cookie.split("; "))
        pairs.update(csg=secrets.token_hex(4), _tb_token_=secrets.token_hex(7))
        pairs.update(self.long_login_cookies(long_login))
        self._schedule(pairs["cookie2"])
        return pairs

    def _new_long_login(self, user_id: str, now: float) -> LongLogin:
        long_login = LongLogin(
            token=secrets.token_urlsafe(24),
            user_id=user_id,
            expires_at=now + self._knobs.long_login_lifetime_s,
        )
        self.long_logins[long_login.token] = long_login
        return long_login

    def long_login_cookies(self, long_login: LongLogin) -> dict[str, str]:
        return {
            LONG_LOGIN_COOKIE: long_login_value(long_login.user_id, long_login.token),
            "_hvn_lgc_": PASSPORT_SITE,
            LONG_LOGIN_EXP_COOKIE: str(int(long_login.expires_at * 1000)),
        }

    def long_login_of(self, cookie: Cookie, now: float) -> LongLogin | None:
        """The cookie's long-login when it is this seller's and still valid."""
        token = long_login_token(cookie.get(LONG_LOGIN_COOKIE))
        long_login = self.long_logins.get(token)
        if long_login is None or long_login.user_id != cookie.unb or not long_login.valid(now):
            return None
        return long_login

    def extend_long_login(self, session: Session) -> dict[str, str]:
        """``setLoginSettings status=0``: a new long-login token for this session's seller."""
        long_login = self._new_long_login(session.user_id, time.time())
        session.long_login = long_login.token
        return self.long_login_cookies(long_login)

    def drop_long_login(self, cookie: Cookie) -> None:
        """``setLoginSettings status=1``: "keep me logged in" off for this cookie."""
        long_login = self.long_logins.get(long_login_token(cookie.get(LONG_LOGIN_COOKIE)))
        if long_login is not None:
            long_login.revoked = True

    # renewal ------------------------------------------------------------------------------

    def risky(self, user: User, now: float) -> bool:
        """Count one renewal call; True while the seller is under renewal risk control."""
        user.stats.renewals += 1
        times = self._renewal_times.setdefault(user.user_id, deque())
        times.append(now)
        while times and times[0] <= now - self._knobs.renew_risk_window_s:
            times.popleft()
        if self._risk_until.get(user.user_id, 0.0) > now:
            return True
        if len(times) > self._knobs.renew_risk_per_h:
            self._risk_until[user.user_id] = now + self._knobs.renew_risk_s
            return True
        return False

    def renew(self, user: User, long_login: LongLogin, old_cookie2: str) -> dict[str, str]:
        """Mint a new session for ``user``; the old one (if alive) dies after the grace."""
        now = time.time()
        cookie2 = secrets.token_hex(16)
        self._world.sessions[cookie2] = Session(
            cookie2=cookie2,
            user_id=user.user_id,
            expires_at=now + self._knobs.session_lifetime_s,
            long_login=long_login.token,
        )
        self._schedule(cookie2)
        old = self._world.sessions.get(old_cookie2)
        if old is not None and old.user_id == user.user_id and old.alive(now):
            old.expires_at = min(old.expires_at, now + self._knobs.renew_grace_s)
            self._schedule(old_cookie2)
        return {
            "cookie2": cookie2,
            "sgcookie": "E100" + secrets.token_urlsafe(60),
            "csg": secrets.token_hex(4),
            "_tb_token_": secrets.token_hex(7),
            "unb": user.user_id,
            "tracknick": user.nick,
        }

    def set_cookie_headers(self, pairs: dict[str, str]) -> list[str]:
        """``Set-Cookie`` values for freshly minted login cookies (``cookie2`` with its lifetime,
        an invention that lets clients know when the session ends)."""
        headers = []
        for name, value in pairs.items():
            extra = ""
            if name == "cookie2":
                extra = f"; Max-Age={int(self._knobs.session_lifetime_s)}"
            elif name == LONG_LOGIN_EXP_COOKIE:
                extra = "; HttpOnly"
            headers.append(f"{name}={value}; {_ATTRS}{extra}")
        return headers

    # ageing -------------------------------------------------------------------------------

    def age(self, user_id: str, expire_in_s: float | None, long_login: str | None) -> int:
        """Admin ``session``: expire the seller's live sessions and/or set its long-login."""
        now = time.time()
        live = [s for s in self._world.sessions.values() if s.user_id == user_id and s.alive(now)]
        if expire_in_s is not None:
            for session in live:
                session.expires_at = now + expire_in_s
                self._schedule(session.cookie2)
        if long_login is not None:
            until = now + self._knobs.long_login_lifetime_s if long_login == "valid" else now
            for entry in self.long_logins.values():
                if entry.user_id == user_id and not entry.revoked:
                    entry.expires_at = until
        return len(live)

    def revoked(self, cookie2s: list[str]) -> None:
        """Sessions killed by the admin take their long-login with them (no renewal)."""
        for cookie2 in cookie2s:
            session = self._world.sessions.get(cookie2)
            long_login = self.long_logins.get(session.long_login) if session else None
            if long_login is not None:
                long_login.revoked = True

    def _schedule(self, cookie2: str) -> None:
        session = self._world.sessions[cookie2]
        timer = self._timers.pop(cookie2, None)
        if timer is not None:
            timer.cancel()
        delay = session.expires_at - time.time()
        if delay == float("inf"):
            return
        loop = asyncio.get_running_loop()
        self._timers[cookie2] = loop.call_later(max(delay, 0.0), self._reap, cookie2)

    def _reap(self, cookie2: str) -> None:
        self._timers.pop(cookie2, None)
        session = self._world.sessions.get(cookie2)
        if session is None or session.revoked:
            return
        if session.alive():  # extended meanwhile (a timer may fire a hair early)
            self._schedule(cookie2)
            return
        for token in [t for t, g in self._world.tokens.items() if g.cookie2 == cookie2]:
            del self._world.tokens[token]
        self._im.close_sessions({cookie2})

    def shutdown(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
