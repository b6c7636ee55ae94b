"""``Listener``: PostgreSQL ``LISTEN`` on a connection of its own, for cluster wake-ups.

A NOTIFY only shortens a wait: every node also polls (each ``lease_renew_s``), so a missed
notification (the connection was down when it was sent) costs a poll interval, never
correctness. That is why the Listener never raises a driver error: a broken connection is
closed, logged once per outage, and reopened (and the channels LISTENed again) on the next
``wait``.

Thread safety: one thread calls ``wait``; ``close`` may come from another, and wakes that
``wait`` at once through a self-pipe (closing a socket under ``select`` wakes nothing).
"""

from __future__ import annotations

import os
import select
import threading
import time
from collections.abc import Iterable
from contextlib import suppress
from typing import Any

# imported only in cluster mode (by whoever builds a Listener): a SQLite-only install
# may lack the driver
import psycopg2  # type: ignore[import-untyped]
import structlog

from storage.engine import describe

log = structlog.get_logger(__name__)

CONNECT_TIMEOUT_S = 5
# while the database is unreachable, one connection attempt per this many seconds at most,
# however short the waits
RETRY_S = 1.0


class Listener:
    """Receives the notifications of ``channels`` sent on the database at ``url``."""

    def __init__(self, url: str, channels: Iterable[str]) -> None:
        self._url = url
        self._channels = tuple(dict.fromkeys(channels))
        self._conn: Any = None  # a psycopg2 connection (the driver ships no types)
        self._lock = threading.Lock()  # guards _conn and _closed against close()
        self._closed = False
        self._outage = False  # a warning was logged for the current outage
        self._retry_at = 0.0  # monotonic: no connection attempt before this
        self._wake_r, self._wake_w = os.pipe()

    def wait(self, timeout_s: float) -> list[tuple[str, str]]:
        """The notifications that arrive within ``timeout_s`` as ``(channel, payload)``,
        oldest first; [] on timeout, after ``close`` or while the database is unreachable."""
        conn = self._connection()
        if conn is None:
            # unreachable or closed: wait out the timeout (close() ends it early)
            select.select([self._wake_r], [], [], timeout_s)
            return []
        try:
            ready, _, _ = select.select([conn, self._wake_r], [], [], timeout_s)
            if conn not in ready:
                return []
            conn.poll()
            notes = [(note.channel, note.payload) for note in conn.notifies]
            conn.notifies.clear()
        except (OSError, ValueError, psycopg2.Error) as exc:
            self._broken(conn, exc)
            return []
        return notes

    def close(self) -> None:
        """Stop listening; a ``wait`` in progress returns [] at once. Safe to call twice."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            conn, self._conn = self._conn, None
        os.write(self._wake_w, b"x")
        if conn is not None:
            _quietly_close(conn)

    # --- the connection ---------------------------------------------------------------------

    def _connection(self) -> Any:
        with self._lock:
            if self._closed:
                return None
            if self._conn is not None:
                return self._conn
        if time.monotonic() < self._retry_at:
            return None
        try:
            conn = psycopg2.connect(self._url, connect_timeout=CONNECT_TIMEOUT_S)
            conn.autocommit = True
            with conn.cursor() as cur:
                for channel in self._channels:
                    cur.execute(f'LISTEN "{channel}"')
        except (OSError, psycopg2.Error) as exc:
            self._retry_at = time.monotonic() + RETRY_S
            self._report_outage(exc)
            return None
        with self._lock:
            if self._closed:
                _quietly_close(conn)
                return None
            self._conn = conn
        if self._outage:
            self._outage = False
            log.info("listener_reconnected", database=describe(self._url))
        return conn

    def _broken(self, conn: Any, exc: BaseException) -> None:
        with self._lock:
            if self._conn is conn:
                self._conn = None
            closed = self._closed
        _quietly_close(conn)
        if not closed:
            self._report_outage(exc)

    def _report_outage(self, exc: BaseException) -> None:
        if self._outage:
            return
        self._outage = True
        log.warning(
            "listener_connection_lost",
            database=describe(self._url),
            error=" ".join(str(exc).split()) or type(exc).__name__,
            hint="wake-ups fall back to polling until the database is back",
        )

    def __del__(self) -> None:
        # not in close(): a wait() on another thread may still be selecting on the pipe
        for fd in (self._wake_r, self._wake_w):
            with suppress(OSError):
                os.close(fd)


def _quietly_close(conn: Any) -> None:
    with suppress(psycopg2.Error, OSError):
        conn.close()
