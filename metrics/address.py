"""The ``--metrics`` address: ``HOST:PORT`` (``[::1]:PORT`` for IPv6; port 0 = any free one)."""

from __future__ import annotations

from common.errors import InvalidValueError

_EXPECTED = "HOST:PORT, e.g. 127.0.0.1:9108 (port 0 picks a free one)"


def parse_address(text: str) -> tuple[str, int]:
    """``"127.0.0.1:9108"`` -> ``("127.0.0.1", 9108)``; anything else is ``InvalidValueError``."""
    host, sep, port_text = text.strip().rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not port_text.isdigit() or int(port_text) > 65535:
        raise InvalidValueError("metrics address", _EXPECTED, value=text)
    return host, int(port_text)
