"""``LoginManager``: QR-code logins in progress, by id, for the control socket.

``start(account, new=)`` asks the passport for a code and returns what to show; a task on the
shared IoLoop then polls the passport every ``qr_poll_s`` (the supervisor actor never waits
on it). When the phone confirms, the login cookie goes to the supervisor like ``ctl update``
(make-before-break swap, probation) — or, for ``new``, like ``ctl add`` — on a worker thread,
since those calls block until their outcome. ``poll(id)`` answers the latest state at once;
``cancel(id)`` stops polling (the passport has no cancel call for the browser side).

At most one login per account is open: a new ``start`` for the same account cancels the
older one, so two codes can never both apply a cookie. Finished logins are kept
``KEEP_FINISHED_S`` so a last poll still sees how they ended.
"""

from __future__ import annotations

import asyncio
import copy
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import structlog

from common.errors import (
    AlreadyExistsError,
    ConflictError,
    NotFoundError,
    XianyuSupervisorError,
)
from common.io_loop import IoLoop
from goofish.cookies import Cookie
from goofish.passport import long_login_state
from goofish.passport_client import PassportClient, QrCode, QrState
from storage import Store

log = structlog.get_logger(__name__)

# how long a finished login still answers its last state
KEEP_FINISHED_S = 600.0
# open logins at once (each one polls the passport): a guard against a runaway script
MAX_OPEN = 32
_OPEN = ("waiting", "scanned", "verification_required")


class LoginTarget(Protocol):
    """What a confirmed login needs from ``SupervisorClient``."""

    def add(
        self, account_id: str, cookie: str, *, enabled: bool = True, remark: str = ""
    ) -> dict[str, Any]: ...
    def update(
        self,
        account_id: str,
        cookie: str,
        *,
        save: bool = True,
        force: bool = False,
        wait: bool = True,
    ) -> dict[str, Any]: ...


@dataclass
class _Login:
    login_id: str
    account: str
    new: bool
    code: QrCode = field(repr=False)
    state: str = "waiting"
    message: str | None = None
    result: dict[str, Any] | None = None
    error: XianyuSupervisorError | None = None
    finished_at: float | None = None  # time.monotonic()
    cancelled: bool = False
    task: Any = field(default=None, repr=False)  # concurrent.futures.Future of the poller

    def answer(self) -> dict[str, Any]:
        if self.error is not None:
            raise copy.copy(self.error)  # a fresh instance per caller (no shared traceback)
        return {"state": self.state, "message": self.message, "result": self.result}


