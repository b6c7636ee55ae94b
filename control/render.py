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
    return str(value).replace("\n", " ")


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


def status(result: Mapping[str, Any]) -> str:
    accounts = result.get("accounts") or []
    if not accounts:
        return "no accounts; add one with: python run.py ctl add <account-id> --cookie-file <file>"
    headers = ["ACCOUNT", "USER", "STATE", "ENABLED", "VERSION", "ONLINE SINCE"]
    headers += ["RESTARTS", "RECONNECTS", "RECEIVED", "REPLIED", "LAST ERROR"]
    rows = [
        [
            a.get("id"),
            a.get("user_id"),
            a.get("state"),
            a.get("enabled"),
            f"{a.get('cookie_version')}{' (unsaved)' if a.get('unsaved') else ''}",
            _moment(a.get("online_since")) if a.get("online_since") else None,
            a.get("restarts"),
            a.get("reconnects"),
            a.get("received"),
            a.get("replied"),
            a.get("last_error"),
        ]
        for a in accounts
    ]
    return table(headers, rows)


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


def ping(result: Mapping[str, Any]) -> str:
    return f"service {result.get('version')} up {result.get('uptime_s', 0):.1f}s"


def account(result: Mapping[str, Any]) -> str:
    fields = result.get("account")
    if not isinstance(fields, Mapping):
        return generic(result)
    return "\n".join(f"{k}: {_cell(v)}" for k, v in fields.items())


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
    "set_rules": rules,
    "set": account,
    "notify_test": notify_test,
}


def render(cmd: str, result: Mapping[str, Any]) -> str:
    return RENDERERS.get(cmd, generic)(result)
