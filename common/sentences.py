"""Errors as words a person can read: what ``status``, ``events`` and replies show.

``repr(exc)`` (``TimeoutError('...')``) and ``None`` are for developers; an operator
reading ``last_error`` gets "timed out" or "connection refused".
"""

from __future__ import annotations

import re

_WORDS = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")

_KNOWN: tuple[tuple[type[BaseException], str], ...] = (
    (TimeoutError, "timed out"),
    (ConnectionRefusedError, "connection refused"),
    (ConnectionResetError, "connection reset by the other side"),
    (BrokenPipeError, "connection broken"),
)


def error_sentence(exc: BaseException | None) -> str:
    """``exc`` in words: its message, or what its type means when it has none."""
    if exc is None:
        return "an unknown error"
    for kind, words in _KNOWN:
        if isinstance(exc, kind) and not _message(exc):
            return words
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror[:1].lower() + exc.strerror[1:]
    text = _message(exc)
    kind_words = _type_words(type(exc))
    if not text:
        return kind_words
    return text if isinstance(exc, _KNOWN_TYPES) else f"{kind_words}: {text}"


_KNOWN_TYPES = tuple(kind for kind, _ in _KNOWN)


def _message(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def _type_words(kind: type[BaseException]) -> str:
    """``ConnectionClosedError`` -> "connection closed error"."""
    return _WORDS.sub(" ", kind.__name__).lower()


def close_code_sentence(code: int | None) -> str:
    """A WebSocket close code in words (``None``: the link died without a close frame)."""
    if code is None:
        return "without a close frame"
    return f"with close code {code}"


# checked in order: bool before int (True is an int)
_JSON_KINDS: tuple[tuple[type | tuple[type, ...], str], ...] = (
    (type(None), "null"),
    (bool, "true or false"),
    ((int, float), "a number"),
    (str, "a string"),
    ((bytes, bytearray), "binary data"),
    ((list, tuple), "a list"),
    (dict, "an object"),
)


def json_kind(value: object) -> str:
    """What a decoded JSON (or MessagePack) value is, in words: "null", "a list" ..."""
    for kind, words in _JSON_KINDS:
        if isinstance(value, kind):
            return words
    return f"a {type(value).__name__}"
