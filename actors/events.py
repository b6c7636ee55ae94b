"""What a ``Session`` (on the IoLoop) tells its account actor, and the actor's own timers.

All frozen dataclasses, delivered with ``ActorRef.tell``; every one names the session it
comes from, so the actor can ignore news from a session it already let go. Token and cookie
values are secrets and are kept out of ``repr``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from actors.failures import FailureClass
from goofish.messages import ChatMessage, Message

# --- session -> actor -----------------------------------------------------------------


@dataclass(frozen=True)
class TokenIssued:
    """The token API issued a token for ``did``; the actor caches it."""

    session_id: int
    token: str = field(repr=False)
    did: str


@dataclass(frozen=True)
class CookieMerged:
    """A token call's Set-Cookie changed the cookie; the actor persists it."""

    session_id: int
    old_value: str = field(repr=False)
    new_value: str = field(repr=False)


@dataclass(frozen=True)
class SessionRegistered:
    """``/reg`` was answered with code 200: pushes flow and replies can go out."""

    session_id: int


@dataclass(frozen=True)
class PushReceived:
    """The decoded items of one server push (already ACKed by the session)."""

    session_id: int
    messages: tuple[Message, ...]


@dataclass(frozen=True)
class RequestAnswered:
    """The response to a request the actor made (``response`` None when it failed)."""

    session_id: int
    tag: object
    response: dict[str, Any] | None = field(default=None, hash=False)
    error: str | None = None


@dataclass(frozen=True)
class BackfillFetched:
    """Messages of the conversations modified since ``since_ms``, in no particular order."""

    session_id: int
    since_ms: int
    messages: tuple[ChatMessage, ...]
    error: str | None = None


@dataclass(frozen=True)
class SessionEnded:
    """The session is over; ``registered_for_s`` is None when it never registered."""

    session_id: int
    reason: str
    failure: FailureClass
    registered_for_s: float | None = None


# --- actor -> itself (timers on the IoLoop) -------------------------------------------


@dataclass(frozen=True)
class Reconnect:
    """The back-off wait of reconnect attempt ``attempt`` is over."""

    attempt: int


@dataclass(frozen=True)
class BackfillDue:
    """Time to backfill again: a reply went unconfirmed and its message waits (debounced)."""


@dataclass(frozen=True)
class ProbationExpired:
    """The new session of swap ``op_id`` did not register in time."""

    op_id: int
