"""``LoginManager`` on its own: a real IoLoop and SQLite store, a scripted passport and a
recording target in place of the supervisor (the simulator runs in tests/test_control_login.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from common.errors import ConflictError, LoginError
from common.io_loop import IoLoop
from goofish.cookies import Cookie
from goofish.passport_client import QrCode, QrState
from storage import Store
from supervisor import logins
from supervisor.logins import LoginManager
from tests.plugins.timing import wait_for

COOKIE = "unb=2001; cookie2=abcdefgh12345678"


class ScriptedPassport:
    """Answers each poll with the next scripted state (the last one repeats)."""

    def __init__(self, *states: QrState | Exception) -> None:
        self.states = list(states)
        self.polls = 0
        self.extended: list[str] = []
        self.fail_start: Exception | None = None

    async def start(self) -> QrCode:
        if self.fail_start is not None:
            raise self.fail_start
        return QrCode("lg", "https://example.invalid/qr?lgToken=lg", expires_at=2e9)

    async def extend_long_login(self, cookie: Cookie) -> Cookie | None:
        self.extended.append(cookie.unb)
        return Cookie.parse(cookie.serialize() + "; havana_lgc2_77=" + "x" * 16)

    async def poll(self, code: QrCode) -> QrState:
        self.polls += 1
        state = self.states[min(self.polls, len(self.states)) - 1]
        if isinstance(state, Exception):
            raise state
        await asyncio.sleep(0)
        return state


class Target:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.cookies: list[Cookie] = []

    def add(self, account_id: str, cookie: str, **_: Any) -> dict[str, Any]:
        self.calls.append(("add", account_id))
        self.cookies.append(Cookie.parse(cookie))
        return {"outcome": "added", "account": account_id}

    def update(self, account_id: str, cookie: str, **_: Any) -> dict[str, Any]:
        self.calls.append(("update", account_id))
        self.cookies.append(Cookie.parse(cookie))
        return {"outcome": "applied", "version": 2, "previous_version": 1}


@pytest.fixture
def io() -> Iterator[IoLoop]:
    loop = IoLoop().start()
    yield loop
    loop.stop()


def manager(io: IoLoop, store: Store, passport: ScriptedPassport, target: Target) -> LoginManager:
    return LoginManager(passport, io, target, store, poll_s=0.001)  # type: ignore[arg-type]


def ended(mgr: LoginManager, login_id: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        answer = mgr.poll(login_id)
        return answer if answer["state"] not in ("waiting", "scanned") else None

    return wait_for(done, what="the login to end")


def test_a_confirmed_login_updates_the_account(sqlite_store: Store, io: IoLoop) -> None:
    sqlite_store.add_account("shop", COOKIE, "2001")
    confirmed = QrState("confirmed", "ok", cookie=Cookie.parse(COOKIE))
    passport = ScriptedPassport(QrState("waiting", ""), QrState("scanned", ""), confirmed)
    target = Target()
    mgr = manager(io, sqlite_store, passport, target)
    started = mgr.start("shop")
    assert started["expires_at"].startswith("2033-")
    answer = wait_for(lambda: (a := mgr.poll(started["login_id"]))["result"] and a, what="result")
    assert answer["state"] == "confirmed"
    assert target.calls == [("update", "shop")]
    # the login brought no long-login: it was turned on before the cookie was applied
    assert passport.extended == ["2001"]
    assert target.cookies[0].get("havana_lgc2_77")
    # a finished login keeps its outcome; cancelling it changes nothing
    assert mgr.cancel(started["login_id"])["result"]["outcome"] == "applied"


def test_a_crashing_poller_ends_the_login_as_error(sqlite_store: Store, io: IoLoop) -> None:
    mgr = manager(io, sqlite_store, ScriptedPassport(RuntimeError("bug")), Target())
    login_id = mgr.start("new-shop", new=True)["login_id"]
    answer = ended(mgr, login_id)
    assert answer["state"] == "error"
    assert "service log" in answer["message"]


def test_another_seller_is_a_conflict_that_every_poll_repeats(
    sqlite_store: Store, io: IoLoop
) -> None:
    sqlite_store.add_account("shop", COOKIE, "2001")
    other = QrState("confirmed", "ok", cookie=Cookie.parse("unb=3003; cookie2=zz"))
    target = Target()
    mgr = manager(io, sqlite_store, ScriptedPassport(other), target)
    login_id = mgr.start("shop")["login_id"]

    def refused() -> ConflictError | None:
        try:
            mgr.poll(login_id)
        except ConflictError as exc:
            return exc
        return None

    assert "3003" in str(wait_for(refused, what="the conflict"))
    with pytest.raises(ConflictError):
        mgr.poll(login_id)
    assert target.calls == []


def test_limits_and_the_passport_refusing(
    sqlite_store: Store, io: IoLoop, monkeypatch: pytest.MonkeyPatch
) -> None:
    passport = ScriptedPassport(QrState("waiting", ""))
    mgr = manager(io, sqlite_store, passport, Target())
    monkeypatch.setattr(logins, "MAX_OPEN", 2)
    mgr.start("a", new=True)
    mgr.start("b", new=True)
    with pytest.raises(ConflictError, match="already open"):
        mgr.start("c", new=True)
    passport.fail_start = LoginError("QR generate request timed out")
    mgr.close()  # every open login ends
    with pytest.raises(LoginError):
        mgr.start("c", new=True)


def test_finished_logins_are_forgotten_after_a_while(
    sqlite_store: Store, io: IoLoop, monkeypatch: pytest.MonkeyPatch
) -> None:
    mgr = manager(io, sqlite_store, ScriptedPassport(QrState("expired", "gone")), Target())
    login_id = mgr.start("x", new=True)["login_id"]
    assert ended(mgr, login_id)["state"] == "expired"
    monkeypatch.setattr(logins, "KEEP_FINISHED_S", 0.0)
    with pytest.raises(logins.NotFoundError):
        mgr.poll(login_id)
