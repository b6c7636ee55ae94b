"""Human-readable output of control results: aligned tables and one-line outcomes.

Pure functions from a result dict to text; ``--json`` bypasses them. Results never
carry cookie values, and the CLI still runs the text through ``redact_text``.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

Row = Sequence[object]


def table(headers: Sequence[str], rows: Sequence[Row]) -> str:
    """Left-aligned columns separated by two spaces; ``-`` for missing values.

    Widths are terminal columns, not characters: a Chinese keyword or reply takes two
    columns per character, and the table stays aligned around it.
    """
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [display_width(h) for h in headers]
    for row in cells:
        widths = [max(w, display_width(c)) for w, c in zip(widths, row, strict=True)]
    lines = [headers, *cells]
    return "\n".join(
        "  ".join(_pad(c, w) for c, w in zip(line, widths, strict=True)).rstrip() for line in lines
    )


def display_width(text: str) -> int:
    """How many terminal columns ``text`` takes (wide and full-width characters take two)."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - display_width(text))


def _cell(value: object) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return _printable(str(value).replace("\n", " "))


def _printable(text: str) -> str:
    """Control characters shown as escapes: stored text must not recolour the terminal."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)


def _moment(value: object) -> str:
    """Epoch seconds or ISO text as ``YYYY-MM-DD HH:MM:SS`` (UTC)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value).strftime("%Y-%m-%d %H:%M:%S")
        except ValueError:
            return value
    return _cell(value)


def _ms(value: object) -> str:
    return f"{value:.1f} ms" if isinstance(value, int | float) else "-"


STATUS_FOOTNOTE = (
    "(received, replied, crashes: lifetime totals; restarts of any cause and reconnects: "
    "since the service started; crashes include stops cut off at their deadline)"
)


def status(result: Mapping[str, Any]) -> str:
    accounts = result.get("accounts") or []
    if not accounts:
        return "no accounts; add one with: python run.py ctl add <account-id> --cookie-file <file>"
    headers = ["ACCOUNT", "USER", "STATE", "ENABLED", "VERSION", "ONLINE SINCE (UTC)"]
    headers += ["RESTARTS", "CRASHES", "RECONNECTS", "LOGINS LEFT", "RECEIVED", "REPLIED"]
    headers += ["LAST ERROR"]
    clustered = any(a.get("node") for a in accounts)  # a NODE column in cluster mode only
    rows = [
        [
            *([a.get("node")] if clustered else []),
            a.get("id"),
            a.get("user_id"),
            a.get("state"),
            a.get("enabled"),
            _version_cell(a),
            _moment(a.get("online_since")) if a.get("online_since") else None,
            a.get("restarts"),
            a.get("crashes"),
            a.get("reconnects"),
            a.get("login_budget_left"),  # login calls left this hour
            a.get("received"),
            a.get("replied"),
            a.get("last_error"),
        ]
        for a in accounts
    ]
    headers = ["NODE", *headers] if clustered else headers
    return f"{table(headers, rows)}\n{STATUS_FOOTNOTE}"


def _version_cell(account: Mapping[str, Any]) -> str | None:
    """``3``, ``3 (unsaved)`` while an unsaved cookie serves, ``unsaved`` when none is stored."""
    number = account.get("cookie_version")
    if not account.get("unsaved"):
        return None if number is None else str(number)
    return "unsaved" if number is None else f"{number} (unsaved)"


def outcome(result: Mapping[str, Any]) -> str:
    """``update`` / ``rollback`` / ``restart`` / ``kill`` and friends, in one line."""
    parts = [str(result.get("outcome", "ok"))]
    if result.get("version") is not None:
        parts.append(f"version {result['version']}")
    if result.get("previous_version") is not None:
        parts.append(f"(previous {result['previous_version']})")
    if result.get("swap_ms") is not None:
        parts.append(f"swap {_ms(result['swap_ms'])}")
    if result.get("stop_ms") is not None:
        parts.append(f"stop {_ms(result['stop_ms'])}")
    if result.get("renewal") not in (None, "renewed"):  # what the passport did (ctl renew)
        parts.append(f"renewal: {result['renewal']}")
    if result.get("reason"):
        parts.append(f"reason: {result['reason']}")
    return " ".join(parts)


def history(result: Mapping[str, Any]) -> str:
    rows = [
        [
            v.get("version"),
            v.get("status"),
            v.get("source"),
            v.get("fingerprint"),
            _moment(v.get("created_at")),
            v.get("reason"),
        ]
        for v in result.get("versions") or []
    ]
    return table(["VERSION", "STATUS", "SOURCE", "FINGERPRINT", "CREATED (UTC)", "REASON"], rows)


