"""Pieces every layer shares: the exception tree and the shared asyncio I/O loop."""

from common.errors import (
    AlreadyExistsError,
    ConflictError,
    CookieError,
    NotFoundError,
    ProtocolError,
    StorageError,
    TokenError,
    XianyuSupervisorError,
)
from common.io_loop import IoLoop

__all__ = [
    "AlreadyExistsError",
    "ConflictError",
    "CookieError",
    "IoLoop",
    "NotFoundError",
    "ProtocolError",
    "StorageError",
    "TokenError",
    "XianyuSupervisorError",
]
