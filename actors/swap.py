"""What the account machine remembers of a pending make-before-break swap."""

from __future__ import annotations

from dataclasses import dataclass

from actors.effects import CachedToken
from goofish.cookies import Cookie


@dataclass
class PendingSwap:
    """A ``SwapRequested`` whose new session has not registered (nor failed) yet."""

    op_id: int
    cookie: Cookie
    session_id: int
    started: float  # Now.mono when the swap was requested
    # Delivery.newest_seen_ms when the swap started: where its backfill needs to look from
    seen_ms: int
    token: CachedToken | None = None  # kept only if the swap commits
