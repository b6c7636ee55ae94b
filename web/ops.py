"""The page's one way into the service: the control socket's ``Dispatcher``, called with dicts.

Every page read and every action is a control command with the same validation, results,
events and error codes as ``python run.py ctl``; supervisor calls block (an ``update``
waits out its probation), so they run on daemon worker threads, never on the page's loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, Protocol

from control.workers import DaemonWorkers


class DispatcherLike(Protocol):
    """The part of ``control.Dispatcher`` the page uses."""

    def call(self, cmd: str, args: Mapping[str, Any]) -> dict[str, Any]: ...
    def knows(self, cmd: str) -> bool: ...


class Operations:
    def __init__(self, dispatcher: DispatcherLike, *, workers: int = 16) -> None:
        self._dispatcher = dispatcher
        self._workers = DaemonWorkers(workers, name="web-worker")

    async def call(self, cmd: str, args: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The control response ``{"ok", "result" | "error"}`` of ``cmd`` with ``args``."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._workers, self._dispatcher.call, cmd, dict(args or {})
        )

    async def result(self, cmd: str, args: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The result of a read that the page cannot show without; ``CommandFailed`` if refused."""
        answer = await self.call(cmd, args)
        if not answer.get("ok"):
            raise CommandFailed(answer["error"]["code"], answer["error"]["message"])
        result: dict[str, Any] = answer["result"]
        return result

    def knows(self, cmd: str) -> bool:
        return self._dispatcher.knows(cmd)

    def close(self, timeout: float = 5.0) -> None:
        self._workers.shutdown(wait=True, cancel_futures=True, timeout=timeout)


class CommandFailed(Exception):
    """A read the page needed was refused (inside the web package only; shown as a page)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return self.message
