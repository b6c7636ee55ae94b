"""Cookie parsing, Set-Cookie merge, serialization and safe printing (sections 2.4, 9)."""

import hashlib

import pytest

from common.errors import CookieError
from goofish import Cookie
from goofish.cookies import merge_set_cookie_pairs, parse_set_cookie

RAW = (
    "cna=abc; unb=2202640918079; "
    "_m_h5_tk=0123456789abcdef0123456789abcdef_1751446438481; cookie2=SECRETVALUE"
)


def test_parse_keeps_order_and_values():
    cookie = Cookie.parse(RAW)
    assert cookie.names == ("cna", "unb", "_m_h5_tk", "cookie2")
    assert cookie.unb == "2202640918079"
    assert cookie.get("cookie2") == "SECRETVALUE"
    assert cookie.get("missing") == ""


def test_parse_tolerates_semicolons_without_space_whitespace_and_empty_segments():
    cookie = Cookie.parse("  a=1;unb=42 ;;  b = 2 ;\n")
    assert cookie.serialize() == "a=1; unb=42; b=2"


def test_parse_splits_each_pair_at_the_first_equals_sign():
    cookie = Cookie.parse("unb=1; x5sec=a=b==")
    assert cookie.get("x5sec") == "a=b=="


def test_serialize_round_trips():
    assert Cookie.parse(RAW).serialize() == RAW
    assert Cookie.parse(Cookie.parse(RAW).serialize()) == Cookie.parse(RAW)


@pytest.mark.parametrize("text", ["", "   ", ";;"])
def test_empty_cookie_is_refused_with_where_to_get_one(text):
    with pytest.raises(CookieError, match=r"goofish\.com/im"):
        Cookie.parse(text)


def test_cookie_without_unb_is_refused_saying_unb_is_missing():
    with pytest.raises(CookieError, match=r"no 'unb'.*goofish\.com/im"):
        Cookie.parse("cna=abc; cookie2=x")


def test_cookie_with_empty_unb_is_refused():
    with pytest.raises(CookieError, match="unb"):
        Cookie.parse("unb=; cna=abc")


def test_mtop_token_is_m_h5_tk_up_to_first_underscore():
    assert Cookie.parse(RAW).mtop_token == "0123456789abcdef0123456789abcdef"
    assert Cookie.parse("unb=1").mtop_token == ""


def test_merge_set_cookie_overwrites_in_place_and_appends_new_names():
    merged = Cookie.parse(RAW).merge_set_cookie(
        [
            "_m_h5_tk=fresh_1751449999999; Path=/; Domain=.goofish.com; Max-Age=86400",
            "_m_h5_tk_enc=enc123; Path=/",
            "cna=; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
        ]
    )
    # A deleting Set-Cookie removes the name, as a browser does.
    assert merged.names == ("unb", "_m_h5_tk", "cookie2", "_m_h5_tk_enc")
    assert merged.get("_m_h5_tk") == "fresh_1751449999999"
    assert merged.get("_m_h5_tk_enc") == "enc123"
    assert merged.mtop_token == "fresh"


def test_merge_leaves_original_untouched_and_ignores_malformed_headers():
    cookie = Cookie.parse(RAW)
    merged = cookie.merge_set_cookie(["garbage", "=novalue", ""])
    assert merged == cookie
    assert cookie.get("_m_h5_tk").endswith("1751446438481")


def test_fingerprint_is_first_8_hex_of_sha256_of_serialized_cookie():
    cookie = Cookie.parse(RAW)
    assert cookie.fingerprint == hashlib.sha256(RAW.encode()).hexdigest()[:8]
    assert cookie.merge_set_cookie(["cookie2=other"]).fingerprint != cookie.fingerprint


def test_str_and_repr_show_unb_and_fingerprint_but_no_values():
    cookie = Cookie.parse(RAW)
    for shown in (str(cookie), repr(cookie), f"{cookie}"):
        assert "2202640918079" in shown
        assert cookie.fingerprint in shown
        assert "SECRETVALUE" not in shown
        assert "0123456789abcdef" not in shown


def test_cookie_is_hashable_and_compares_by_content():
    assert {Cookie.parse("unb=1; a=2"), Cookie.parse("unb=1;a=2")} == {Cookie.parse("unb=1; a=2")}


def test_line_breaks_between_pairs_are_fine_but_inside_a_value_are_refused():
    assert Cookie.parse("unb=1;\n a=2").serialize() == "unb=1; a=2"
    with pytest.raises(CookieError, match="one line"):
        Cookie.parse("unb=1; a=2\n3")


def test_merge_that_empties_unb_is_refused():
    with pytest.raises(CookieError, match="unb"):
        Cookie.parse(RAW).merge_set_cookie(["unb=; Max-Age=0"])


NOW = 1_780_000_000.0


@pytest.mark.parametrize(
    "header",
    [
        "cookie2=; Path=/",
        "cookie2=gone; Max-Age=0",
        "cookie2=gone; max-age=-1; Path=/",
        "cookie2=gone; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
        "cookie2=gone; Path=/; Expires=Thu, 01-Jan-1970 00:00:10 GMT",  # the dashed form
        "cookie2=gone; Domain=.goofish.com; expires=Wed, 21 Oct 2015 07:28:00 GMT",
    ],
)
def test_deleting_set_cookies_remove_the_name(header):
    merged = Cookie.parse(RAW).merge_set_cookie([header], now=NOW)
    assert "cookie2" not in merged.names
    assert merged.unb == "2202640918079"


def test_max_age_wins_over_a_past_expires_and_a_future_expires_keeps_the_value():
    merged = Cookie.parse(RAW).merge_set_cookie(
        [
            "cookie2=kept; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=60",
            "sgcookie=new; Expires=Fri, 01 Jan 2100 00:00:00 GMT; HttpOnly",
        ],
        now=NOW,
    )
    assert merged.get("cookie2") == "kept"
    assert merged.get("sgcookie") == "new"


def test_a_later_header_for_the_same_name_wins_and_delete_then_set_re_appends():
    merged = Cookie.parse(RAW).merge_set_cookie(
        ["cna=; Max-Age=0", "cna=again", "cookie2=a", "cookie2=b"], now=NOW
    )
    assert merged.names == ("unb", "_m_h5_tk", "cookie2", "cna")
    assert merged.get("cookie2") == "b"


def test_unparseable_expires_is_ignored_not_a_deletion():
    merged = Cookie.parse(RAW).merge_set_cookie(["cookie2=v; Expires=someday"], now=NOW)
    assert merged.get("cookie2") == "v"


def test_parse_set_cookie_reports_expiry_and_http_only_without_showing_the_value():
    parsed = parse_set_cookie("havana_lgc_exp=SECRETVALUE; Max-Age=3600; HttpOnly; Path=/", now=NOW)
    assert parsed is not None
    assert (parsed.name, parsed.expires_at) == ("havana_lgc_exp", NOW + 3600)
    assert parsed.http_only
    assert "SECRETVALUE" not in repr(parsed)
    assert parse_set_cookie("garbage") is None


def test_merge_pairs_works_without_unb():
    pairs = merge_set_cookie_pairs([("XSRF-TOKEN", "x")], ["unb=42", "XSRF-TOKEN=; Max-Age=0"])
    assert pairs == (("unb", "42"),)
