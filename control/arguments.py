"""The commands of the control socket and the type of each argument.

``validate_arguments`` turns the loose JSON of a request into checked values with
defaults filled in, or raises ``ControlError("bad_request")`` naming the field.
An optional argument given as ``null`` counts as absent.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from control.errors import BAD_REQUEST, UNKNOWN_COMMAND, ControlError

MAX_LIMIT = 10_000
MAX_TEXT = 10_000
MAX_COOKIE = 64 * 1024

Check = Callable[[str, Any], Any]


def _fail(field: str, wanted: str) -> ControlError:
    return ControlError(BAD_REQUEST, f"argument '{field}' must be {wanted}")


def account_id(field: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 128:
        raise _fail(field, "a non-empty account id string (at most 128 characters)")
    return value


def cookie_text(field: str, value: Any) -> str:
    # the value is a secret: the message describes it, never quotes it
    if not isinstance(value, str) or not value.strip():
        raise _fail(field, "a non-empty cookie string ('k=v; k=v')")
    if len(value) > MAX_COOKIE:
        raise _fail(field, f"at most {MAX_COOKIE} characters long")
    return value.strip()


def text(field: str, value: Any) -> str:
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        raise _fail(field, f"a string of at most {MAX_TEXT} characters")
    return value


def boolean(field: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _fail(field, "true or false")
    return value


def _integer(field: str, value: Any, *, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _fail(field, f"an integer from {low} to {high}")
    return value


def version(field: str, value: Any) -> int:
    return _integer(field, value, low=1, high=2**62)


def limit(field: str, value: Any) -> int:
    return _integer(field, value, low=1, high=MAX_LIMIT)


def minutes(field: str, value: Any) -> int:
    return _integer(field, value, low=0, high=366 * 24 * 60)


def since(field: str, value: Any) -> float | datetime:
    """Epoch seconds, or an ISO-8601 timestamp string (naive means UTC)."""
    wanted = "epoch seconds (a number) or an ISO-8601 timestamp string"
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _fail(field, wanted)
    if not isinstance(value, str):
        return float(value)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise _fail(field, wanted) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _optional_item(field: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise _fail(field, "a non-empty item id string or null")
    return value


def rules(field: str, value: Any) -> list[dict[str, Any]]:
    """A list of ``{"keyword", "reply", "item_id"?}`` objects, in matching order."""
    if not isinstance(value, list):
        raise _fail(field, 'a list of {"keyword", "reply", "item_id"?} objects')
    out = []
    for i, rule in enumerate(value):
        where = f"{field}[{i}]"
        if not isinstance(rule, dict):
            raise _fail(where, 'an object {"keyword", "reply", "item_id"?}')
        unknown = set(rule) - {"keyword", "reply", "item_id"}
        if unknown:
            raise ControlError(BAD_REQUEST, f"unknown field '{where}.{sorted(unknown)[0]}'")
        keyword = rule.get("keyword")
        if not isinstance(keyword, str) or not keyword.strip():
            raise _fail(f"{where}.keyword", "a non-empty string")
        reply = rule.get("reply")
        if not isinstance(reply, str) or not reply.strip():
            raise _fail(f"{where}.reply", "a non-empty string")
        item = _optional_item(f"{where}.item_id", rule.get("item_id"))
        out.append({"keyword": keyword, "reply": reply, "item_id": item})
    return out


def default_reply(field: str, value: Any) -> dict[str, Any] | None:
    """``null`` or ``{"text", "once_per_chat"?: true}``."""
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) - {"text", "once_per_chat"}:
        raise _fail(field, 'null or an object {"text", "once_per_chat"?}')
    reply = value.get("text")
    if not isinstance(reply, str) or not reply.strip():
        raise _fail(f"{field}.text", "a non-empty string")
    once = value.get("once_per_chat", True)
    return {"text": reply, "once_per_chat": boolean(f"{field}.once_per_chat", once)}


@dataclass(frozen=True)
class Arg:
    check: Check
    required: bool = False
    default: Any = None


_ACCOUNT = Arg(account_id, required=True)

COMMANDS: Mapping[str, Mapping[str, Arg]] = {
    "ping": {},
    "status": {"account": Arg(account_id)},
    "add": {
        "account": _ACCOUNT,
        "cookie": Arg(cookie_text, required=True),
        "enabled": Arg(boolean, default=True),
        "remark": Arg(text, default=""),
    },
    "remove": {"account": _ACCOUNT},
    "enable": {"account": _ACCOUNT},
    "disable": {"account": _ACCOUNT},
    "update": {
        "account": _ACCOUNT,
        "cookie": Arg(cookie_text, required=True),
        "save": Arg(boolean, default=True),
        "force": Arg(boolean, default=False),
        "wait": Arg(boolean, default=True),
    },
    "restart": {"account": _ACCOUNT, "wait": Arg(boolean, default=True)},
    "kill": {"account": _ACCOUNT},
    "rollback": {"account": _ACCOUNT, "to_version": Arg(version)},
    "history": {"account": _ACCOUNT, "limit": Arg(limit, default=20)},
    "events": {"account": Arg(account_id), "limit": Arg(limit, default=100), "since": Arg(since)},
    "rules": {"account": _ACCOUNT},
    "set_rules": {
        "account": _ACCOUNT,
        "rules": Arg(rules, required=True),
        "default_reply": Arg(default_reply),
    },
    "set": {"account": _ACCOUNT, "remark": Arg(text), "pause_minutes": Arg(minutes)},
    # one account's stored fields (remark, pause minutes), without changing them
    "account": {"account": _ACCOUNT},
    # which rule answers ``text``: the saved rules, or a draft given as ``rules`` (not saved)
    "rules_preview": {
        "account": _ACCOUNT,
        "text": Arg(text, required=True),
        "item_id": Arg(_optional_item),
        "rules": Arg(rules),
        "default_reply": Arg(default_reply),
    },
}


def validate_arguments(cmd: str, args: Mapping[str, Any]) -> dict[str, Any]:
    """Check ``args`` against ``cmd``'s signature; return them with defaults filled in."""
    spec = COMMANDS.get(cmd)
    if spec is None:
        known = ", ".join(sorted(COMMANDS))
        raise ControlError(
            UNKNOWN_COMMAND, f"unknown command {cmd[:64]!r}; known commands: {known}"
        )
    unknown = sorted(set(args) - set(spec))
    if unknown:
        allowed = ", ".join(sorted(spec)) or "none"
        raise ControlError(
            BAD_REQUEST,
            f"unknown argument {unknown[0][:64]!r} for {cmd!r}; allowed arguments: {allowed}",
        )
    out: dict[str, Any] = {}
    for name, arg in spec.items():
        value = args.get(name)
        if value is None:
            if arg.required:
                raise ControlError(BAD_REQUEST, f"argument '{name}' is required by {cmd!r}")
            out[name] = arg.default
            continue
        out[name] = arg.check(name, value)
    return out
