"""Token request building and answer classification, pure (section 2)."""

import hashlib
from urllib.parse import parse_qs, parse_qsl, urlsplit

import pytest

from control.redact import redact_text
from goofish import Cookie
from goofish.token import build_token_request, classify_token_response, token_data

COOKIE = Cookie.parse(
    "cna=abc; unb=2202640918079; _m_h5_tk=0123456789abcdef0123456789abcdef_1751446438481; "
    "_m_h5_tk_enc=enc; cookie2=SECRET"
)
DID = "3F2A9C1B-7D4E-4A1B-9C3D-1A2B3C4D5E6F-2202640918079"
API = "https://h5api.m.goofish.com/h5/"
QUERY_ORDER = [
    "jsv",
    "appKey",
    "t",
    "sign",
    "v",
    "type",
    "accountSite",
    "dataType",
    "timeout",
    "api",
    "sessionOption",
    "dangerouslySetWindvaneParams",
    "smToken",
    "queryToken",
    "sm",
    "spm_cnt",
    "spm_pre",
    "log_id",
]
SUCCESS = {
    "api": "mtop.taobao.idlemessage.pc.login.token",
    "v": "1.0",
    "ret": ["SUCCESS::调用成功"],
    "data": {"accessToken": "oAT-opaque", "accessTokenExpiredTime": 86400000},
}
PUNISH = (
    "https://h5api.m.goofish.com:443//h5/mtop.taobao.idlemessage.pc.login.token/1.0/"
    "_____tmd_____/punish?x5secdata=xyz&x5step=2&action=captcha&pureCaptcha="
)
FRESH_TK = ["_m_h5_tk=feedfacefeedfacefeedfacefeedface_1751449999999; Path=/; Domain=goofish.com"]


def test_token_data_is_exact_compact_json_in_key_order():
    assert token_data(DID) == (
        '{"appKey":"444e9908a51d1cb236a27862abc769c9","deviceId":"' + DID + '"}'
    )


