"""Typed field access and id extraction shared by push and history decoding (6.3, 6.4).

Every failure is a ``ProtocolError`` naming the missing field; callers add which item it was.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar
from urllib.parse import parse_qs, unquote, urlsplit

from common.errors import ProtocolError
from common.sentences import json_kind

T = TypeVar("T")

_TYPE_NAMES = {str: "a string", int: "an integer", dict: "an object", list: "a list"}


def each_item(
    items: Sequence[Any], decode: Callable[[Any], T], where: Callable[[int], str]
) -> list[T | ProtocolError]:
    """``decode`` every item on its own, in order. An item that raises ``ProtocolError`` is that
    error in the results, its message prefixed with ``where(index)``: it never hides the others."""
    results: list[T | ProtocolError] = []
    for index, item in enumerate(items):
        try:
            results.append(decode(item))
        except ProtocolError as exc:
            results.append(exc.at(where(index)))
    return results


def _is_mapping(value: object) -> bool:
    # decoded payloads are plain dicts: skip the slower ABC check for them
    return type(value) is dict or isinstance(value, Mapping)


def require(obj: Any, path: tuple[str, ...], kind: type[T]) -> T:
    """The value at ``path`` inside nested mappings, which must be of ``kind``."""
    value = obj
    for depth, key in enumerate(path):
        if not _is_mapping(value) or key not in value:
            raise ProtocolError("is missing", field=".".join(path[: depth + 1]))
        value = value[key]
    # bool is an int subclass; a flag is never a valid id or timestamp.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        expected = _TYPE_NAMES.get(kind, kind.__name__)
        raise ProtocolError(f"is {json_kind(value)}, expected {expected}", field=".".join(path))
    return value


def optional_str(obj: Any, *path: str) -> str:
    """The string at ``path``, or ``""`` when absent or not a string."""
    value = obj
    for key in path:
        if not _is_mapping(value):
            return ""
        value = value.get(key)
    return value if isinstance(value, str) else ""


def mapping_at(obj: Any, *path: str) -> Mapping[str, Any]:
    """The mapping at ``path``, or an empty one."""
    value = obj
    for key in path:
        if not _is_mapping(value):
            return {}
        value = value.get(key)
    return value if _is_mapping(value) else {}


def json_object(text: object) -> Mapping[str, Any]:
    """A JSON string field (``extJson``, ``bizTag``, content) as an object; ``{}`` if it is not."""
    if not isinstance(text, str) or not text:
        return {}
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return {}
    return value if isinstance(value, dict) else {}


def item_id_from(extension: Mapping[str, Any]) -> str | None:
    """``itemId`` of ``reminderUrl``'s query, else of ``extJson``/``bizTag``; ``None`` if none."""
    url = optional_str(extension, "reminderUrl")
    if url:
        value = _query_value(url, "itemId")
        if value:
            return value
    for name in ("extJson", "bizTag"):
        raw = extension.get(name)
        holder = raw if isinstance(raw, Mapping) else json_object(raw)
        value = holder.get("itemId")
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
            return str(value)
    return None


# URLs urlsplit would clean or check first (section 6.3 URLs are plain ASCII without these)
_URL_SPECIAL = frozenset("\t\r\n[]")


def _query_value(url: str, name: str) -> str | None:
    """``parse_qs(urlsplit(url).query).get(name, [None])[0]``, without building either for the
    plain ASCII URLs the server sends (it runs on every push); others take that slow path."""
    if not url.isascii() or url[0] <= " " or not _URL_SPECIAL.isdisjoint(url):
        values = parse_qs(urlsplit(url).query).get(name)
        return values[0] if values else None
    query = url.partition("#")[0].partition("?")[2]
    for pair in query.split("&"):
        key, equals, value = pair.partition("=")
        if not equals or not value:
            continue  # parse_qs drops blank values
        if unquote(key.replace("+", " ")) == name:
            return unquote(value.replace("+", " "))
    return None


def _strings(value: Any) -> Iterator[str]:
    """Every string inside a nested JSON-like value, depth first."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


# Tried in order over the card's URLs, then over all of its text (section 6.4, [OLD]).
_URL_ORDER_PATTERNS = (re.compile(r"[?&]orderId=(\d+)"), re.compile(r"order_detail\?id=(\d+)"))
_TEXT_ORDER_PATTERNS = (
    re.compile(r"orderId[=:](\d{10,})"),
    re.compile(r"order_detail\?id=(\d{10,})"),
    re.compile(r'"id"\s*:\s*"?(\d{10,})'),
    re.compile(r"bizOrderId[=:](\d{10,})"),
)


def order_id_from(content: Mapping[str, Any], extension: Mapping[str, Any]) -> str | None:
    """The order id of a trade card: card URLs first, then ``updateKey``, then any text."""
    urls = [text for text in _strings(content) if "://" in text]
    for pattern in _URL_ORDER_PATTERNS:
        for url in urls:
            if match := pattern.search(url):
                return match.group(1)
    ext_json = json_object(optional_str(extension, "extJson"))
    # updateKey looks like "<cid>:<orderId>:1_not_pay_seller".
    parts = optional_str(ext_json, "updateKey").split(":")
    if len(parts) > 2 and parts[1].isdigit():
        return parts[1]
    haystack = json.dumps([content, extension], ensure_ascii=False, default=str)
    for pattern in _TEXT_ORDER_PATTERNS:
        if match := pattern.search(haystack):
            return match.group(1)
    return None
