"""One asyncio event loop, on one thread, shared by every connection and timer.

Actors are threads and handle messages serially; socket I/O must not block them.
All WebSocket and HTTP I/O runs here instead, and results reach actors through
``ActorRef.tell``. Timers (reconnect back-off, supervisor deadlines) also live here,
so a thousand accounts cost one thread for I/O rather than a thousand.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from common.errors import NotRunningError

T = TypeVar("T")


class IoLoop:
    """An asyncio loop running on a daemon thread, safe to use from any thread."""

    def __init__(self, name: str = "goofish-io") -> None:
        self._name = name
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._started = threading.Event()
        # calls from other threads wait here; one loop wake-up runs all that queued meanwhile
        self._inbox: collections.deque[tuple[Callable[..., Any], tuple[Any, ...]]] = (
            collections.deque()
        )
        self._wake_pending = False

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
        try:
            return asyncio.run_coroutine_threadsafe(coro, self._loop)
        except RuntimeError:
            coro.close()  # the loop is closed: it will never run, so it must not warn either
            raise

    def call_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        """Call ``fn(*args)`` on the loop, in call order; raises NotRunningError once it is closed.

        Calls made while a wake-up is already pending ride along with it: a loop wake-up
        (a syscall on both sides, and a thread switch) per burst instead of per call.
        """
        if self._loop.is_closed():
            raise NotRunningError("the I/O loop is closed")
        if threading.current_thread() is self._thread:
            # from the loop itself (an account handled on the loop): no wake-up to write
            self._loop.call_soon(fn, *args)
            return
        self._inbox.append((fn, args))
        if not self._wake_pending:
            self._wake_pending = True
            self._loop.call_soon_threadsafe(self._run_inbox)

    def _run_inbox(self) -> None:
        # cleared before draining: a call queued after this line schedules its own wake-up,
        # one queued before it is drained below
        self._wake_pending = False
        inbox = self._inbox
        while inbox:
            fn, args = inbox.popleft()
            try:
                fn(*args)
            # survival boundary: one failing callback must not drop the rest of the burst;
            # the loop's exception handler logs it with its traceback, as asyncio would
            except Exception as exc:  # noqa: BLE001
                self._loop.call_exception_handler(
                    {"message": f"Exception in callback {fn!r}", "exception": exc}
                )

    def batched(self, deliver: Callable[[list[T]], None]) -> Callable[[T], None]:
        """A sink that hands what it gets during one loop iteration to ``deliver`` at once.

        Items put on the loop thread are collected and delivered (in order, as one list)
        once the callbacks already due have run; from any other thread an item is delivered
        at once, alone. For many small reports to another thread: one hand-off per burst.
        """
        pending: list[T] = []

        def flush() -> None:
            items = pending[:]
            pending.clear()
            deliver(items)

        def put(item: T) -> None:
            if not self.in_loop_thread():
                deliver([item])
                return
            if not pending:
                self._loop.call_soon(flush)
            pending.append(item)

        return put

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
