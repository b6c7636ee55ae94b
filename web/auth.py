"""Who may use the page: a login token in the data dir, a session cookie, a CSRF token.

- The login token lives in ``<data dir>/web-token`` (mode 0600), is created on first use
  and survives restarts; ``python run.py web-token --rotate`` replaces it.
- Opening ``/?token=<login token>`` sets the session cookie ``<sid>.<mac>``, where the
  mac is an HMAC of the random ``sid`` keyed by the login token. No session table: a
  session survives a restart of the service, and rotating the token ends every session.
- The CSRF token of a session is another HMAC of its ``sid``; every state-changing
  request must carry it (header ``X-CSRF-Token``).

The token file is re-read when it changes on disk, so a rotation applies to a running
service at once.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

SESSION_COOKIE = "xianyu_session"
CSRF_HEADER = "X-CSRF-Token"
TOKEN_BYTES = 24


def read_token(path: Path) -> str:
    """The login token in ``path``, created (0600) when there is none."""
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        text = ""
    return text or rotate_token(path)


def rotate_token(path: Path) -> str:
    """Write a fresh login token to ``path`` (0600, replaced atomically) and return it."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    # created 0600 from the start: there is no moment with a wider mode
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(token + "\n")
    os.replace(temp, path)
    return token


def _mac(key: str, purpose: str, sid: str) -> str:
    return hmac.new(key.encode(), f"{purpose}|{sid}".encode(), hashlib.sha256).hexdigest()[:32]


class Gate:
    """Checks login tokens, session cookies and CSRF tokens against the token file."""

    def __init__(self, token_path: Path) -> None:
        self._path = token_path
        self._token = read_token(token_path)
        self._stamp = self._file_stamp()

    @property
    def token(self) -> str:
        stamp = self._file_stamp()
        if stamp != self._stamp:
            self._token, self._stamp = read_token(self._path), self._file_stamp()
        return self._token

    def _file_stamp(self) -> tuple[int, int] | None:
        try:
            info = self._path.stat()
        except FileNotFoundError:
            return None
        return info.st_mtime_ns, info.st_ino

    def token_ok(self, given: str) -> bool:
        return hmac.compare_digest(given.encode(), self.token.encode())

    def new_session(self) -> str:
        """A session cookie value for a browser that showed the login token."""
        sid = secrets.token_urlsafe(16)
        return f"{sid}.{_mac(self.token, 'session', sid)}"

    def session_id(self, cookie: str | None) -> str | None:
        """The session id of a valid session cookie, else None."""
        if not cookie or "." not in cookie:
            return None
        sid, _, mac = cookie.partition(".")
        if hmac.compare_digest(mac.encode(), _mac(self.token, "session", sid).encode()):
            return sid
        return None

    def csrf_token(self, sid: str) -> str:
        return _mac(self.token, "csrf", sid)

    def csrf_ok(self, sid: str, given: str | None) -> bool:
        return bool(given) and hmac.compare_digest(
            (given or "").encode(), self.csrf_token(sid).encode()
        )
