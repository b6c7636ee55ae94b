"""The audit log: what happened to which account, with structured data, newest first."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from common.redact import redact_text, redact_value
from storage.clock import from_ms, now_ms, to_ms
from storage.core import StoreCore
from storage.records import EventRecord

# written out as SQL like the other per-message statements (see ``storage.delivery``)
_INSERT = "INSERT INTO event (at_ms, account_id, kind, data) VALUES (?, ?, ?, ?)"


def _redacted_str(value: object) -> str:
    return redact_text(str(value))


class EventOps(StoreCore):
    def record_event(self, kind: str, account_id: str | None = None, **data: Any) -> EventRecord:
        """Append an event; ``data`` must be JSON-able (anything else is stored as its str).

        Every text in ``data`` is redacted first (``common.redact``): an exception's message
        that quoted a cookie must not end up in the audit log, which ``ctl events`` prints.
        """
        at = now_ms()
        text = json.dumps(
            redact_value(data), default=_redacted_str, ensure_ascii=False, sort_keys=True
        )
        with self._locked(f"recording event {kind!r}"):
            self._execute(_INSERT, (at, account_id, kind, text))
        return EventRecord(at=from_ms(at), account_id=account_id, kind=kind, data=json.loads(text))

    def events(
        self,
        account_id: str | None = None,
        limit: int = 100,
        since: datetime | float | None = None,
    ) -> list[EventRecord]:
        """The newest ``limit`` events (of one account, or all), **newest first**.

        ``since`` (datetime or epoch seconds) keeps only events at or after that moment.
        """
        with self._locked("reading events") as m:
            query = m.Event.select()
            if account_id is not None:
                query = query.where(m.Event.account_id == account_id)
            if since is not None:
                query = query.where(m.Event.at_ms >= to_ms(since))
            rows = list(query.order_by(m.Event.id.desc()).limit(limit))
        return [
            EventRecord(
                at=from_ms(row.at_ms),
                account_id=row.account_id,
                kind=row.kind,
                data=json.loads(row.data),
            )
            for row in rows
        ]
