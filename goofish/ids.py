"""Generators for request mids, message uuids and device ids (fact sheet section 8)."""

from __future__ import annotations

import random
import time

from goofish.constants import ID_SUFFIX

# The first 16 characters of 0-9A-Za-z: the did alphabet is uppercase hex.
_DID_ALPHABET = "0123456789ABCDEF"
_DID_VARIANT = "89AB"


def _now_ms() -> int:
    return int(time.time() * 1000)


def new_mid() -> str:
    """A request mid: random 0-999 (no padding), the ms clock, then ``" 0"``."""
    return f"{int(1000 * random.random())}{_now_ms()} 0"


def new_uuid() -> str:
    """A message uuid for ``sendByReceiverScope``: ``"-" + now_ms + "1"``."""
    return f"-{_now_ms()}1"


def new_did(unb: str) -> str:
    """A device id: a UUID-v4 layout in uppercase hex, then ``"-" + unb``."""
    chars = [random.choice(_DID_ALPHABET) for _ in range(36)]
    for dash in (8, 13, 18, 23):
        chars[dash] = "-"
    chars[14] = "4"
    chars[19] = random.choice(_DID_VARIANT)
    return "".join(chars) + "-" + unb


def wire_id(plain: str) -> str:
    """``"123"`` → ``"123@goofish"`` (unchanged if it already has the suffix)."""
    return plain if plain.endswith(ID_SUFFIX) else plain + ID_SUFFIX


def plain_id(wire: str) -> str:
    """``"123@goofish"`` → ``"123"`` (unchanged if it has no suffix)."""
    return wire.removesuffix(ID_SUFFIX)
