"""From a request line to a response line: validate, call the supervisor, map errors to codes.

This is the survival boundary of the control socket: whatever a request or the
supervisor does, the caller gets one response line back. Unexpected exceptions
become ``internal`` and are logged with their traceback.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from importlib import metadata
from typing import Any, Protocol

import structlog

from common.errors import XianyuSupervisorError
from control.arguments import COMMANDS, validate_arguments
from control.errors import (
    BAD_REQUEST,
    CONFLICT,
    INTERNAL,
    UNAVAILABLE,
    ControlError,
    error_code,
)
from control.protocol import Request, error_response, ok_response, parse_request
from control.redact import redact_text

log = structlog.get_logger(__name__)


class SupervisorApi(Protocol):
    """The part of ``supervisor.SupervisorClient`` the control socket calls."""

    def add(
        self,
        account_id: str,
        cookie: str,
        *,
        enabled: bool = True,
        remark: str = "",
        proxy: str = "",
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
    def renew(self, account_id: str) -> Any: ...
    def rollback(self, account_id: str, to_version: int | None = None) -> Any: ...
    def status(self, account_id: str | None = None) -> Any: ...
    def history(self, account_id: str, limit: int = 20) -> Any: ...
    def events(self, account_id: str | None = None, limit: int = 100, since: Any = None) -> Any: ...
    def rules(self, account_id: str) -> Any: ...
    def set_rules(
        self, account_id: str, rules: list[dict[str, Any]], default_reply: Any = None
    ) -> Any: ...
    def set_account(
        self,
        account_id: str,
        *,
        remark: str | None = None,
        pause_minutes: int | None = None,
        notify: Sequence[str] | None = None,
        proxy: str | None = None,
    ) -> Any: ...
    def pauses(self, account_id: str) -> Any: ...
    def unpause(self, account_id: str, chat: str) -> Any: ...
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


class ClusterApi(Protocol):
    """The nodes of the service's database: ``cluster.ClusterSupervisor`` in cluster mode,
    ``cluster.SingleNode`` (this one process; ``pin`` refuses) on SQLite."""

    def nodes(self) -> Mapping[str, Any]: ...
    def pin(self, account_id: str, node: str | None) -> Any: ...


NEEDS_CLUSTER = "--node needs cluster mode (a PostgreSQL --database-url)"


class LoginApi(Protocol):
    """``supervisor.LoginManager``: QR-code logins in progress."""

    def start(self, account: str, *, new: bool = False) -> Any: ...
    def poll(self, login_id: str) -> Any: ...
    def cancel(self, login_id: str) -> Any: ...


class NotifierApi(Protocol):
    """The part of ``notify.Notifier`` the control socket calls."""

    def test(self) -> Mapping[str, Any]: ...
    def check_urls(self, urls: Sequence[str]) -> None: ...


Handler = Callable[[SupervisorApi, Mapping[str, Any]], Any]
LoginHandler = Callable[[LoginApi, Mapping[str, Any]], Any]


def _events(supervisor: SupervisorApi, args: Mapping[str, Any]) -> Any:
    """The audit log; an account that neither exists nor has events is ``not_found``."""
    result = supervisor.events(args["account"], limit=args["limit"], since=args["since"])
    if args["account"] is not None and not (result or {}).get("events"):
        supervisor.status(args["account"])  # raises NotFoundError for an unknown account
    return result


def _set_rules(supervisor: SupervisorApi, args: Mapping[str, Any]) -> dict[str, Any]:
    """Replace the rules; answer with counts (an echo of 10,000 rules helps nobody)."""
    rules, default = args["rules"], args["default_reply"]
    empty = not rules and default is None
    if empty and not args["clear"]:
        raise ControlError(
            BAD_REQUEST,
            "no rules and no default reply: this would remove every reply of "
            f"{args['account']!r}; to do that on purpose, send clear: true "
            "('ctl set-rules ACCOUNT --clear')",
        )
    if args["clear"] and not empty:
        raise ControlError(
            BAD_REQUEST, "clear: true removes every rule; send it without rules or default_reply"
        )
    supervisor.set_rules(args["account"], rules, default_reply=default)
    return {
        "outcome": "cleared" if empty else "stored",
        "rules": len(rules),
        "item_rules": sum(1 for r in rules if r.get("item_id")),
        "default_reply": default is not None,
    }


_HANDLERS: dict[str, Handler] = {
    "status": lambda s, a: s.status(a["account"]),
    "add": lambda s, a: s.add(
        a["account"], a["cookie"], enabled=a["enabled"], remark=a["remark"], **_proxy(a)
    ),
    "remove": lambda s, a: s.remove(a["account"]),
    "enable": lambda s, a: s.enable(a["account"]),
    "disable": lambda s, a: s.disable(a["account"]),
    "update": lambda s, a: s.update(
        a["account"], a["cookie"], save=a["save"], force=a["force"], wait=a["wait"]
    ),
    "restart": lambda s, a: s.restart(a["account"], wait=a["wait"]),
    "kill": lambda s, a: s.kill(a["account"]),
    "renew": lambda s, a: s.renew(a["account"]),
    "rollback": lambda s, a: s.rollback(a["account"], to_version=a["to_version"]),
    "history": lambda s, a: s.history(a["account"], limit=a["limit"]),
    "events": _events,
    "rules": lambda s, a: s.rules(a["account"]),
    "set_rules": _set_rules,
    "pauses": lambda s, a: s.pauses(a["account"]),
    "unpause": lambda s, a: s.unpause(a["account"], a["chat"]),
    "set": lambda s, a: s.set_account(
        a["account"],
        remark=a["remark"],
        pause_minutes=a["pause_minutes"],
        notify=a["notify"],
        **_proxy(a),
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


def _proxy(args: Mapping[str, Any]) -> dict[str, Any]:
    """``proxy=`` only when the request names one ('' clears it)."""
    return {} if args.get("proxy") is None else {"proxy": args["proxy"]}


_LOGIN_HANDLERS: dict[str, LoginHandler] = {
    "login_start": lambda m, a: m.start(a["account"], new=a["new"]),
    "login_poll": lambda m, a: m.poll(a["login_id"]),
    "login_cancel": lambda m, a: m.cancel(a["login_id"]),
}


def service_version() -> str:
    try:
        return metadata.version("xianyu-supervisor")
    except metadata.PackageNotFoundError:
        return "0+unknown"


class Dispatcher:
    """Answers request lines by calling the supervisor; thread-safe (it keeps no state)."""

    def __init__(
        self,
        supervisor: SupervisorApi,
        *,
        version: str | None = None,
        started_at: float | None = None,
        logins: LoginApi | None = None,
        notifier: NotifierApi | None = None,
        cluster: ClusterApi | None = None,
    ) -> None:
        self._supervisor = supervisor
        self._cluster = cluster
        self._stopping = False
        self._logins = logins
        self._notifier = notifier
        self._version = version or service_version()
        # time.monotonic() of the service's start, so uptime includes the boot
        self._started = time.monotonic() if started_at is None else started_at

    def stopping(self) -> None:
        """The service is shutting down: requests it interrupts are not errors to log."""
        self._stopping = True

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

    def knows(self, cmd: str) -> bool:
        """Whether this dispatcher serves ``cmd`` (a page hides what the service lacks)."""
        if cmd not in COMMANDS:
            return False
        if cmd in _LOGIN_HANDLERS:
            return self._logins is not None
        if cmd == "notify_test":
            return self._notifier is not None
        if cmd == "nodes":
            return self._cluster is not None
        return cmd == "ping" or cmd in _HANDLERS

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

    def handle(self, request: Request) -> Mapping[str, Any]:
        if request.cmd == "ping":
            return {
                "version": self._version,
                "uptime_s": round(time.monotonic() - self._started, 3),
            }
        if request.cmd == "notify_test":
            return self._notifier_or_fail().test()
        if request.cmd == "set" and request.args.get("notify"):
            try:
                self._notifier_or_fail().check_urls(request.args["notify"])
            except ValueError as exc:
                raise ControlError(BAD_REQUEST, str(exc)) from None
        if request.cmd == "nodes":
            if self._cluster is None:
                raise ControlError(CONFLICT, "this service does not know its nodes")
            return self._cluster.nodes()
        if request.cmd == "set" and request.args.get("node") is not None:
            return self._set_with_node(request.args)
        if request.cmd in _LOGIN_HANDLERS:
            if self._logins is None:
                raise ControlError(INTERNAL, "QR login is not wired into this service")
            result = _LOGIN_HANDLERS[request.cmd](self._logins, request.args)
        else:
            result = _HANDLERS[request.cmd](self._supervisor, request.args)
        if result is None:
            return {}
        if not isinstance(result, Mapping):
            raise TypeError(f"supervisor returned {type(result).__name__} for {request.cmd!r}")
        return result

    def _set_with_node(self, args: Mapping[str, Any]) -> Mapping[str, Any]:
        """``set --node``: pin (or with '' unpin) first, then the other fields, if any."""
        if self._cluster is None:
            raise ControlError(BAD_REQUEST, NEEDS_CLUSTER)
        node = args["node"] or None
        self._cluster.pin(args["account"], node)
        fields = ("remark", "pause_minutes", "notify", "proxy")
        if any(args.get(f) is not None for f in fields):
            result = _HANDLERS["set"](self._supervisor, args)
        else:
            result = self._supervisor.account(args["account"])
        fields_now = dict((result or {}).get("account") or {})
        return {**(result or {}), "account": {**fields_now, "pinned_node": node}}

    def _notifier_or_fail(self) -> NotifierApi:
        if self._notifier is None:
            raise ControlError(CONFLICT, "notifications are not running in this service")
        return self._notifier

    def _error(self, exc: Exception) -> dict[str, str]:
        """The response's ``error`` object for ``exc``: its code and a redacted sentence."""
        code = error_code(exc)
        if code != INTERNAL:
            message = str(exc)
        elif self._stopping and isinstance(exc, XianyuSupervisorError):
            # a shutdown ended the request: expected, and handled at the next start
            log.info("control_request_interrupted", error=redact_text(str(exc)))
            code, message = UNAVAILABLE, f"{exc}; the service is shutting down"
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