def events(result: Mapping[str, Any]) -> str:
    rows = [
        [_moment(e.get("at")), e.get("account"), e.get("kind"), e.get("data") or None]
        for e in result.get("events") or []
    ]
    return table(["AT (UTC)", "ACCOUNT", "KIND", "DATA"], rows) if rows else "no events"


def rules(result: Mapping[str, Any]) -> str:
    rows = [[r.get("keyword"), r.get("item_id"), r.get("reply")] for r in result.get("rules") or []]
    text = table(["KEYWORD", "ITEM", "REPLY"], rows) if rows else "no keyword rules"
    default = result.get("default_reply")
    if default:
        once = " (once per chat)" if default.get("once_per_chat") else ""
        text += f"\ndefault reply{once}: {default.get('text')}"
    else:
        text += "\nno default reply"
    return text


def rules_stored(result: Mapping[str, Any]) -> str:
    """The summary ``set_rules`` answers with."""
    if result.get("outcome") == "cleared":
        return "cleared: no keyword rules and no default reply (the account stays silent)"
    count, item = result.get("rules", 0), result.get("item_rules", 0)
    text = f"stored {count} keyword rule{'' if count == 1 else 's'}"
    if item:
        text += f" ({item} for a specific item)"
    text += " and a default reply" if result.get("default_reply") else " and no default reply"
    return text + "; 'ctl rules ACCOUNT' shows them"


def pauses(result: Mapping[str, Any]) -> str:
    rows = [[p.get("chat"), _moment(p.get("until"))] for p in result.get("pauses") or []]
    if not rows:
        return "no chat is paused"
    return table(["CHAT", "PAUSED UNTIL (UTC)"], rows)


def unpaused(result: Mapping[str, Any]) -> str:
    if result.get("outcome") == "not_paused":
        return f"chat {result.get('chat')} was not paused"
    return f"chat {result.get('chat')} unpaused: auto-replies from its next message"


def ping(result: Mapping[str, Any]) -> str:
    return f"service {result.get('version')} up {result.get('uptime_s', 0):.1f}s"


def account(result: Mapping[str, Any]) -> str:
    fields = result.get("account")
    if not isinstance(fields, Mapping):
        return generic(result)
    return "\n".join(f"{k}: {_cell(v)}" for k, v in fields.items())


def added(result: Mapping[str, Any]) -> str:
    """``add``: the account and, when the CLI waited, the state it came to."""
    name = result.get("account")
    if isinstance(name, Mapping):  # an account record rather than its id
        name = name.get("id")
    state = result.get("state")
    if state is None:
        return f"added {name}"
    if state == "online":
        return f"added {name}: online"
    text = f"added {name}, but it is {state}"
    if result.get("last_error"):
        text += f": {result['last_error']}"
    if state == "needs_cookie":
        text += f"; update it with a fresh cookie: ctl update {name} --cookie-file FILE"
    return text


def notify_test(result: Mapping[str, Any]) -> str:
    rows = [
        [
            r.get("url"),
            ", ".join(r.get("for") or []),
            "sent" if r.get("ok") else "FAILED",
            r.get("error"),
        ]
        for r in result.get("results") or []
    ]
    if not rows:
        return (
            "no notification URLs: start the service with --notify URL (or notify_urls in "
            "its config file), or give an account its own with: ctl set ACCOUNT --notify URL"
        )
    summary = f"{result.get('sent', 0)} sent, {result.get('failed', 0)} failed"
    return table(["URL", "FOR", "RESULT", "ERROR"], rows) + "\n" + summary


def nodes(result: Mapping[str, Any]) -> str:
    rows = [
        [
            n.get("id"),
            n.get("host"),
            n.get("pid"),
            n.get("accounts"),
            n.get("heartbeat_age_s"),
            _moment(n.get("started_at")),
            n.get("version"),
        ]
        for n in result.get("nodes") or []
    ]
    if not rows:
        return "no live node"
    headers = ["NODE", "HOST", "PID", "ACCOUNTS", "HEARTBEAT AGE (S)", "STARTED (UTC)", "VERSION"]
    return table(headers, rows)


def generic(result: Mapping[str, Any]) -> str:
    if "outcome" in result:
        return outcome(result)
    return "\n".join(f"{k}: {_cell(v)}" for k, v in result.items()) or "ok"


RENDERERS: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "ping": ping,
    "status": status,
    "history": history,
    "events": events,
    "rules": rules,
    "set_rules": rules_stored,
    "set": account,
    "add": added,
    "pauses": pauses,
    "unpause": unpaused,
    "notify_test": notify_test,
    "nodes": nodes,
}


def render(cmd: str, result: Mapping[str, Any]) -> str:
    return RENDERERS.get(cmd, generic)(result)
