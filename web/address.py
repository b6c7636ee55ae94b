"""Where the web page listens: ``HOST:PORT`` or ``off``, read from the ``web`` setting."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from common.errors import InvalidValueError

OFF = "off"
DEFAULT = "127.0.0.1:8780"
_EXPECTED = "HOST:PORT (e.g. 127.0.0.1:8780, [::1]:8780) or 'off'"


@dataclass(frozen=True)
class WebAddress:
    host: str
    port: int

    @property
    def loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False  # a host name: it may resolve to anything

    def url(self, path: str = "/") -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{path}"

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def parse_web(text: str) -> WebAddress | None:
    """``None`` for ``off``; raises ``InvalidValueError`` naming what is wrong."""
    value = text.strip()
    if value.lower() == OFF:
        return None
    host, sep, port_text = value.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise InvalidValueError("web", _EXPECTED, value=value)
    return WebAddress(host, int(port_text))
