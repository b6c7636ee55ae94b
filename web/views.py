"""The templates' environment and the pieces of HTML the live stream sends (rows, events).

The fleet row, the event row and an action's outcome are macros of ``templates/macros.html``:
the pages and the live stream render them with the same code, in the visitor's language.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2

from web.i18n import LANGUAGES, TEXTS, translator

TEMPLATES = Path(__file__).parent / "templates"
STATES = (
    "online",
    "starting",
    "reconnecting",
    "updating",
    "backoff",
    "needs_cookie",
    "failed",
    "stopped",
    "disabled",
    "unowned",
)


# the audit log's kinds (README, "Operating"), offered by the events page's filter
EVENT_KINDS = (
    "added",
    "removed",
    "enabled",
    "disabled",
    "update_applied",
    "update_rolled_back",
    "update_unchanged",
    "update_stored",
    "rollback_applied",
    "rollback_rolled_back",
    "rollback_stored",
    "restarted",
    "killed",
    "crashed",
    "failed",
    "needs_cookie",
    "pending_versions_failed",
    "operation_failed",
    "reply_refused",
    "trade_card",
    "lease_claimed",
    "lease_released",
    "lease_lost",
)


def moment(value: object) -> str:
    """ISO text or epoch seconds as ``YYYY-MM-DD HH:MM:SS`` (UTC), as the CLI shows it."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return value
        if parsed.tzinfo is not None:
            parsed = parsed.astimezone(UTC)
        return parsed.strftime("%Y-%m-%d %H:%M:%S")
    return "-"


def path_part(value: object) -> str:
    """``value`` quoted as one path segment (an account id may hold a ``/``)."""
    return quote(str(value), safe="")


def compact_json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


# the options of the templates' jinja2 environment (aiohttp_jinja2.setup passes them on)
ENVIRONMENT_OPTIONS: Mapping[str, Any] = {
    "autoescape": jinja2.select_autoescape(["html"]),
    "undefined": jinja2.StrictUndefined,
    "trim_blocks": True,
    "lstrip_blocks": True,
}


def loader() -> jinja2.BaseLoader:
    return jinja2.FileSystemLoader(TEMPLATES)


def configure(env: jinja2.Environment) -> jinja2.Environment:
    """Add the filters and globals the templates use."""
    env.filters["moment"] = moment
    env.filters["compact_json"] = compact_json
    env.filters["path_part"] = path_part
    env.globals["STATES"] = STATES
    env.globals["EVENT_KINDS"] = EVENT_KINDS
    env.globals["TEXT_KEYS"] = frozenset(TEXTS)
    return env


class Fragments:
    """The macros of ``macros.html`` bound to each language (one module per language)."""

    def __init__(self, env: jinja2.Environment) -> None:
        template = env.get_template("macros.html")
        self._modules = {lang: template.make_module({"t": translator(lang)}) for lang in LANGUAGES}

    def _macro(self, lang: str, name: str) -> Callable[..., Any]:
        macro: Callable[..., Any] = getattr(self._modules[lang], name)
        return macro

    def row(self, lang: str, account: Mapping[str, Any]) -> str:
        return str(self._macro(lang, "fleet_row")(account))

    def event(self, lang: str, event: Mapping[str, Any]) -> str:
        return str(self._macro(lang, "event_row")(event))

    def answer(self, lang: str, cmd: str, answer: Mapping[str, Any]) -> str:
        return str(self._macro(lang, "answer")(cmd, answer))
