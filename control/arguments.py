"""The commands of the control socket and the type of each argument.

``validate_arguments`` turns the loose JSON of a request into checked values with
defaults filled in, or raises ``ControlError("bad_request")`` naming the field.
An optional argument given as ``null`` counts as absent.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from common.errors import InvalidValueError
from common.proxy import check_proxy
from control.errors import BAD_REQUEST, UNKNOWN_COMMAND, ControlError

MAX_LIMIT = 10_000
MAX_TEXT = 10_000
MAX_COOKIE = 64 * 1024
# one IM message; longer replies are refused when the rules are set, not when sent
MAX_REPLY = 2_000
# the placeholders a reply may use (actors.replies.PLACEHOLDERS; a test keeps them equal)
REPLY_PLACEHOLDERS = ("{buyer_name}", "{buyer_id}", "{text}", "{item_id}")
_PLACEHOLDER = re.compile(r"\{[^{}]*\}")

Check = Callable[[str, Any], Any]


def _fail(field: str, wanted: str) -> ControlError:
    return ControlError(BAD_REQUEST, f"argument '{field}' must be {wanted}")


MAX_ACCOUNT_ID = 64


def account_id(field: str, value: Any) -> str:
    """An id an operator can type and a table can show: printable, trimmed, at most 64."""
    if not isinstance(value, str) or not value.strip():
        raise _fail(field, f"a non-empty account id string (at most {MAX_ACCOUNT_ID} characters)")
    if len(value) > MAX_ACCOUNT_ID:
        raise _fail(field, f"an account id of at most {MAX_ACCOUNT_ID} characters")
    if value != value.strip():
        raise _fail(field, "an account id without spaces at its start or end")
    if not value.isprintable():
        raise _fail(field, "an account id of printable characters (no newline, tab or escape)")
    return value


def cookie_too_long(length: int) -> str:
    """The one message for an oversized cookie, whatever its size (the CLI checks it too)."""
    return (
        f"the cookie is {length} characters long; a Cookie header is at most {MAX_COOKIE}: "
        "check that the file holds only the Cookie header of https://www.goofish.com/im"
    )


def cookie_text(field: str, value: Any) -> str:
    # the value is a secret: the message describes it, never quotes it
    if not isinstance(value, str) or not value.strip():
        raise _fail(field, "a non-empty cookie string ('k=v; k=v')")
    if len(value) > MAX_COOKIE:
        raise ControlError(BAD_REQUEST, cookie_too_long(len(value)))
    return value.strip()


def proxy_url(field: str, value: Any) -> str:
    # may hold credentials: the message describes the rule, never quotes the value
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        raise _fail(field, "a proxy URL string (http://, https:// or socks5://), or ''")
    try:
        return check_proxy(value)
    except InvalidValueError as exc:
        raise _fail(field, exc.expected) from None


def new_cookie(field: str, value: Any) -> str:
    """``add``'s cookie: a whole login, not only the seller id."""
    value = cookie_text(field, value)
    names = {
        n.strip() for n, sep, v in (p.partition("=") for p in value.split(";")) if sep and v.strip()
    }
    if names and names <= {"unb"}:
        raise ControlError(
            BAD_REQUEST,
            f"argument '{field}' holds only 'unb' (the seller id): the cookie is incomplete; "
            "copy the whole Cookie header of https://www.goofish.com/im",
        )
    return value


def chat_id(field: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 64:
        raise _fail(field, "a chat id string (at most 64 characters; see 'ctl pauses ACCOUNT')")
    return value


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
        # an empty reply is allowed: "matched, stay silent"
        reply = reply_text(f"{where}.reply", rule.get("reply"), empty_ok=True)
        item = _optional_item(f"{where}.item_id", rule.get("item_id"))
        out.append({"keyword": keyword, "reply": reply, "item_id": item})
    return out


def reply_text(field: str, value: Any, *, empty_ok: bool) -> str:
    """A reply template: at most ``MAX_REPLY`` characters, only the known placeholders."""
    wanted = "a string" if empty_ok else "a non-empty string"
    if not isinstance(value, str) or (not empty_ok and not value.strip()):
        raise _fail(field, f"{wanted} of at most {MAX_REPLY} characters")
    if len(value) > MAX_REPLY:
        raise _fail(field, f"{wanted} of at most {MAX_REPLY} characters (it has {len(value)})")
    unknown = [p for p in _PLACEHOLDER.findall(value) if p not in REPLY_PLACEHOLDERS]
    if unknown:
        raise ControlError(
            BAD_REQUEST,
            f"argument '{field}' uses the unknown placeholder {unknown[0][:40]}; "
            f"the known ones are {' '.join(REPLY_PLACEHOLDERS)}",
        )
    return value


def default_reply(field: str, value: Any) -> dict[str, Any] | None:
    """``null`` or ``{"text", "once_per_chat"?: true}``."""
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) - {"text", "once_per_chat"}:
        raise _fail(field, 'null or an object {"text", "once_per_chat"?}')
    reply = reply_text(f"{field}.text", value.get("text"), empty_ok=False)
    once = value.get("once_per_chat", True)
    return {"text": reply, "once_per_chat": boolean(f"{field}.once_per_chat", once)}


