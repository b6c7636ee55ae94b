"""One simulated IM connection, and the error a malformed request frame raises."""

from __future__ import annotations

from websockets.asyncio.server import ServerConnection


class BadRequest(Exception):
    """A request frame whose body does not have the documented shape (answered with 400)."""


class Conn:
    """One WebSocket connection and what the server knows about it."""

    __slots__ = (
        "blackholed",
        "cookie2",
        "history_requests",
        "reg_delay_s",
        "registered",
        "seq",
        "sid",
        "ua",
        "user_id",
        "ws",
        "zombie",
    )

    def __init__(self, ws: ServerConnection) -> None:
        self.ws = ws
        self.user_id: str | None = None
        self.cookie2 = ""
        self.sid = ""
        self.ua = ""
        self.seq = 1
        self.registered = False
        self.zombie = False  # heartbeats answered, pushes withheld, create refused
        self.blackholed = False  # nothing read, nothing answered, TCP kept open
        self.reg_delay_s = 0.0
        self.history_requests = 0

    @property
    def ip(self) -> str:
        address = self.ws.remote_address
        return str(address[0]) if address else ""

    @property
    def pushable(self) -> bool:
        return self.registered and not (self.zombie or self.blackholed)
