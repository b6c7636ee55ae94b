"""``GET /live``: the live updates of one page as Server-Sent Events.

Each poll's news is one ``change`` event: ``{"rows": [{"id", "state", "html"}], "removed":
[ids], "counts": {state: n}, "events": [{"account", "kind", "html"}]}``, the HTML rendered
in the page's language by the same macros as the page. ``account`` and ``kind`` narrow it
to what the page shows. A page that falls behind gets ``reload``. A comment line every
``keepalive_s`` keeps proxies and the browser from timing the stream out.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from web.live import OVERFLOW, Change, Live
from web.views import Fragments

KEEPALIVE_S = 15.0


def message(event: str, data: Mapping[str, Any]) -> bytes:
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return f"event: {event}\ndata: {text}\n\n".encode()


def shape(
    change: Change, fragments: Fragments, lang: str, account: str | None, kind: str | None
) -> dict[str, Any] | None:
    """What of ``change`` one page shows, rendered; None when nothing."""

    def html(what: str, index: int, item: Mapping[str, Any]) -> str:
        key = (lang, what, index)
        if key not in change.rendered:
            render = fragments.row if what == "row" else fragments.event
            change.rendered[key] = render(lang, item)
        return change.rendered[key]

    rows = [
        {"id": r["id"], "state": r.get("state"), "html": html("row", i, r)}
        for i, r in enumerate(change.rows)
        if account is None or r["id"] == account
    ]
    removed = [a for a in change.removed if account is None or a == account]
    events = [
        {"account": e.get("account"), "kind": e["kind"], "html": html("event", i, e)}
        for i, e in enumerate(change.events)
        if (account is None or e.get("account") == account) and (kind is None or e["kind"] == kind)
    ]
    if not (rows or removed or events) and account is not None:
        return None
    return {"rows": rows, "removed": removed, "counts": dict(change.counts), "events": events}


def encoded(
    change: Change, fragments: Fragments, lang: str, account: str | None, kind: str | None
) -> bytes | None:
    """The ``change`` message for a page showing (``lang``, ``account``, ``kind``), built once
    per change for every page that shows the same (five fleet pages: one rendering, one JSON)."""
    key = (lang, account, kind)
    if key not in change.encoded:
        data = shape(change, fragments, lang, account, kind)
        change.encoded[key] = None if data is None else message("change", data)
    return change.encoded[key]


async def stream(
    request: web.Request,
    live: Live,
    fragments: Fragments,
    lang: str,
    *,
    keepalive_s: float = KEEPALIVE_S,
) -> web.StreamResponse:
    account = request.query.get("account") or None
    kind = request.query.get("kind") or None
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",
        }
    )
    await response.prepare(request)
    listener = live.listen()
    try:
        await response.write(b"retry: 2000\n: live\n\n")
        while True:
            try:
                change = await asyncio.wait_for(listener.queue.get(), timeout=keepalive_s)
            except TimeoutError:
                await response.write(b": keep-alive\n\n")
                continue
            if change is OVERFLOW:
                await response.write(message("reload", {}))
                break
            payload = encoded(change, fragments, lang, account, kind)
            if payload is not None:
                await response.write(payload)
    except ConnectionResetError:
        return response  # the page went away
    finally:
        live.leave(listener)
    with contextlib.suppress(ConnectionResetError):
        await response.write_eof()
    return response
