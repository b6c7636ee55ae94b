"""mid, uuid and did generators and id suffix helpers (section 8)."""

import re

from goofish import new_did, new_mid, new_uuid, plain_id, wire_id


def test_mid_is_random_prefix_then_ms_clock_then_space_zero():
    assert re.fullmatch(r"\d{1,3}\d{13} 0", new_mid())


def test_uuid_is_dash_ms_clock_then_one():
    assert re.fullmatch(r"-\d{13}1", new_uuid())


def test_did_has_uuid4_layout_in_uppercase_hex_then_unb():
    did = new_did("2202640918079")
    assert re.fullmatch(
        r"[0-9A-F]{8}-[0-9A-F]{4}-4[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}-2202640918079", did
    )


def test_did_is_random_per_call():
    assert new_did("1") != new_did("1")


def test_wire_id_adds_suffix_once_and_plain_id_strips_it():
    assert wire_id("123") == "123@goofish"
    assert wire_id("123@goofish") == "123@goofish"
    assert plain_id("123@goofish") == "123"
    assert plain_id("123") == "123"
