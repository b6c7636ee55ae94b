"""mtop signature known answers (section 2.2)."""

import hashlib

from goofish import mtop_sign


def test_sign_is_md5_of_token_t_appkey_data_joined_by_ampersand():
    data = '{"appKey":"444e9908a51d1cb236a27862abc769c9","deviceId":"D-1"}'
    expected = hashlib.md5(f"tk&1700000000000&34839810&{data}".encode()).hexdigest()
    assert mtop_sign("tk", "1700000000000", data) == expected


def test_sign_known_answer_for_short_input():
    assert mtop_sign("tk", "t", "data") == hashlib.md5(b"tk&t&34839810&data").hexdigest()


def test_sign_with_empty_token_still_signs():
    assert mtop_sign("", "1", "x") == hashlib.md5(b"&1&34839810&x").hexdigest()


def test_sign_encodes_non_ascii_data_as_utf8():
    assert mtop_sign("a", "1", "你好") == hashlib.md5("a&1&34839810&你好".encode()).hexdigest()
