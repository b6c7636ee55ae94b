"""From a request line to a response line: validate, call the supervisor, map errors to codes.

This is the survival boundary of the control socket: whatever a request or the
supervisor does, the caller gets one response line back. Unexpected exceptions
become ``internal`` and are logged with their traceback.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from importlib import metadata
from typing import Any, Protocol

import structlog

from common.errors import (
    AlreadyExistsError,
    ConflictError,
    CookieError,
    InvalidValueError,
    NotFoundError,
    XianyuSupervisorError,
)
from control.arguments import COMMANDS, validate_arguments
from control.errors import BAD_REQUEST, CONFLICT, EXISTS, INTERNAL, NOT_FOUND, ControlError
from control.protocol import Request, error_response, ok_response, parse_request
from control.redact import redact_text

log = structlog.get_logger(__name__)


class SupervisorApi(Protocol):
    """The part of ``supervisor.SupervisorClient`` the control socket calls."""

    def add(
        self, account_id: str, cookie: str, *, enabled: bool = True, remark: str = ""
    ) -> Any: ...
    def remove(self, account_id: str) -> Any: ...
    def enable(self, account_id: str) -> Any: ...
    def disable(self, account_id: str) -> Any: ...
    def update(
        self,
        account_id: str,
        cookie: str,
        *,
        save: bool = True,
        force: bool = False,
        wait: bool = True,
    ) -> Any: ...
    def restart(self, account_id: str, *, wait: bool = True) -> Any: ...
    def kill(self, account_id: str) -> Any: ...
    def rollback(self, account_id: str, to_version: int | None = None) -> Any: ...
    def status(self, account_id: str | None = None) -> Any: ...
    def history(self, account_id: str, limit: int = 20) -> Any: ...
    def events(self, account_id: str | None = None, limit: int = 100, since: Any = None) -> Any: ...
    def rules(self, account_id: str) -> Any: ...
    def set_rules(
        self, account_id: str, rules: list[dict[str, Any]], default_reply: Any = None
    ) -> Any: ...
    def set_account(
        self, account_id: str, *, remark: str | None = None, pause_minutes: int | None = None
    ) -> Any: ...
    def account(self, account_id: str) -> Any: ...
    def rules_preview(
        self,
        account_id: str,
        text: str,
        *,
        item_id: str | None = None,
        rules: list[dict[str, Any]] | None = None,
        default_reply: Any = None,
    ) -> Any: ...


Handler = Callable[[SupervisorApi, Mapping[str, Any]], Any]

_HANDLERS: dict[str, Handler] = {
    "status": lambda s, a: s.status(a["account"]),
    "add": lambda s, a: s.add(a["account"], a["cookie"], enabled=a["enabled"], remark=a["remark"]),
    "remove": lambda s, a: s.remove(a["account"]),
    "enable": lambda s, a: s.enable(a["account"]),
    "disable": lambda s, a: s.disable(a["account"]),
    "update": lambda s, a: s.update(
        a["account"], a["cookie"], save=a["save"], force=a["force"], wait=a["wait"]
    ),
    "restart": lambda s, a: s.restart(a["account"], wait=a["wait"]),
    "kill": lambda s, a: s.kill(a["account"]),
    "rollback": lambda s, a: s.rollback(a["account"], to_version=a["to_version"]),
    "history": lambda s, a: s.history(a["account"], limit=a["limit"]),
    "events": lambda s, a: s.events(a["account"], limit=a["limit"], since=a["since"]),
    "rules": lambda s, a: s.rules(a["account"]),
    "set_rules": lambda s, a: s.set_rules(
        a["account"], a["rules"], default_reply=a["default_reply"]
    ),
    "set": lambda s, a: s.set_account(
        a["account"], remark=a["remark"], pause_minutes=a["pause_minutes"]
    ),
    "account": lambda s, a: s.account(a["account"]),
    "rules_preview": lambda s, a: s.rules_preview(
        a["account"],
        a["text"],
        item_id=a["item_id"],
        rules=a["rules"],
        default_reply=a["default_reply"],
    ),
}

# checked in order: the most specific type first
_CODES: tuple[tuple[type[BaseException], str], ...] = (
    (ControlError, ""),  # carries its own code
    (NotFoundError, NOT_FOUND),
    (AlreadyExistsError, EXISTS),
    (ConflictError, CONFLICT),
    (CookieError, BAD_REQUEST),
    (InvalidValueError, BAD_REQUEST),
)


def service_version() -> str:
    try:
        return metadata.version("xianyu-supervisor")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def error_code(exc: BaseException) -> str:
    """The control-socket error code for an exception raised while serving a request."""
    for kind, code in _CODES:
        if isinstance(exc, kind):
            return exc.code if isinstance(exc, ControlError) else code
    return INTERNAL


class Dispatcher:
    """Answers request lines by calling the supervisor; thread-safe (it keeps no state)."""

    def __init__(
        self,
        supervisor: SupervisorApi,
        *,
        version: str | None = None,
        started_at: float | None = None,
    ) -> None:
        self._supervisor = supervisor
        self._version = version or service_version()
        # time.monotonic() of the service's start, so uptime includes the boot
        self._started = time.monotonic() if started_at is None else started_at

    def handle_line(self, line: bytes) -> bytes:
        """One request line in, one response line out. Never raises."""
        request_id, answer = self._answer(lambda: parse_request(line))
        if not answer["ok"]:
            return error_response(request_id, **answer["error"])
        try:
            return ok_response(request_id, answer["result"])
        # survival boundary: a result that does not encode is still answered (internal)
        except Exception as exc:  # noqa: BLE001
            return error_response(request_id, **self._error(exc))

    def call(self, cmd: str, args: Mapping[str, Any]) -> dict[str, Any]:
        """The same request as a dict (the web page's way in): the response object a
        request line gets, ``{"ok": true, "result"}`` or ``{"ok": false, "error": {"code",
        "message"}}``, with the same validation, results and error codes. Never raises."""
        _request_id, answer = self._answer(
            lambda: Request(None, cmd, validate_arguments(cmd, args))
        )
        return answer

    def _answer(self, parse: Callable[[], Request]) -> tuple[Any, dict[str, Any]]:
        """(the request's id if known, the response object without it)."""
        request_id = None
        try:
            request = parse()
            request_id = request.id
            return request_id, {"ok": True, "result": dict(self.handle(request))}
        # survival boundary (module docstring): every request gets an answer; _error logs
        # anything unexpected with its traceback
        except Exception as exc:  # noqa: BLE001
            request_id = exc.request_id if isinstance(exc, ControlError) else request_id
            return request_id, {"ok": False, "error": self._error(exc)}

    def knows(self, cmd: str) -> bool:
        """Whether this dispatcher serves ``cmd`` (a page hides what the service lacks)."""
        return cmd == "ping" or (cmd in COMMANDS and cmd in _HANDLERS)

    def handle(self, request: Request) -> Mapping[str, Any]:
        if request.cmd == "ping":
            return {
                "version": self._version,
                "uptime_s": round(time.monotonic() - self._started, 3),
            }
        result = _HANDLERS[request.cmd](self._supervisor, request.args)
        if result is None:
            return {}
        if not isinstance(result, Mapping):
            raise TypeError(f"supervisor returned {type(result).__name__} for {request.cmd!r}")
        return result

    def _error(self, exc: Exception) -> dict[str, str]:
        """The response's ``error`` object for ``exc``: its code and a redacted sentence."""
        code = error_code(exc)
        if code != INTERNAL:
            message = str(exc)
        elif isinstance(exc, XianyuSupervisorError):
            # our own errors explain themselves; still logged, since nobody asked for them
            log.error(
                "control_request_failed", code=code, error=redact_text(str(exc)), exc_info=exc
            )
            message = str(exc)
        else:
            log.error(
                "control_request_crashed", code=code, error_type=type(exc).__name__, exc_info=exc
            )
            message = f"internal error ({type(exc).__name__}); the service log has the traceback"
        return {"code": code, "message": redact_text(message) or code}
