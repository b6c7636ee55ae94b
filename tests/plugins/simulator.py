"""Fixtures that run the Goofish simulator in-process, and a raw client for simulator tests.

``sim``: a running simulator (default knobs) with ``sim.admin`` (an ``AdminClient``),
stopped after the test; ``sim_either_arbitration``: the same under ``sessions_per_seller`` 1
and 2. ``start_sim(**knobs)``: the same with knob overrides.
``new_seller(sim, nick=...)``: a fresh seller login (``Seller(user_id, cookie)``); ``seller``:
one, nick ``shop``, in ``sim``; ``second_login(sim, seller)``: another valid session of it.

``RawClient`` speaks the protocol from the fact sheet with only ``urllib``, ``hashlib``,
``msgpack`` and ``websockets``: it checks the simulator without the project's own client.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import random
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import msgpack
import pytest
from websockets.asyncio.client import ClientConnection, connect

from simulator.server import Simulator, SimulatorHandle
from tests.plugins.timing import scaled

IM_APP_KEY = "444e9908a51d1cb236a27862abc769c9"
MTOP_APP_KEY = "34839810"
TOKEN_PATH = "mtop.taobao.idlemessage.pc.login.token/1.0/"
WAIT_S = scaled(5.0)


@pytest.fixture
def start_sim() -> Iterator[Callable[..., SimulatorHandle]]:
    handles: list[SimulatorHandle] = []

    def start(**knobs: Any) -> SimulatorHandle:
        handle = Simulator(**knobs).start_in_thread()
        handles.append(handle)
        return handle

    yield start
    for handle in handles:
        handle.stop()


@pytest.fixture
def sim(start_sim: Callable[..., SimulatorHandle]) -> SimulatorHandle:
    return start_sim()


@pytest.fixture(params=[1, 2], ids=lambda n: f"sessions_per_seller={n}")
def sim_either_arbitration(
    request: pytest.FixtureRequest, start_sim: Callable[..., SimulatorHandle]
) -> SimulatorHandle:
    """``sim`` under both session arbitrations (knob ``sessions_per_seller``): 1, a new /reg
    closes the seller's previous connection; 2, both stay registered and get every push (a
    multi-device login), so closing the old one is the client's job. A test module opts in
    with ``sim = sim_either_arbitration``."""
    return start_sim(sessions_per_seller=request.param)


@dataclass(frozen=True)
class Seller:
    user_id: str
    cookie: str = field(repr=False)  # a secret, even in a failing test's output


def new_seller(sim: SimulatorHandle, nick: str | None = None, user_id: str | None = None) -> Seller:
    """A new login session for a (new) seller on ``sim``."""
    answer = sim.admin.create_user(user_id=user_id, nick=nick)
    return Seller(answer["user_id"], answer["cookie"])


@pytest.fixture
def seller(sim: SimulatorHandle) -> Seller:
    return new_seller(sim, nick="shop")


def second_login(sim: SimulatorHandle, seller: Seller) -> str:
    """Another valid login session (cookie) of the same seller."""
    return sim.admin.create_user(user_id=seller.user_id)["cookie"]


# ---- raw protocol helpers (independent of goofish/) ------------------------------------------


def cookie_get(cookie: str, name: str) -> str:
    for pair in cookie.split(";"):
        key, _, value = pair.strip().partition("=")
        if key == name:
            return value
    return ""


def cookie_merge(cookie: str, set_cookies: list[str]) -> str:
    pairs = dict(p.strip().partition("=")[::2] for p in cookie.split(";") if "=" in p)
    for header in set_cookies:
        key, _, value = header.split(";")[0].partition("=")
        pairs[key.strip()] = value.strip()
    return "; ".join(f"{k}={v}" for k, v in pairs.items())


def make_did(unb: str) -> str:
    return f"3F2A9C1B-7D4E-4A1B-9C3D-{random.randrange(16**12):012X}-{unb}"


def fetch_token(
    api_url: str, cookie: str, did: str, *, bad_sign: bool = False
) -> tuple[dict[str, Any], list[str]]:
    """One token call as the fact sheet describes it; returns (payload, Set-Cookie values)."""
    t = str(int(time.time() * 1000))
    data = json.dumps({"appKey": IM_APP_KEY, "deviceId": did}, separators=(",", ":"))
    tk = cookie_get(cookie, "_m_h5_tk").split("_")[0]
    sign = hashlib.md5(f"{tk}&{t}&{MTOP_APP_KEY}&{data}".encode()).hexdigest()
    if bad_sign:
        sign = "0" * 32
    query = urllib.parse.urlencode(
        {
            "jsv": "2.7.2",
            "appKey": MTOP_APP_KEY,
            "t": t,
            "sign": sign,
            "v": "1.0",
            "type": "originaljson",
            "accountSite": "xianyu",
            "dataType": "json",
            "timeout": "20000",
            "api": "mtop.taobao.idlemessage.pc.login.token",
            "sessionOption": "AutoLoginOnly",
        }
    )
    request = urllib.request.Request(
        f"{api_url}{TOKEN_PATH}?{query}",
        data=urllib.parse.urlencode({"data": data}).encode(),
        headers={"cookie": cookie, "content-type": "application/x-www-form-urlencoded"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=WAIT_S) as response:
        return json.loads(response.read()), response.headers.get_all("Set-Cookie") or []


def fetch_token_retrying(api_url: str, cookie: str, did: str) -> tuple[str, str]:
    """Token with one retry after a Set-Cookie rotation; returns (token, merged cookie)."""
    for _ in range(2):
        payload, set_cookies = fetch_token(api_url, cookie, did)
        cookie = cookie_merge(cookie, set_cookies)
        if any("SUCCESS" in r for r in payload["ret"]):
            return payload["data"]["accessToken"], cookie
    raise AssertionError(f"no token: {payload['ret']}")


def decode_item(item: dict[str, Any]) -> Any:
    """base64 → JSON (vulcan) or int-keyed MessagePack."""
    raw = base64.b64decode(item["data"])
    try:
        return json.loads(raw)
    except ValueError:
        return msgpack.unpackb(raw, strict_map_key=False, raw=False)


_mids = iter(range(10**6))


def new_mid() -> str:
    return f"{next(_mids)}{int(time.time() * 1000)} 0"


class RawClient:
    """A WebSocket client that separates responses (by mid) from pushes."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.pushes: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._reader = asyncio.get_running_loop().create_task(self._read())
        self.closed = asyncio.get_running_loop().create_future()

    @classmethod
    async def open(cls, ws_url: str, cookie: str | None = None, **kwargs: Any) -> RawClient:
        headers = {"Cookie": cookie} if cookie else None
        ws = await connect(ws_url, additional_headers=headers, open_timeout=WAIT_S, **kwargs)
        return cls(ws)

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                frame = json.loads(raw)
                mid = frame.get("headers", {}).get("mid")
                if "lwp" not in frame and mid in self._waiting:
                    self._waiting.pop(mid).set_result(frame)
                else:
                    await self.pushes.put(frame)
        # the test inspects how the connection ended, whatever ended it
        except Exception as exc:  # noqa: BLE001
            self.closed.set_result(exc)
        else:
            self.closed.set_result(None)

    async def request(
        self, lwp: str, body: Any = None, *, headers: dict[str, str] | None = None
    ) -> dict[str, Any]:
        mid = new_mid()
        frame: dict[str, Any] = {"lwp": lwp, "headers": {"mid": mid, **(headers or {})}}
        if body is not None:
            frame["body"] = body
        future = asyncio.get_running_loop().create_future()
        self._waiting[mid] = future
        await self.ws.send(json.dumps(frame))
        return await asyncio.wait_for(future, WAIT_S)

    async def register(self, token: str, did: str) -> dict[str, Any]:
        headers = {
            "cache-header": "app-key token ua wv",
            "app-key": IM_APP_KEY,
            "token": token,
            "ua": "raw-test-client",
            "dt": "j",
            "wv": "im:3,au:3,sy:6",
            "sync": "0,0;0;0;",
            "did": did,
        }
        return await self.request("/reg", headers=headers)

    async def next_push(
        self, lwp: str | None = "/s/sync", timeout: float = WAIT_S
    ) -> dict[str, Any]:
        """The next push (skipping other lwp kinds when ``lwp`` is given); ACKs it."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            frame = await asyncio.wait_for(self.pushes.get(), max(remaining, 0.001))
            await self.ack(frame)
            if lwp is None or frame.get("lwp") == lwp:
                return frame

    async def ack(self, frame: dict[str, Any]) -> None:
        headers = frame.get("headers", {})
        ack = {"code": 200, "headers": {"mid": headers.get("mid"), "sid": headers.get("sid", "")}}
        await self.ws.send(json.dumps(ack))

    async def send_text(self, cid: str, peer: str, me: str, text: str) -> dict[str, Any]:
        content = json.dumps({"contentType": 1, "text": {"text": text}})
        body = [
            {
                "uuid": f"-{int(time.time() * 1000)}1",
                "cid": f"{cid}@goofish",
                "conversationType": 1,
                "content": {
                    "contentType": 101,
                    "custom": {"type": 1, "data": base64.b64encode(content.encode()).decode()},
                },
                "redPointPolicy": 0,
                "extension": {"extJson": "{}"},
                "ctx": {"appVersion": "1.0", "platform": "web"},
                "mtags": {},
                "msgReadStatusSetting": 1,
            },
            {"actualReceivers": [f"{peer}@goofish", f"{me}@goofish"]},
        ]
        return await self.request("/r/MessageSend/sendByReceiverScope", body)

    async def close(self) -> None:
        await self.ws.close()
        await self._reader


async def online(sim: SimulatorHandle, seller: Seller) -> RawClient:
    """Token, connect, /reg, and swallow the /s/vulcan batch: a registered raw client."""
    did = make_did(seller.user_id)
    token, cookie = await asyncio.to_thread(fetch_token_retrying, sim.api_url, seller.cookie, did)
    client = await RawClient.open(sim.ws_url, cookie)
    reply = await client.register(token, did)
    assert reply["code"] == 200, reply
    await client.next_push("/s/vulcan")
    return client
