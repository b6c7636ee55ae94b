"""A small synchronous client of the simulator's admin API (tests, demo, benchmarks).

One kept-alive HTTP connection (stdlib ``http.client``) behind a lock, so a client may be
shared between threads; a connection the server closed is reopened once per call.
Refusals raise ``NotFoundError`` (HTTP 404) or ``ConflictError`` (other 4xx/5xx) with the
server's ``error`` text.
"""

from __future__ import annotations

import http.client
import json
import threading
from typing import Any
from urllib.parse import quote, urlsplit

from common.errors import ConflictError, InvalidValueError, NotFoundError, XianyuSupervisorError

_TIMEOUT_S = 10.0


class AdminClient:
    """``AdminClient(handle.admin_url).push(to=seller, from_=buyer, text="hi")``."""

    def __init__(self, admin_url: str, *, timeout_s: float = _TIMEOUT_S) -> None:
        parts = urlsplit(admin_url)
        if parts.scheme != "http" or not parts.hostname or not parts.port:
            raise InvalidValueError(
                "admin_url", "like http://127.0.0.1:<port>/admin/", value=admin_url
            )
        self._host = parts.hostname
        self._port = parts.port
        self._prefix = parts.path if parts.path.endswith("/") else parts.path + "/"
        self._timeout_s = timeout_s
        self._lock = threading.Lock()
        self._conn: http.client.HTTPConnection | None = None

    def create_user(self, user_id: str | None = None, nick: str | None = None) -> dict[str, str]:
        """A new login session for the seller (created if new): ``{"user_id", "cookie"}``."""
        return self._post("users", _without_none(user_id=user_id, nick=nick))

    def revoke(self, user_id: str | None = None, cookie: str | None = None) -> int:
        """Kill the seller's sessions (or the one in ``cookie``); returns how many died."""
        return int(self._post("revoke", _without_none(user_id=user_id, cookie=cookie))["revoked"])

    def push(
        self, to: str, from_: str, text: str, item_id: str | None = None, **extra: Any
    ) -> dict[str, str]:
        """A message to seller ``to`` from ``from_`` (``from_ == to``: the seller elsewhere).

        ``extra`` passes the optional simulator fields ``kind`` ("trade_card"), ``chat_id``,
        ``order_id`` and ``title``.
        """
        body = _without_none(to=to, text=text, item_id=item_id, **extra)
        body["from"] = from_
        return self._post("push", body)

    def push_many(self, pushes: list[dict[str, Any]]) -> list[dict[str, str]]:
        """Many pushes in one request (a simulator extension for benchmarks).

        Each item has the ``push`` fields with ``"from"`` spelled as on the wire.
        """
        return self._post("push_many", {"messages": pushes})["results"]

    def sent(self, user_id: str) -> list[dict[str, Any]]:
        """What the seller sent through ``sendByReceiverScope``, in order."""
        return self._request("GET", f"sent?user_id={quote(user_id)}")["messages"]

    def state(self) -> dict[str, Any]:
        return self._request("GET", "state")

    def user_state(self, user_id: str) -> dict[str, int]:
        """One user's counters from ``state`` (empty dict if unknown)."""
        return self.state()["users"].get(user_id, {})

    def fault(self, user_id: str, kind: str, seconds: float | None = None) -> dict[str, Any]:
        return self._post("fault", _without_none(user_id=user_id, kind=kind, seconds=seconds))

    def session(
        self,
        user_id: str,
        *,
        expire_in_s: float | None = None,
        long_login: str | None = None,
    ) -> int:
        """Age the seller's live sessions (expire in that many seconds; 0 = now) and/or set
        its long-login ``"valid"``/``"expired"``; returns how many live sessions it had."""
        body = _without_none(user_id=user_id, expire_in_s=expire_in_s, long_login=long_login)
        return int(self._post("session", body)["sessions"])

    def qr_codes(self) -> list[dict[str, Any]]:
        """Every QR code generated, newest first: ``lg_token``, ``state``, ``created_at``,
        ``user_id``."""
        return self._request("GET", "qr")["codes"]

    def qr_scan(self, user_id: str, lg_token: str | None = None) -> dict[str, Any]:
        """The seller scans a code (default: the newest ``NEW``): it becomes ``SCANED``."""
        return self._post("qr/scan", _without_none(user_id=user_id, lg_token=lg_token))

    def qr_confirm(self, lg_token: str | None = None, variant: str | None = None) -> dict[str, Any]:
        """Confirm on the phone (default: the newest ``SCANED``); ``variant`` ``"cookies"``
        (default), ``"token"`` or ``"verify"``."""
        return self._post("qr/confirm", _without_none(lg_token=lg_token, variant=variant))

    def qr_cancel(self, lg_token: str | None = None) -> dict[str, Any]:
        return self._post("qr/cancel", _without_none(lg_token=lg_token))

    def qr_expire(self, lg_token: str | None = None) -> dict[str, Any]:
        return self._post("qr/expire", _without_none(lg_token=lg_token))

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> AdminClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _post(self, path: str, body: dict[str, Any]) -> Any:
        return self._request("POST", path, body)

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        payload = None if body is None else json.dumps(body).encode("utf-8")
        headers = {"Content-Type": "application/json"} if payload is not None else {}
        with self._lock:
            status, data = self._exchange(method, self._prefix + path, payload, headers)
        try:
            answer = json.loads(data) if data else {}
        except ValueError as exc:  # not the simulator's admin API answering
            raise XianyuSupervisorError(
                f"the answer ({status}) is not JSON", operation=f"simulator {method} {path}"
            ) from exc
        if status == 404:
            raise NotFoundError(
                str(answer.get("error", status)), operation=f"simulator {method} {path}"
            )
        if status >= 400:
            raise ConflictError(
                f"{answer.get('error', status)} ({status})", operation=f"simulator {method} {path}"
            )
        return answer

    def _exchange(
        self, method: str, path: str, payload: bytes | None, headers: dict[str, str]
    ) -> tuple[int, bytes]:
        for attempt in (1, 2):
            if self._conn is None:
                self._conn = http.client.HTTPConnection(
                    self._host, self._port, timeout=self._timeout_s
                )
            try:
                self._conn.request(method, path, body=payload, headers=headers)
                response = self._conn.getresponse()
                return response.status, response.read()
            except (ConnectionError, http.client.HTTPException):
                # a kept-alive connection the server had closed: reopen once
                self._conn.close()
                self._conn = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


def _without_none(**fields: Any) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}
