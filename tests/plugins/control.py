"""A small in-memory fake of the SupervisorClient interface, for control-layer unit tests.

It really implements the interface (plain dicts shaped as issue 6 results, errors
from ``common.errors``); ``tests/test_control_fake.py`` keeps it honest against ``SupervisorApi``.
"""

from __future__ import annotations

import hashlib
import os
import socket
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from common.errors import AlreadyExistsError, ConflictError, CookieError, NotFoundError


def _unb(cookie: str) -> str:
    for part in cookie.split(";"):
        name, _, value = part.strip().partition("=")
        if name == "unb" and value:
            return value
    raise CookieError(
        "cookie has no 'unb' field; copy the whole Cookie header from a logged-in browser"
    )


class FakeSupervisor:
    """Accounts in a dict; ``update`` can be made to block until ``release`` is set."""

    def __init__(self) -> None:
        self.accounts: dict[str, dict[str, Any]] = {}
        self.cookies: dict[str, list[str]] = {}
        self.rules_of: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
        self.block_updates = threading.Event()
        self.update_entered = threading.Event()
        self.release = threading.Event()
        self._lock = threading.Lock()

    def _record(self, name: str, *args: Any, **kwargs: Any) -> None:
        with self._lock:
            self.calls.append((name, args, kwargs))

    def _get(self, account_id: str) -> dict[str, Any]:
        if account_id not in self.accounts:
            raise NotFoundError(
                f"account {account_id!r} not found; run 'ctl status' to list accounts"
            )
        return self.accounts[account_id]

    def add(
        self,
        account_id: str,
        cookie: str,
        *,
        enabled: bool = True,
        remark: str = "",
        proxy: str = "",
    ) -> Any:
        self._record("add", account_id, enabled=enabled, remark=remark)
        if account_id in self.accounts:
            raise AlreadyExistsError(f"account {account_id!r} already exists")
        self.accounts[account_id] = {
            "id": account_id,
            "user_id": _unb(cookie),
            "state": "online" if enabled else "disabled",
            "enabled": enabled,
            "cookie_version": 1,
            "unsaved": False,
            "online_since": 1700000000.0 if enabled else None,
            "restarts": 0,
            "crashes": 0,
            "reconnects": 0,
            "last_error": None,
            "received": 0,
            "replied": 0,
            "login_budget_left": 6,
        }
        self.cookies[account_id] = [cookie]
        return {"account": self.accounts[account_id]}

    def remove(self, account_id: str) -> Any:
        self._get(account_id)
        del self.accounts[account_id]
        return {}

    def enable(self, account_id: str) -> Any:
        self._get(account_id).update(enabled=True, state="online")
        return {}

    def disable(self, account_id: str) -> Any:
        self._get(account_id).update(enabled=False, state="disabled")
        return {}

    def update(
        self,
        account_id: str,
        cookie: str,
        *,
        save: bool = True,
        force: bool = False,
        wait: bool = True,
    ) -> Any:
        self._record("update", account_id, save=save, force=force, wait=wait)
        account = self._get(account_id)
        if not force and _unb(cookie) != account["user_id"]:
            raise ConflictError("cookie belongs to another seller; pass force to use it anyway")
        if wait and self.block_updates.is_set():
            self.update_entered.set()
            self.release.wait(timeout=10)
        previous = account["cookie_version"]
        if self.cookies[account_id][-1] == cookie:
            return _outcome("unchanged", previous, previous)
        self.cookies[account_id].append(cookie)
        account["cookie_version"] = previous + 1
        return _outcome("applied" if wait else "accepted", previous + 1, previous, swap_ms=12.5)

    def restart(self, account_id: str, *, wait: bool = True) -> Any:
        self._get(account_id)["restarts"] += 1
        return {"outcome": "restarted", "stop_ms": 3.2}

    def kill(self, account_id: str) -> Any:
        self._get(account_id)
        return {"outcome": "killed"}

    def renew(self, account_id: str) -> Any:
        account = self._get(account_id)
        account["cookie_version"] += 1  # a renewed session is a new version
        version = account["cookie_version"]
        return {**_outcome("applied", version, version - 1, swap_ms=9.0), "renewal": "renewed"}

    def rollback(self, account_id: str, to_version: int | None = None) -> Any:
        account = self._get(account_id)
        previous = account["cookie_version"]
        target = to_version or previous - 1
        if target < 1 or target > len(self.cookies[account_id]):
            raise NotFoundError(f"account {account_id!r} has no version {target}")
        account["cookie_version"] = target
        return _outcome("applied", target, previous, swap_ms=8.0)

    def status(self, account_id: str | None = None) -> Any:
        if account_id is not None:
            return {"accounts": [self._get(account_id)]}
        return {"accounts": list(self.accounts.values())}

    def history(self, account_id: str, limit: int = 20) -> Any:
        self._get(account_id)
        versions = [
            {
                "version": n,
                "fingerprint": hashlib.sha256(c.encode()).hexdigest()[:8],
                "status": "active" if n == len(self.cookies[account_id]) else "superseded",
                "source": "admin",
                "created_at": "2024-01-01T00:00:00+00:00",
                "reason": None,
            }
            for n, c in enumerate(self.cookies[account_id], start=1)
        ]
        return {"versions": versions[::-1][:limit]}

    def events(self, account_id: str | None = None, limit: int = 100, since: Any = None) -> Any:
        self._record("events", account_id, limit=limit, since=since)
        return {
            "events": [
                {
                    "at": "2024-01-01T00:00:00+00:00",
                    "account": account_id,
                    "kind": "added",
                    "data": {},
                }
            ]
        }

    def rules(self, account_id: str) -> Any:
        self._get(account_id)
        return self.rules_of.get(account_id, {"rules": [], "default_reply": None})

    def set_rules(
        self, account_id: str, rules: list[dict[str, Any]], default_reply: Any = None
    ) -> Any:
        self._get(account_id)
        self.rules_of[account_id] = {"rules": rules, "default_reply": default_reply}
        return self.rules_of[account_id]

    def pauses(self, account_id: str) -> Any:
        self._get(account_id)
        return {"pauses": [{"chat": "c1", "until": "2030-01-01T00:00:00+00:00"}]}

    def unpause(self, account_id: str, chat: str) -> Any:
        self._get(account_id)
        return {"outcome": "unpaused" if chat == "c1" else "not_paused", "chat": chat}

    def set_account(
        self,
        account_id: str,
        *,
        remark: str | None = None,
        pause_minutes: int | None = None,
        notify: Sequence[str] | None = None,
        proxy: str | None = None,
    ) -> Any:
        account = self._get(account_id)
        if proxy is not None:
            account["proxy"] = proxy.split("@")[-1] or None  # never the credentials
        if remark is not None:
            account["remark"] = remark
        if pause_minutes is not None:
            account["pause_minutes"] = pause_minutes
        if notify is not None:
            account["notify"] = [url.split("://")[0] + "://…" for url in notify]
        return {"account": account}

    def account(self, account_id: str) -> Any:
        row = self._get(account_id)
        fields = {"remark": "", "pause_minutes": 10, **row}
        return {"account": fields}

    def rules_preview(
        self,
        account_id: str,
        text: str,
        *,
        item_id: str | None = None,
        rules: list[dict[str, Any]] | None = None,
        default_reply: Any = None,
    ) -> Any:
        """Keyword rules only, first match by order (the real matching: actors/replies.py)."""
        self._record("rules_preview", account_id, text, item_id=item_id)
        self._get(account_id)
        listed = rules if rules is not None else self.rules_of.get(account_id, {}).get("rules", [])
        for index, rule in enumerate(listed):
            if rule["keyword"].casefold() in text.casefold():
                return {"kind": "rule", "rule_index": index, "reply": rule["reply"]}
        return {"kind": "none", "rule_index": None, "reply": ""}


def _outcome(outcome: str, version: int, previous: int, *, swap_ms: float | None = None) -> Any:
    return {
        "outcome": outcome,
        "version": version,
        "previous_version": previous,
        "reason": None,
        "swap_ms": swap_ms,
    }


def connect_as_nobody(path: Path) -> str:
    """Fork, drop to ``nobody``, try a ping; say what happened (no exec: python is root-only)."""
    import pwd

    nobody = pwd.getpwnam("nobody")
    outcomes = {10: "permission denied", 20: "closed without an answer", 30: "answered"}
    pid = os.fork()
    if pid == 0:  # child: only plain syscalls, then _exit
        code = 99
        try:
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(5)
            try:
                sock.connect(str(path))
                sock.sendall(b'{"cmd": "ping"}\n')
                code = 30 if sock.recv(100) else 20
            except PermissionError:
                code = 10
            except OSError:
                code = 20
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return outcomes.get(os.waitstatus_to_exitcode(status), "unexpected")
