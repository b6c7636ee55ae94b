"""Turn a push item's ``data`` string into a mapping: base64, then JSON or MessagePack (6.2)."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

import msgpack

from common.errors import ProtocolError
from common.sentences import json_kind


def b64decode_lenient(text: str) -> bytes:
    """Decode base64, tolerating missing padding and stray whitespace or non-ASCII chars."""
    if not isinstance(text, str):
        raise ProtocolError(f"base64 payload is {json_kind(text)}, not a string")
    try:
        # the common case, well-formed base64, at C speed (the cleaning below is ~10x slower)
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        pass
    cleaned = "".join(ch for ch in text if ch.isascii() and not ch.isspace())
    cleaned += "=" * (-len(cleaned) % 4)
    try:
        return base64.b64decode(cleaned, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ProtocolError(f"payload is not valid base64 ({exc})") from exc


# what msgpack gives back as is (exact types: msgpack builds no subclasses)
_LEAVES = frozenset({str, int, float, bool, type(None)})


def _string_keys(value: Any) -> Any:
    """Int map keys become strings ("1", "2", ...) and bin values UTF-8 text, as upstream."""
    kind = type(value)
    if kind is dict:
        # leaves are kept without a call: this runs on every push item
        return {
            str(key): item if type(item) in _LEAVES else _string_keys(item)
            for key, item in value.items()
        }
    if kind is list:
        return [item if type(item) in _LEAVES else _string_keys(item) for item in value]
    if kind is bytes:
        return value.decode("utf-8", errors="replace")
    return value


def try_json_object(raw: bytes) -> Mapping[str, Any] | None:
    """The payload as a JSON object, or ``None`` when it is not UTF-8 JSON (then: msgpack)."""
    try:
        value = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    if not isinstance(value, dict):
        raise ProtocolError(f"JSON payload is {json_kind(value)}, not an object")
    return value


def unpack_map(raw: bytes) -> Mapping[str, Any]:
    """Decode an int-keyed MessagePack map into a mapping with string keys."""
    try:
        value = msgpack.unpackb(raw, strict_map_key=False, raw=False)
        value = _string_keys(value)
    except (ValueError, TypeError, RecursionError, msgpack.UnpackException) as exc:
        raise ProtocolError(f"payload is neither JSON nor valid MessagePack ({exc!r})") from exc
    if not isinstance(value, dict):
        raise ProtocolError(f"MessagePack payload is {json_kind(value)}, not a map")
    return value


def decode_data(text: str) -> Mapping[str, Any]:
    """The full 6.2 pipeline for one item's ``data``."""
    raw = b64decode_lenient(text)
    as_json = try_json_object(raw)
    return as_json if as_json is not None else unpack_map(raw)


def decode_content_json(text: str) -> Mapping[str, Any]:
    """Base64 of a content JSON (``custom.data`` of sends and history) → the JSON object."""
    raw = b64decode_lenient(text)
    content = try_json_object(raw)
    if content is None:
        raise ProtocolError("content data is not base64 of UTF-8 JSON")
    return content
