"""The sessions of one account generation not let go yet, by id.

The actor thread adds and retires them; the fence's closer (on the supervisor's thread) cuts
them all, hence the lock.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import inspect
import threading

from actors.session import Session
from common.io_loop import IoLoop


class SessionPool:
    def __init__(self) -> None:
        self._sessions: dict[int, Session] = {}
        self._lock = threading.Lock()

    def add(self, session: Session) -> None:
        with self._lock:
            self._sessions[session.session_id] = session

    def get(self, session_id: int | None) -> Session | None:
        if session_id is None:
            return None
        with self._lock:
            return self._sessions.get(session_id)

    def forget(self, session_id: int) -> Session | None:
        """Drop it from the pool (it ended, or is being let go); returns it if it was here."""
        with self._lock:
            return self._sessions.pop(session_id, None)

    def retire(self, session_id: int, *, abort: bool) -> Session | None:
        """Let it go: cut it (``abort``) or close it politely; returns it if it was here."""
        session = self.forget(session_id)
        if session is not None:
            if abort:
                session.abort()
            else:
                session.close()
        return session

    def abort_all(self) -> None:
        """Cut every connection now (thread-safe: the fence's closer)."""
        with self._lock:
            sessions = list(self._sessions.values())
        for session in sessions:
            session.abort()

    def close_all(self, io: IoLoop, *, timeout: float) -> None:
        """Close every session and wait up to ``timeout`` for them to be closed."""
        with self._lock:
            sessions = list(self._sessions.values())
            self._sessions.clear()
        for session in sessions:
            session.close()

        async def all_closed() -> None:
            # the gather is built inside, on the loop: nothing exists to warn about if it never runs
            await asyncio.wait_for(asyncio.gather(*(s.wait_closed() for s in sessions)), timeout)

        if sessions:
            # the loop may be shutting down under us (service stop): closing is best effort
            waiting = all_closed()
            with contextlib.suppress(
                concurrent.futures.TimeoutError, concurrent.futures.CancelledError, RuntimeError
            ):
                io.submit(waiting).result(timeout + 1)
            if inspect.getcoroutinestate(waiting) == inspect.CORO_CREATED:
                # the loop stopped before it ran the wait: close it here, or the interpreter
                # warns that a coroutine was never awaited (pytest makes that an error)
                waiting.close()
