"""One asyncio event loop, on one thread, shared by every connection and timer.

Actors are threads and handle messages serially; socket I/O must not block them.
All WebSocket and HTTP I/O runs here instead, and results reach actors through
``ActorRef.tell``. Timers (reconnect back-off, supervisor deadlines) also live here,
so a thousand accounts cost one thread for I/O rather than a thousand.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class IoLoop:
    """An asyncio loop running on a daemon thread, safe to use from any thread."""

    def __init__(self, name: str = "goofish-io") -> None:
        self._name = name
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._started = threading.Event()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def start(self) -> IoLoop:
        self._thread.start()
        self._started.wait(timeout=5)
        return self

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.call_soon(self._started.set)
        self._loop.run_forever()

    def in_loop_thread(self) -> bool:
        return threading.current_thread() is self._thread

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Run ``coro`` on the loop; the returned future may be waited on from another thread."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def call_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        self._loop.call_soon_threadsafe(fn, *args)

    def call_later(self, delay: float, fn: Callable[..., Any], *args: Any) -> Callable[[], None]:
        """Call ``fn(*args)`` on the loop after ``delay`` seconds; returns a cancel function."""
        holder: list[asyncio.TimerHandle] = []
        cancelled = threading.Event()

        def arm() -> None:
            if not cancelled.is_set():
                holder.append(self._loop.call_later(delay, fn, *args))

        def cancel() -> None:
            cancelled.set()
            if holder:
                self._loop.call_soon_threadsafe(holder[0].cancel)

        self._loop.call_soon_threadsafe(arm)
        return cancel

    def stop(self, *, timeout: float = 5.0) -> None:
        """Cancel what is still running and stop the loop thread."""
        if not self._thread.is_alive():
            return

        async def _cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        with contextlib.suppress(concurrent.futures.TimeoutError, RuntimeError):
            self.submit(_cancel_all()).result(timeout=timeout)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=timeout)
