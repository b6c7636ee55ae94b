"""The Goofish (闲鱼) web IM protocol: pure builders and decoders, plus the async token client.

Nothing here opens sockets or starts threads except ``TokenClient``, which runs on the event
loop that awaits it. Facts are in ``docs/protocol.md``; section numbers in docstrings
refer to it.
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
from goofish.decode import (
    decode_content_json,
    decode_history,
    decode_history_message,
    decode_push,
    decode_push_items,
    is_push,
    page_cursor,
    parse_conversations,
)
from goofish.history import is_flow_controlled
from goofish.ids import new_did, new_mid, new_uuid, plain_id, wire_id
from goofish.messages import (
    ChatMessage,
    ConversationRef,
    Message,
    ReadReceipt,
    SystemEvent,
    TradeCard,
    Typing,
)
from goofish.sign import mtop_sign
from goofish.token import (
    TokenClient,
    TokenOutcome,
    TokenRequest,
    TokenResult,
    build_token_request,
    classify_token_response,
)

__all__ = [
    "BROWSER_UA",
    "DEFAULT_API_URL",
    "DEFAULT_WS_URL",
    "FIRST_PAGE_CURSOR",
    "IM_APP_KEY",
    "MTOP_APP_KEY",
    "REG_UA",
    "TOKEN_API",
    "ChatMessage",
    "ConversationRef",
    "Cookie",
    "Message",
    "ReadReceipt",
    "SystemEvent",
    "TokenClient",
    "TokenOutcome",
    "TokenRequest",
    "TokenResult",
    "TradeCard",
    "Typing",
    "build_token_request",
    "classify_token_response",
    "decode_content_json",
    "decode_history",
    "decode_history_message",
    "decode_push",
    "decode_push_items",
    "frames",
    "is_flow_controlled",
    "is_push",
    "mtop_sign",
    "new_did",
    "new_mid",
    "new_uuid",
    "page_cursor",
    "parse_conversations",
    "plain_id",
    "wire_id",
]