class LoginManager:
    """QR logins in progress; thread-safe (control connections call it concurrently)."""

    def __init__(
        self,
        passport: PassportClient,
        io: IoLoop,
        target: LoginTarget,
        store: Store,
        *,
        poll_s: float = 2.0,
    ) -> None:
        self._passport = passport
        self._io = io
        self._target = target
        self._store = store
        self._poll_s = poll_s
        self._lock = threading.Lock()
        self._logins: dict[str, _Login] = {}

    # --- the control commands ------------------------------------------------------------

    def start(self, account: str, *, new: bool = False) -> dict[str, Any]:
        """``login_start``: a code to show; the account must exist (``new``: must not)."""
        self._check_account(account, new=new)
        with self._lock:
            self._forget_finished()
            if sum(1 for x in self._logins.values() if x.state in _OPEN) >= MAX_OPEN:
                raise ConflictError(
                    f"{MAX_OPEN} QR logins are already open; finish or cancel one first"
                )
        # blocks this control connection only (LoginError when the passport gives no code)
        code = self._io.submit(self._passport.start()).result()
        login = _Login(secrets.token_hex(8), account, new, code)
        with self._lock:
            for older in self._logins.values():
                if older.account == account and older.state in _OPEN:
                    self._end(older, "cancelled", "a newer login for this account replaced it")
            self._logins[login.login_id] = login
        login.task = self._io.submit(self._follow(login))
        log.info("qr_login_started", account=account, login_id=login.login_id, new=new)
        expires = datetime.fromtimestamp(code.expires_at, UTC).isoformat()
        return {"login_id": login.login_id, "qr_text": code.qr_text, "expires_at": expires}

    def poll(self, login_id: str) -> dict[str, Any]:
        """``login_poll``: the latest state; raises the error a confirmed login ended with."""
        with self._lock:
            return self._get(login_id).answer()

    def cancel(self, login_id: str) -> dict[str, Any]:
        """``login_cancel``: stop following the code (a finished login keeps its outcome)."""
        with self._lock:
            login = self._get(login_id)
            if login.state in _OPEN:
                self._end(login, "cancelled", "cancelled by the operator")
                log.info("qr_login_cancelled", account=login.account, login_id=login_id)
            return {"state": login.state, "message": login.message, "result": login.result}

    def close(self) -> None:
        """Stop every poller (the service is stopping)."""
        with self._lock:
            for login in self._logins.values():
                if login.state in _OPEN:
                    self._end(login, "cancelled", "the service is stopping")

    # --- following one code --------------------------------------------------------------

    async def _follow(self, login: _Login) -> None:
        try:
            await self._poll_until_done(login)
        except asyncio.CancelledError:
            raise
        # survival boundary of the poller task: the login ends as "error" instead of
        # answering "waiting" for ever; logged with the traceback
        except Exception:  # noqa: BLE001
            log.exception("qr_login_poller_crashed", account=login.account)
            with self._lock:
                self._end(login, "error", "internal error; the service log has the traceback")

    async def _poll_until_done(self, login: _Login) -> None:
        while True:
            state = await self._passport.poll(login.code)
            with self._lock:
                if login.cancelled:
                    return
                if state.state != "confirmed":
                    self._show(login, state)
                    if login.state not in _OPEN:
                        return
            if state.state == "confirmed":
                assert state.cookie is not None  # poll() sets it with "confirmed"
                cookie = await self._with_long_login(state.cookie)
                await asyncio.to_thread(self._apply, login, cookie)
                return
            await asyncio.sleep(self._poll_s)

    async def _with_long_login(self, cookie: Cookie) -> Cookie:
        """Renewal needs the long-login ("keep me logged in"): turn it on when the login did
        not bring it (docs/login.md); a refusal keeps the login as it is."""
        if long_login_state(cookie, now=time.time()).mode is not None:
            return cookie
        extended = await self._passport.extend_long_login(cookie)
        log.info("qr_login_long_login", extended=extended is not None, unb=cookie.unb)
        return extended or cookie

    def _show(self, login: _Login, state: QrState) -> None:
        message = state.message or None
        if state.state == "verification_required" and state.verify_url:
            message = f"the phone asks for a verification: open {state.verify_url} on it"
        if state.state in _OPEN:
            login.state, login.message = state.state, message
        else:
            self._end(login, state.state, message)
            log.info("qr_login_ended", account=login.account, state=state.state)

    def _apply(self, login: _Login, cookie: Cookie) -> None:
        """On a worker thread: hand the cookie to the supervisor, record how it went."""
        with self._lock:
            if login.cancelled:
                return
            login.state = "confirmed"
            login.message = f"seller {cookie.unb} confirmed; applying the new login"
        try:
            self._check_seller(login, cookie)
            if login.new:
                result = self._target.add(login.account, cookie.serialize())
            else:
                result = self._target.update(login.account, cookie.serialize())
        except XianyuSupervisorError as exc:
            with self._lock:
                login.error = exc
                self._end(login, "error", str(exc))
            log.warning("qr_login_refused", account=login.account, error=type(exc).__name__)
            return
        # survival boundary of the worker thread: whatever the apply did, the login ends and
        # its poller sees "error"; logged with the traceback
        except Exception:  # noqa: BLE001
            log.exception("qr_login_apply_crashed", account=login.account)
            with self._lock:
                self._end(login, "error", "internal error; the service log has the traceback")
            return
        with self._lock:
            login.result = result
            login.message = f"logged in as seller {cookie.unb}"
            login.finished_at = time.monotonic()
        log.info(
            "qr_login_applied",
            account=login.account,
            unb=cookie.unb,
            fingerprint=cookie.fingerprint,
            outcome=result.get("outcome"),
        )

    # --- helpers (callers hold the lock where noted) -------------------------------------

    def _check_account(self, account: str, *, new: bool) -> None:
        try:
            self._store.get_account(account)
        except NotFoundError:
            if not new:
                raise NotFoundError(
                    f"account {account!r} not found; to log in a new account use --new "
                    "(login_start with new: true)"
                ) from None
            return
        if new:
            raise AlreadyExistsError(
                f"account {account!r} already exists; drop --new to log it in again"
            )

    def _check_seller(self, login: _Login, cookie: Cookie) -> None:
        if login.new:
            self._check_account(login.account, new=True)  # not added meanwhile
            return
        seller = self._store.get_account(login.account).user_id
        if cookie.unb != seller:
            raise ConflictError(
                f"the phone logged in seller {cookie.unb}, but account {login.account!r} is "
                f"seller {seller}; nothing changed. Scan with that seller's Goofish app, or "
                "add the other seller as a new account (ctl login NEW-ACCOUNT --new)"
            )

    def _end(self, login: _Login, state: str, message: str | None) -> None:
        """Lock held: a final state; an open poller stops."""
        login.state, login.message = state, message
        login.finished_at = time.monotonic()
        if state == "cancelled":
            login.cancelled = True
            if login.task is not None:
                login.task.cancel()

    def _get(self, login_id: str) -> _Login:
        """Lock held."""
        self._forget_finished()
        login = self._logins.get(login_id)
        if login is None:
            raise NotFoundError(
                f"no QR login {login_id!r} (finished logins are kept {KEEP_FINISHED_S:g} s); "
                "start a new one with 'ctl login ACCOUNT'"
            )
        return login

    def _forget_finished(self) -> None:
        """Lock held."""
        now = time.monotonic()
        for login_id, login in list(self._logins.items()):
            if login.finished_at is not None and now - login.finished_at > KEEP_FINISHED_S:
                del self._logins[login_id]