def login_id(field: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 64:
        raise _fail(field, "the login_id string login_start answered")
    return value


MAX_NODE_ID = 128


def node_id(field: str, value: Any) -> str:
    """A cluster node's id as ``ctl nodes`` shows it, or '' (no node: unpin)."""
    wanted = f"a node id of at most {MAX_NODE_ID} printable characters (see 'ctl nodes'), or ''"
    if not isinstance(value, str) or len(value) > MAX_NODE_ID:
        raise _fail(field, wanted)
    if value != value.strip() or not value.isprintable():
        raise _fail(field, wanted)
    return value


MAX_NOTIFY_URLS = 20
MAX_URL = 4096


def notify_urls(field: str, value: Any) -> list[str]:
    """A notification URL or a list of them; ``""`` or ``[]`` clears (the value is a secret:
    the message describes it, never quotes it)."""
    values = [value] if isinstance(value, str) else value
    wanted = (
        "an apprise URL (json://host/path, dingtalk://token/ ...) or a list of at most "
        f'{MAX_NOTIFY_URLS}; "" clears'
    )
    if not isinstance(values, list) or len(values) > MAX_NOTIFY_URLS:
        raise _fail(field, wanted)
    urls = []
    for given in values:
        if not isinstance(given, str) or len(given) > MAX_URL:
            raise _fail(field, wanted)
        url = given.strip()
        if url and "://" not in url:
            raise _fail(field, wanted)
        if url:
            urls.append(url)
    return urls


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
        "cookie": Arg(new_cookie, required=True),
        "enabled": Arg(boolean, default=True),
        "remark": Arg(text, default=""),
        "proxy": Arg(proxy_url),
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
    "renew": {"account": _ACCOUNT},
    "rollback": {"account": _ACCOUNT, "to_version": Arg(version)},
    "history": {"account": _ACCOUNT, "limit": Arg(limit, default=20)},
    "events": {"account": Arg(account_id), "limit": Arg(limit, default=100), "since": Arg(since)},
    "rules": {"account": _ACCOUNT},
    "set_rules": {
        "account": _ACCOUNT,
        "rules": Arg(rules, required=True),
        "default_reply": Arg(default_reply),
        # an empty rule set wipes everything: it must be asked for
        "clear": Arg(boolean, default=False),
    },
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
    "set": {
        "account": _ACCOUNT,
        "remark": Arg(text),
        "pause_minutes": Arg(minutes),
        "notify": Arg(notify_urls),
        "proxy": Arg(proxy_url),
        # the node the account is pinned to ('' unpins); cluster mode only
        "node": Arg(node_id),
    },
    "pauses": {"account": _ACCOUNT},
    "unpause": {"account": _ACCOUNT, "chat": Arg(chat_id, required=True)},
    "notify_test": {},
    # the nodes of the cluster (one in SQLite mode)
    "nodes": {},
    # QR-code login (issue 16 section 3)
    "login_start": {"account": _ACCOUNT, "new": Arg(boolean, default=False)},
    "login_poll": {"login_id": Arg(login_id, required=True)},
    "login_cancel": {"login_id": Arg(login_id, required=True)},
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
    fields = ("remark", "pause_minutes", "notify", "proxy", "node")
    if cmd == "set" and all(args.get(f) is None for f in fields):
        raise ControlError(
            BAD_REQUEST,
            "'set' changes nothing without a field: give remark, pause_minutes, notify, "
            "proxy and/or node",
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
