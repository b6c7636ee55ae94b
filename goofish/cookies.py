"""The seller's browser cookie: parse, merge Set-Cookie, serialize (fact sheet sections 2.4, 9).

Cookie values are secrets. ``str()``/``repr()`` show only ``unb`` and a fingerprint, so a
``Cookie`` can go into a log line or an exception message safely.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator

from common.errors import CookieError

_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")
_WHERE_TO_GET = (
    "copy the whole cookie from the logged-in message page https://www.goofish.com/im "
    "(browser devtools, Network tab, any request's Cookie header)"
)


def _split_pairs(text: str) -> Iterator[tuple[str, str]]:
    """Yield ``(name, value)`` per ``;``-separated segment, split at the first ``=``.

    Empty segments and segments without a name (stray text from a sloppy copy) are skipped;
    a cookie that lost its ``unb`` that way is refused by ``Cookie`` itself.
    """
    for segment in text.split(";"):
        name, sep, value = segment.partition("=")
        name, value = name.strip(), value.strip()
        if not (sep and name):
            continue
        if _CONTROL_CHARS.search(name + value):
            # It would corrupt the HTTP headers it is sent in; happens with wrapped copies.
            raise CookieError(
                f"cookie {name!r} contains a line break or control character",
                hint="copy the cookie again as one line",
            )
        yield name, value


def _updated(
    pairs: tuple[tuple[str, str], ...], new: Iterable[tuple[str, str]]
) -> tuple[tuple[str, str], ...]:
    """Overwrite existing names in place and append new names, keeping order."""
    merged = dict(pairs)
    for name, value in new:
        merged[name] = value
    return tuple(merged.items())


class Cookie:
    """An immutable, ordered cookie jar for one seller login session."""

    __slots__ = ("_pairs",)

    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        pairs = _updated((), pairs)
        if not dict(pairs).get("unb"):
            raise CookieError("cookie has no 'unb' (the seller's user id)", hint=_WHERE_TO_GET)
        self._pairs: tuple[tuple[str, str], ...] = pairs

    @classmethod
    def parse(cls, text: str) -> Cookie:
        """Parse ``k=v; k=v`` (tolerates ``;`` without a space and surrounding whitespace)."""
        if not isinstance(text, str) or not text.strip():
            raise CookieError("cookie is empty", hint=_WHERE_TO_GET)
        return cls(_split_pairs(text))

    @property
    def unb(self) -> str:
        """The seller's numeric user id."""
        return self.get("unb")

    @property
    def mtop_token(self) -> str:
        """The signing token: ``_m_h5_tk`` up to the first ``_``, or ``""`` if absent."""
        return self.get("_m_h5_tk").partition("_")[0]

    @property
    def names(self) -> tuple[str, ...]:
        """Cookie names in order (safe to log)."""
        return tuple(name for name, _ in self._pairs)

    def get(self, name: str, default: str = "") -> str:
        """The value of ``name``, or ``default``."""
        for key, value in self._pairs:
            if key == name:
                return value
        return default

    def merge_set_cookie(self, headers: Iterable[str]) -> Cookie:
        """A new cookie with each ``Set-Cookie`` header's ``name=value`` applied.

        Attributes after the first ``;`` are ignored; a deleting Set-Cookie becomes ``name=``.
        Raises ``CookieError`` if that empties ``unb`` (the server ended the login).
        """
        new = []
        for header in headers:
            name, sep, value = header.partition(";")[0].partition("=")
            if sep and name.strip():
                new.append((name.strip(), value.strip()))
        return Cookie(_updated(self._pairs, new))

    def serialize(self) -> str:
        """``k=v; k=v`` in order: the form the server and the database take."""
        return "; ".join(f"{name}={value}" for name, value in self._pairs)

    @property
    def fingerprint(self) -> str:
        """First 8 hex chars of sha256 of the serialized cookie: identifies it in logs."""
        return hashlib.sha256(self.serialize().encode("utf-8")).hexdigest()[:8]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Cookie):
            return NotImplemented
        return self._pairs == other._pairs

    def __hash__(self) -> int:
        return hash(self._pairs)

    def __repr__(self) -> str:
        return f"Cookie(unb={self.unb!r}, fingerprint={self.fingerprint!r})"

    __str__ = __repr__
