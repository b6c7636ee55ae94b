"""The control socket's wire format, without sockets: lines in, requests and responses out.

One UTF-8 JSON object per line. Request ``{"id": any, "cmd": str, ...args}``; response
``{"id": same, "ok": true, "result": {...}}`` or
``{"id": same, "ok": false, "error": {"code": str, "message": str}}``.

``LineSplitter`` cuts a byte stream into lines and never holds more than
``MAX_LINE_BYTES`` of one line: a longer line is reported once as ``TOO_LARGE``
and the rest of it is discarded up to its newline.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from common.sentences import json_kind
from control.arguments import validate_arguments
from control.errors import BAD_REQUEST, ControlError

MAX_LINE_BYTES: Final = 1024 * 1024


class _TooLarge:
    def __repr__(self) -> str:
        return "TOO_LARGE"


TOO_LARGE: Final = _TooLarge()


@dataclass(frozen=True)
class Request:
    """A parsed, validated request: ``args`` holds every argument with defaults filled in."""

    id: Any
    cmd: str
    args: Mapping[str, Any]


class LineSplitter:
    """Split a byte stream into lines (without the newline), bounding memory per line."""

    def __init__(self, max_line: int = MAX_LINE_BYTES) -> None:
        self._max = max_line
        self._pending = bytearray()
        self._discarding = False

    def feed(self, data: bytes) -> list[bytes | _TooLarge]:
        """Take a chunk; return the lines it completes, ``TOO_LARGE`` for an overlong one."""
        out: list[bytes | _TooLarge] = []
        start = 0
        while start < len(data):
            newline = data.find(b"\n", start)
            end = len(data) if newline < 0 else newline
            self._take(data[start:end], out)
            if newline < 0:
                break
            if not self._discarding:
                out.append(bytes(self._pending))
            self._pending.clear()
            self._discarding = False
            start = newline + 1
        return out

    def _take(self, piece: bytes, out: list[bytes | _TooLarge]) -> None:
        if self._discarding:
            return
        if len(self._pending) + len(piece) > self._max:
            # answer as soon as the limit is crossed, not when (if ever) the newline comes
            out.append(TOO_LARGE)
            self._pending.clear()
            self._discarding = True
            return
        self._pending += piece


def parse_request(line: bytes) -> Request:
    """Decode and validate one request line; raises ``ControlError`` carrying the id if known."""
    obj = _decode(line)
    request_id = obj.get("id")
    try:
        cmd = obj.get("cmd")
        if not isinstance(cmd, str) or not cmd:
            raise ControlError(BAD_REQUEST, "field 'cmd' is missing or not a non-empty string")
        args = {k: v for k, v in obj.items() if k not in ("id", "cmd")}
        return Request(id=request_id, cmd=cmd, args=validate_arguments(cmd, args))
    except ControlError as exc:
        exc.request_id = request_id
        raise


def _decode(line: bytes) -> dict[str, Any]:
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ControlError(
            BAD_REQUEST, f"request is not valid UTF-8 (byte {exc.start}); send UTF-8 JSON lines"
        ) from None
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ControlError(
            BAD_REQUEST, f"request is not valid JSON ({_short(exc)}); send one JSON object per line"
        ) from None
    if not isinstance(obj, dict):
        raise ControlError(BAD_REQUEST, f"request must be a JSON object, not {json_kind(obj)}")
    return obj


def _short(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return str(exc)[:120]


def _json_default(value: object) -> object:
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def encode_line(obj: Mapping[str, Any]) -> bytes:
    """Serialize one message as a JSON line."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), default=_json_default)
    return text.encode("utf-8") + b"\n"


def ok_response(request_id: Any, result: Mapping[str, Any]) -> bytes:
    return encode_line({"id": request_id, "ok": True, "result": dict(result)})


def error_response(request_id: Any, code: str, message: str) -> bytes:
    return encode_line({"id": request_id, "ok": False, "error": {"code": code, "message": message}})


def request_line(request_id: Any, cmd: str, args: Mapping[str, Any]) -> bytes:
    """What a client sends."""
    return encode_line({"id": request_id, "cmd": cmd, **args})
