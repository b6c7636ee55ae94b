"""The ORIGINAL project's start-up sequence as a ``Session``, for the side-by-side benchmark.

``bench/swap.py --strategy naive`` compares our make-before-break swap with the original's
restart (``XianyuLive.init``): send ``/reg``, sleep 1 s, send ackDiff with pts = now, and
only then look at ``/reg``'s answer; and no sync probe afterwards (the original had none).
Everything else (token, connect, heartbeat, token check, ACKs, requests, backfill) is the
production ``Session``'s. A re-creation for measuring, not production code: the service
never imports it; the naive account actor of the benchmark builds its sessions with it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from actors.session import Session, now_ms
from goofish import frames

# the original slept this long between sending /reg and sending ackDiff
REG_TO_ACK_DIFF_S = 1.0


class NaiveSession(Session):
    """A ``Session`` that registers as the original did and runs no sync probe."""

    async def _register(self, token: str) -> None:
        reg = frames.reg(token, self.plan.did)
        # the answer is awaited after the pause, and then for a full request timeout, as
        # the original's wait began only once ackDiff was out
        answer = await self._exchange.send_request(
            reg, timeout_s=REG_TO_ACK_DIFF_S + self._timings.request_timeout_s
        )
        await asyncio.sleep(REG_TO_ACK_DIFF_S)
        await self._exchange.send(frames.ack_diff(now_ms=now_ms()))
        self._accept_registration(await answer)

    def _background_tasks(self) -> list[Coroutine[Any, Any, None]]:
        return [self._heartbeat_loop(), self._token_refresh_loop()]
