"""TokenClient over real HTTP against a small mtop server on 127.0.0.1 (section 2)."""

import asyncio
import contextlib
import hashlib
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

from goofish import Cookie
from goofish.token import TokenClient, TokenOutcome

UNB = "2202640918079"
DID = f"3F2A9C1B-7D4E-4A1B-9C3D-1A2B3C4D5E6F-{UNB}"
ENDPOINT = "/h5/mtop.taobao.idlemessage.pc.login.token/1.0/"
SERVER_TK = "feedfacefeedfacefeedfacefeedface"
STALE_TK = "0123456789abcdef0123456789abcdef"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def cookie(tk: str | None = STALE_TK) -> Cookie:
    parts = [f"unb={UNB}", "cookie2=SECRET"]
    if tk is not None:
        parts.append(f"_m_h5_tk={tk}_1751446438481")
    return Cookie.parse("; ".join(parts))


class FakeMtop:
    """Checks the sign like the real API; stale ``_m_h5_tk`` → EXOIRED plus a fresh one."""

    def __init__(self) -> None:
        self.calls: list[dict] = []
        self.forced: dict | None = None  # answer this instead of the normal flow
        self.release = asyncio.Event()
        self.hang = False

    async def handle(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        data = form["data"]
        query = request.query
        tk = Cookie.parse(request.headers["Cookie"]).mtop_token
        expected = hashlib.md5(f"{tk}&{query['t']}&34839810&{data}".encode()).hexdigest()
        self.calls.append(
            {
                "query": request.raw_path.partition("?")[2],
                "data": data,
                "sign_ok": query["sign"] == expected,
            }
        )
        if self.hang:
            await self.release.wait()
        if query["sign"] != expected:
            return web.json_response({"ret": ["FAIL_SYS_ILLEGAL_SIGN::非法签名"], "data": {}})
        if self.forced is not None:
            return web.json_response(self.forced)
        if tk != SERVER_TK:
            answer = web.json_response({"ret": ["FAIL_SYS_TOKEN_EXOIRED::令牌过期"], "data": {}})
            answer.headers.add("Set-Cookie", f"_m_h5_tk={SERVER_TK}_1751449999999; Path=/")
            answer.headers.add("Set-Cookie", "_m_h5_tk_enc=fresh-enc; Path=/")
            return answer
        device = json.loads(data)["deviceId"]
        answer = web.json_response(
            {"ret": ["SUCCESS::调用成功"], "data": {"accessToken": f"AT-{device}"}}
        )
        answer.headers.add("Set-Cookie", "x5sec=bonus; Path=/")
        return answer


@contextlib.asynccontextmanager
async def serving(handler: Handler) -> AsyncIterator[str]:
    """Serve ``handler`` at the token endpoint on a free 127.0.0.1 port; yield the api_url."""
    app = web.Application()
    app.router.add_post(ENDPOINT, handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}/h5/"
    finally:
        await runner.cleanup()


async def fetch_from(api_url: str, *, the_cookie: Cookie, timeout_s: float = 5.0) -> TokenOutcome:
    client = TokenClient(api_url, timeout_s=timeout_s, retry_delay_s=0)
    try:
        return await client.fetch(the_cookie, DID)
    finally:
        await client.close()


def fetch_via(handler: Handler, *, the_cookie: Cookie, timeout_s: float = 5.0) -> TokenOutcome:
    async def main() -> TokenOutcome:
        async with serving(handler) as api_url:
            return await fetch_from(api_url, the_cookie=the_cookie, timeout_s=timeout_s)

    return asyncio.run(main())


def run(mtop: FakeMtop, *, the_cookie: Cookie, timeout_s: float = 5.0) -> TokenOutcome:
    async def main() -> TokenOutcome:
        async with serving(mtop.handle) as api_url:
            try:
                return await fetch_from(api_url, the_cookie=the_cookie, timeout_s=timeout_s)
            finally:
                # A hanging handler must finish before the server can shut down.
                mtop.release.set()

    return asyncio.run(main())


def test_fresh_cookie_gets_a_token_bound_to_the_did_and_merges_set_cookie():
    mtop = FakeMtop()
    outcome = run(mtop, the_cookie=cookie(SERVER_TK))
    assert outcome.result.kind == "success"
    assert outcome.result.token == f"AT-{DID}"
    assert outcome.cookie.get("x5sec") == "bonus"
    assert [call["sign_ok"] for call in mtop.calls] == [True]


def test_query_string_goes_out_in_documented_order_without_double_encoding():
    mtop = FakeMtop()
    run(mtop, the_cookie=cookie(SERVER_TK))
    query = mtop.calls[0]["query"]
    assert query.startswith("jsv=2.7.2&appKey=34839810&t=")
    assert "&dangerouslySetWindvaneParams=%5Bobject%20Object%5D&" in query
    assert query.endswith("&log_id=4c053da6vYwnmf")
    assert mtop.calls[0]["data"] == (
        '{"appKey":"444e9908a51d1cb236a27862abc769c9","deviceId":"' + DID + '"}'
    )


def test_stale_token_is_retried_once_with_the_merged_cookie():
    mtop = FakeMtop()
    original = cookie(STALE_TK)
    outcome = run(mtop, the_cookie=original)
    assert outcome.result.kind == "success"
    assert len(mtop.calls) == 2
    assert all(call["sign_ok"] for call in mtop.calls)
    assert outcome.cookie.mtop_token == SERVER_TK
    assert outcome.cookie.get("_m_h5_tk_enc") == "fresh-enc"
    assert outcome.cookie != original


def test_missing_m_h5_tk_is_signed_empty_and_recovered_by_the_retry():
    mtop = FakeMtop()
    outcome = run(mtop, the_cookie=cookie(None))
    assert outcome.result.kind == "success"
    assert len(mtop.calls) == 2


def test_token_expired_twice_gives_up_after_exactly_one_retry():
    mtop = FakeMtop()
    mtop.forced = {"ret": ["FAIL_SYS_TOKEN_EXOIRED::令牌过期"], "data": {}}
    outcome = run(mtop, the_cookie=cookie(SERVER_TK))
    assert outcome.result.kind == "token_expired"
    assert len(mtop.calls) == 2


def test_session_expired_is_not_retried():
    mtop = FakeMtop()
    mtop.forced = {"ret": ["FAIL_SYS_SESSION_EXPIRED::Session过期"], "data": {}}
    outcome = run(mtop, the_cookie=cookie(SERVER_TK))
    assert outcome.result.kind == "session_expired"
    assert len(mtop.calls) == 1


def test_risk_control_returns_the_punish_url():
    mtop = FakeMtop()
    url = "https://h5api.m.goofish.com//h5/x/_____tmd_____/punish?x5secdata=1&action=captcha"
    mtop.forced = {"ret": ["FAIL_SYS_USER_VALIDATE", "RGV587_ERROR::SM::x"], "data": {"url": url}}
    outcome = run(mtop, the_cookie=cookie(SERVER_TK))
    assert (outcome.result.kind, outcome.result.punish_url) == ("risk_control", url)


def test_timeout_is_a_network_error_result():
    mtop = FakeMtop()
    mtop.hang = True
    outcome = run(mtop, the_cookie=cookie(SERVER_TK), timeout_s=0.05)
    assert (outcome.result.kind, outcome.result.network) == ("error", True)
    assert "timed out" in outcome.result.message
    assert outcome.cookie == cookie(SERVER_TK)


def test_refused_connection_is_a_network_error_result():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    outcome = asyncio.run(fetch_from(f"http://127.0.0.1:{port}/h5/", the_cookie=cookie()))
    assert (outcome.result.kind, outcome.result.network) == ("error", True)
    assert "SECRET" not in outcome.result.message


def test_non_json_answer_is_an_error_but_not_a_network_error():
    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=502, text="<html>bad gateway</html>")

    outcome = fetch_via(handler, the_cookie=cookie())
    assert (outcome.result.kind, outcome.result.network) == ("error", False)
    assert "502" in outcome.result.message


def test_server_deleting_unb_means_session_expired():
    async def handler(request: web.Request) -> web.Response:
        answer = web.json_response({"ret": ["FAIL_SYS_X::y"], "data": {}})
        answer.headers.add("Set-Cookie", "unb=; Max-Age=0")
        return answer

    outcome = fetch_via(handler, the_cookie=cookie())
    assert outcome.result.kind == "session_expired"
    assert outcome.cookie.unb == UNB
