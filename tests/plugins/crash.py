"""The cookies of the crash-consistency test (``tests/test_storage_crash.py``), shared by the
test and the writer process it SIGKILLs: each value is checkable from its own text."""

from __future__ import annotations

import hashlib

ACCOUNTS = 5


def cookie_value(account: str, seq: int) -> str:
    """A cookie big enough to span several database pages, checkable from its own text."""
    pad = hashlib.sha256(f"{account}:{seq}".encode()).hexdigest() * 160
    return f"unb={account}; seq={seq}; pad={pad}"


def is_whole(account: str, value: str) -> bool:
    fields = dict(part.split("=", 1) for part in value.split("; "))
    return value == cookie_value(account, int(fields["seq"]))
