"""Secrets by construction (issue 11 §7): a cookie never shows in a message's repr, websockets'
own DEBUG lines never carry the Cookie header or the ``/reg`` token, and an event never
stores a cookie quoted in an exception's text."""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from actors.events import CookieMerged
from actors.messages import AccountSpec, SwapCookie
from goofish.cookies import Cookie
from goofish.token import TokenResult, build_token_request
from service.logging import WEBSOCKETS_LOGGERS, configure_logging, reset_logging
from storage import Store
from storage.records import TokenRecord
from supervisor.machine import Candidate, TellSwap
from supervisor.requests import Add, Update
from tests.plugins.faults import cookie_secrets, world_secrets
from tests.plugins.simulator import Seller, online

COOKIE = "unb=2200000001; cookie2=c2secretvalue; _m_h5_tk=tk123456789_1700000000000"
SECRETS = ("c2secretvalue", "tk123456789")


@pytest.mark.parametrize(
    "message",
    [
        AccountSpec("shop", "2200000001", COOKIE, 3, 1),
        SwapCookie(op_id=7, cookie=COOKIE),
        Add("shop", cookie=COOKIE),
        Update("shop", cookie=COOKIE),
        Candidate(cookie=COOKIE, version=2, fingerprint="ab12cd34"),
        TellSwap(cookie=COOKIE),
        CookieMerged(1, COOKIE, COOKIE + "; x5sec=x5secretvalue"),
        build_token_request("http://127.0.0.1:1/h5", Cookie.parse(COOKIE), "did", now_ms=1),
        TokenResult("success", token="imtokensecretvalue"),
        TokenRecord("shop", "imtokensecretvalue", "did", datetime.now(UTC)),
    ],
    ids=lambda m: type(m).__name__,
)
def test_no_message_carrying_a_cookie_shows_it_in_repr(message: object) -> None:
    shown = repr(message) + str(message)
    assert type(message).__name__ in shown  # the repr is there, just without the value
    for secret in (*SECRETS, "x5secretvalue", "imtokensecretvalue"):
        assert secret not in shown


@pytest.fixture
def websockets_at_debug() -> Iterator[list[logging.LogRecord]]:
    """The service's logging, with websockets turned up to DEBUG; every record kept."""
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    keep = Keep(level=logging.DEBUG)
    configure_logging("json", stream=io.StringIO())
    levels = {name: logging.getLogger(name).level for name in WEBSOCKETS_LOGGERS}
    for name in WEBSOCKETS_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG)
    logging.getLogger().addHandler(keep)
    try:
        yield records
    finally:
        logging.getLogger().removeHandler(keep)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
        reset_logging()


def test_websockets_debug_lines_carry_neither_cookie_nor_reg_token(
    sim, seller: Seller, websockets_at_debug: list[logging.LogRecord]
) -> None:
    async def session() -> None:
        client = await online(sim, seller)  # real handshake with the Cookie header, real /reg
        await client.close()

    asyncio.run(session())

    lines = [
        (r.name, r.getMessage()) for r in websockets_at_debug if r.name.startswith("websockets")
    ]
    texts = [text for _, text in lines]
    # both ends narrated the handshake and the frames: the filter had something to do
    assert ("websockets.client", "> Cookie: <redacted>") in lines
    assert ("websockets.server", "< Cookie: <redacted>") in lines
    assert any(t.startswith("> TEXT <redacted /reg frame>") for t in texts)
    secrets = cookie_secrets(seller.cookie) | world_secrets(sim)
    assert secrets
    leaked = [t for t in texts if any(s in t for s in secrets)]
    assert not leaked


def test_an_exception_quoting_a_cookie_is_redacted_before_the_event_is_stored(
    sqlite_store: Store,
) -> None:
    error = ValueError(f"token call failed with cookie {COOKIE}")
    sqlite_store.record_event("failed", "shop", error=str(error), cause=error, nested=[COOKIE])
    (event,) = sqlite_store.events("shop")
    stored = repr(event.data)
    for secret in SECRETS:
        assert secret not in stored
    assert "cookie2=<redacted>" in event.data["error"]
    assert event.data["cause"].startswith("token call failed with cookie ")  # as its str
