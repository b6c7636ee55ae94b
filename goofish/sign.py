"""The mtop request signature (fact sheet section 2.2)."""

from __future__ import annotations

import hashlib

from goofish.constants import MTOP_APP_KEY


def mtop_sign(token: str, t: str, data: str) -> str:
    """``md5(token & t & appKey & data)`` as lowercase hex; ``token`` may be empty."""
    text = f"{token}&{t}&{MTOP_APP_KEY}&{data}"
    # md5 is what the server checks, not a security choice of ours.
    return hashlib.md5(text.encode("utf-8")).hexdigest()  # noqa: S324
