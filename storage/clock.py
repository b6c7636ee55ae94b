"""Time as the database stores it: integer epoch milliseconds, UTC.

Integers compare and index the same way on SQLite and PostgreSQL, and never lose the
time zone the way SQLite's text datetimes do. Callers see aware UTC datetimes.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from common.errors import InvalidValueError


def now_ms() -> int:
    """The current wall-clock time in epoch milliseconds."""
    return time.time_ns() // 1_000_000


def to_ms(moment: datetime | float) -> int:
    """Epoch milliseconds of a datetime (naive means UTC) or of epoch seconds."""
    if isinstance(moment, datetime):
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return round(moment.timestamp() * 1000)
    try:
        return round(float(moment) * 1000)
    except (TypeError, ValueError) as exc:
        raise InvalidValueError("a moment", "a datetime or epoch seconds", value=moment) from exc


def from_ms(ms: int) -> datetime:
    """An aware UTC datetime from epoch milliseconds."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC)
