"""The seller's browser cookie: parse, merge Set-Cookie, serialize (fact sheet sections 2.4, 9).

Unlike the original clients (which keep a deleted cookie as ``name=``), a deleting
``Set-Cookie`` removes the name, as a browser does: renewal answers clear cookies that way.

Cookie values are secrets. ``str()``/``repr()`` show only ``unb`` and a fingerprint, so a
``Cookie`` can go into a log line or an exception message safely.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime

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


@dataclass(frozen=True)
class SetCookie:
    """One parsed ``Set-Cookie`` header: the pair, when it expires, whether it deletes."""

    name: str
    value: str = field(repr=False)  # a secret
    expires_at: float | None = None  # epoch seconds, from Max-Age (preferred) or Expires
    http_only: bool = False

    def deletes(self, now: float) -> bool:
        """A server deletes a cookie with an empty value, ``Max-Age<=0`` or a past ``Expires``."""
        return not self.value or (self.expires_at is not None and self.expires_at <= now)


def _expiry(attributes: dict[str, str], now: float) -> float | None:
    max_age = attributes.get("max-age")
    if max_age is not None:
        try:
            return now + int(max_age)  # RFC 6265 5.2.2: Max-Age wins over Expires
        except ValueError:
            pass
    expires = attributes.get("expires")
    if expires:
        try:
            return parsedate_to_datetime(expires).timestamp()
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    return None


def parse_set_cookie(header: str, *, now: float | None = None) -> SetCookie | None:
    """Parse one ``Set-Cookie`` header value; ``None`` when it names no cookie."""
    first, *rest = header.split(";")
    name, sep, value = first.partition("=")
    name = name.strip()
    if not (sep and name):
        return None
    attributes = {}
    for attribute in rest:
        key, _, attr_value = attribute.partition("=")
        attributes[key.strip().lower()] = attr_value.strip()
    at = time.time() if now is None else now
    return SetCookie(
        name=name,
        value=value.strip(),
        expires_at=_expiry(attributes, at),
        http_only="httponly" in attributes,
    )


def merge_set_cookie_pairs(
    pairs: Iterable[tuple[str, str]], headers: Iterable[str], *, now: float | None = None
) -> tuple[tuple[str, str], ...]:
    """Apply ``Set-Cookie`` headers to ``(name, value)`` pairs, in order, as a browser would.

    A value overwrites its name in place, a new name is appended, and a deleting header
    (empty value, ``Max-Age<=0``, ``Expires`` in the past) removes the name. Domain and Path
    are ignored: one seller's cookie is one flat jar.
    """
    at = time.time() if now is None else now
    merged = dict(pairs)
    for header in headers:
        parsed = parse_set_cookie(header, now=at)
        if parsed is None:
            continue
        if parsed.deletes(at):
            merged.pop(parsed.name, None)
        else:
            merged[parsed.name] = parsed.value
    return tuple(merged.items())


class Cookie:
    """An immutable, ordered cookie jar for one seller login session."""

    __slots__ = ("_fingerprint", "_pairs")

    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        pairs = _updated((), pairs)
        if not dict(pairs).get("unb"):
            raise CookieError("cookie has no 'unb' (the seller's user id)", hint=_WHERE_TO_GET)
        self._pairs: tuple[tuple[str, str], ...] = pairs
        self._fingerprint: str | None = None

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

    def merge_set_cookie(self, headers: Iterable[str], *, now: float | None = None) -> Cookie:
        """A new cookie with the ``Set-Cookie`` headers applied (``merge_set_cookie_pairs``).

        A deleting header removes the name. Raises ``CookieError`` if that removes ``unb``
        (the server ended the login).
        """
        return Cookie(merge_set_cookie_pairs(self._pairs, headers, now=now))

    def serialize(self) -> str:
        """``k=v; k=v`` in order: the form the server and the database take."""
        return "; ".join(f"{name}={value}" for name, value in self._pairs)

    @property
    def fingerprint(self) -> str:
        """First 8 hex chars of sha256 of the serialized cookie: identifies it in logs.

        Computed once (the jar is immutable): every status the account publishes names it."""
        if self._fingerprint is None:
            digest = hashlib.sha256(self.serialize().encode("utf-8")).hexdigest()
            self._fingerprint = digest[:8]
        return self._fingerprint

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Cookie):
            return NotImplemented
        return self._pairs == other._pairs

    def __hash__(self) -> int:
        return hash(self._pairs)

    def __repr__(self) -> str:
        return f"Cookie(unb={self.unb!r}, fingerprint={self.fingerprint!r})"

    __str__ = __repr__
