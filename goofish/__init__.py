"""The Goofish (闲鱼) web IM protocol: pure builders and decoders, plus the async token client.

Nothing here opens sockets or starts threads except ``TokenClient``, which runs on the event
loop that awaits it. Facts come from ``shared/goofish-protocol.md``; section numbers in
docstrings refer to it.
"""

from goofish import frames
from goofish.constants import (
    BROWSER_UA,
    DEFAULT_API_URL,
    DEFAULT_WS_URL,
    FIRST_PAGE_CURSOR,
    IM_APP_KEY,
    MTOP_APP_KEY,
    REG_UA,
    TOKEN_API,
)
from goofish.cookies import Cookie
from goofish.ids import new_did, new_mid, new_uuid, plain_id, wire_id
from goofish.sign import mtop_sign

__all__ = [
    "BROWSER_UA",
    "DEFAULT_API_URL",
    "DEFAULT_WS_URL",
    "FIRST_PAGE_CURSOR",
    "IM_APP_KEY",
    "MTOP_APP_KEY",
    "REG_UA",
    "TOKEN_API",
    "Cookie",
    "frames",
    "mtop_sign",
    "new_did",
    "new_mid",
    "new_uuid",
    "plain_id",
    "wire_id",
]