def test_request_url_is_token_endpoint_with_query_in_documented_order():
    request = build_token_request(API, COOKIE, DID, now_ms=1751446438481)
    parts = urlsplit(request.url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == (
        "https://h5api.m.goofish.com/h5/mtop.taobao.idlemessage.pc.login.token/1.0/"
    )
    query = parse_qsl(parts.query)
    assert [name for name, _ in query] == QUERY_ORDER
    values = dict(query)
    assert values["jsv"] == "2.7.2"
    assert values["appKey"] == "34839810"
    assert values["t"] == "1751446438481"
    assert values["api"] == "mtop.taobao.idlemessage.pc.login.token"
    assert values["dangerouslySetWindvaneParams"] == "[object Object]"
    assert "dangerouslySetWindvaneParams=%5Bobject%20Object%5D" in parts.query


def test_request_is_signed_with_cookie_token_t_app_key_and_exact_data():
    request = build_token_request(API, COOKIE, DID, now_ms=1751446438481)
    signed = f"0123456789abcdef0123456789abcdef&1751446438481&34839810&{request.data}"
    assert dict(parse_qsl(urlsplit(request.url).query))["sign"] == (
        hashlib.md5(signed.encode()).hexdigest()
    )
    assert parse_qs(request.body) == {"data": [request.data]}


def test_request_without_m_h5_tk_signs_with_empty_token():
    request = build_token_request(API, Cookie.parse("unb=1"), "D-1", now_ms=5)
    expected = hashlib.md5(f"&5&34839810&{token_data('D-1')}".encode()).hexdigest()
    assert dict(parse_qsl(urlsplit(request.url).query))["sign"] == expected


def test_request_headers_are_the_browser_set_with_the_cookie():
    headers = build_token_request(API, COOKIE, DID, now_ms=1).headers
    assert headers["cookie"] == COOKIE.serialize()
    assert headers["content-type"] == "application/x-www-form-urlencoded"
    assert headers["origin"] == "https://www.goofish.com"
    assert headers["referer"] == "https://www.goofish.com/"
    assert "Chrome/139" in headers["user-agent"]
    assert headers["sec-ch-ua-platform"] == '"Windows"'


def test_api_url_without_trailing_slash_still_forms_the_endpoint():
    request = build_token_request("http://127.0.0.1:1/h5", COOKIE, DID, now_ms=1)
    assert request.url.startswith(
        "http://127.0.0.1:1/h5/mtop.taobao.idlemessage.pc.login.token/1.0/?"
    )


def test_success_needs_success_ret_and_non_empty_access_token():
    result = classify_token_response(200, SUCCESS, [])
    assert (result.kind, result.token, result.ok) == ("success", "oAT-opaque", True)
    empty = {**SUCCESS, "data": {"accessToken": ""}}
    assert classify_token_response(200, empty, []).kind == "error"


def test_stale_token_with_fresh_set_cookie_is_token_expired():
    payload = {
        "api": SUCCESS["api"],
        "v": "1.0",
        "ret": ["FAIL_SYS_TOKEN_EXOIRED::令牌过期"],
        "data": {},
    }
    result = classify_token_response(200, payload, FRESH_TK)
    assert result.kind == "token_expired"
    assert "FAIL_SYS_TOKEN_EXOIRED" in result.message


@pytest.mark.parametrize(
    "ret", ["FAIL_SYS_TOKEN_EMPTY::令牌为空", "FAIL_SYS_TOKEN_EXPIRED::x", "令牌过期"]
)
def test_other_stale_token_spellings_are_token_expired(ret):
    assert classify_token_response(200, {"ret": [ret]}, FRESH_TK).kind == "token_expired"


def test_session_expired_says_to_log_in_again():
    result = classify_token_response(200, {"ret": ["FAIL_SYS_SESSION_EXPIRED::Session过期"]}, [])
    assert result.kind == "session_expired"
    assert "goofish.com/im" in result.message


def test_risk_control_carries_the_punish_url():
    payload = {
        "ret": ["FAIL_SYS_USER_VALIDATE", "RGV587_ERROR::SM::哎哟喂,被挤爆啦,请稍后重试"],
        "data": {"url": PUNISH},
    }
    result = classify_token_response(200, payload, [])
    assert (result.kind, result.punish_url) == ("risk_control", PUNISH)
    # the operator is told where to go, and the CLI's redaction leaves the URL whole
    assert f"open {PUNISH} in the browser" in result.message
    assert PUNISH in redact_text(f"token refused ({result.kind}): {result.message}")


def test_a_stale_signing_token_says_what_the_operator_should_do():
    stale = {"ret": ["FAIL_SYS_TOKEN_EXOIRED::令牌过期"]}
    merged = classify_token_response(200, stale, FRESH_TK).message
    assert "nothing to do unless this repeats" in merged
    assert "retry with" not in merged
    assert "update the account's cookie" in classify_token_response(200, stale, []).message


def test_punish_url_alone_means_risk_control():
    payload = {"ret": ["FAIL_SYS_SOMETHING::x"], "data": {"url": PUNISH}}
    assert classify_token_response(200, payload, []).kind == "risk_control"


def test_session_expired_wins_over_risk_control_and_risk_over_token_expired():
    both = {"ret": ["FAIL_SYS_SESSION_EXPIRED::Session过期", "RGV587_ERROR::SM"]}
    assert classify_token_response(200, both, []).kind == "session_expired"
    risk_and_stale = {"ret": ["FAIL_SYS_TOKEN_EXOIRED::令牌过期", "RGV587_ERROR::SM"]}
    assert classify_token_response(200, risk_and_stale, FRESH_TK).kind == "risk_control"


@pytest.mark.parametrize(
    ("status", "payload"),
    [
        (200, {"ret": ["FAIL_SYS_SERVICE_FAULT::服务异常"]}),
        (200, {}),
        (200, {"ret": "weird"}),
        (502, None),
        (200, ["not", "an", "object"]),
        (200, {"ret": [], "data": "x"}),
    ],
)
def test_anything_else_is_an_error_not_network(status, payload):
    result = classify_token_response(status, payload, [])
    assert result.kind == "error"
    assert result.network is False
    assert result.message


def test_request_repr_does_not_show_the_cookie():
    request = build_token_request(API, COOKIE, DID, now_ms=1)
    assert "SECRET" not in repr(request)
