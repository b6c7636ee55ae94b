"""The Goofish IM protocol of one connection, without I/O (in the spirit of websockets' sans-I/O
``Protocol``): no sockets, no asyncio, no clock of its own.

The shell (``actors/session.py``) feeds it what happens and carries out what it asks:

- in: ``receive_text(text, now)`` for every frame read, ``send``/``send_request`` for what the
  session wants to say, ``heartbeat(now)`` on the heartbeat period, ``expire(now)`` when
  ``next_deadline()`` has passed;
- out: ``data_to_send()`` (text frames to write, in order: every push's ACK is queued before
  anything is decoded from it, fact sheet section 5) and ``events_received()``: the decoded
  items of pushes (``Pushed``), the answers of requests matched by their ``mid``
  (``Answered``), requests not answered within their deadline (``TimedOut``), and what could
  not be read (``FrameUnreadable``, ``PushItemUnreadable``), each in the order it happened.

It also keeps the heartbeat rules of ``actors/liveness.py`` fed (every frame is a sign of
life, a heartbeat's answer clears the miss count) and decides, with ``closed_ending`` and
``registration_refused``, what a closed socket or a ``/reg`` answer means.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from actors.failures import FailureClass
from actors.liveness import Liveness
from common.errors import ProtocolError
from common.sentences import close_code_sentence
from goofish import frames
from goofish.decode import decode_push_items, is_push
from goofish.ids import new_mid
from goofish.messages import Message

# --- what the protocol reports --------------------------------------------------------


@dataclass(frozen=True)
class Pushed:
    """The decodable items of one server push (its ACK is already queued)."""

    messages: tuple[Message, ...]


@dataclass(frozen=True)
class Answered:
    """The response to the request sent with ``mid``."""

    mid: str
    frame: dict[str, Any] = field(hash=False)


@dataclass(frozen=True)
class TimedOut:
    """The request sent with ``mid`` (path ``lwp``) was not answered by its deadline."""

    mid: str
    lwp: str


@dataclass(frozen=True)
class FrameUnreadable:
    """A frame that is not a JSON object was skipped."""

    size: int


@dataclass(frozen=True)
class PushItemUnreadable:
    """One item of a push did not decode; the push's other items were kept."""

    error: ProtocolError


ProtocolEvent = Pushed | Answered | TimedOut | FrameUnreadable | PushItemUnreadable


@dataclass(frozen=True)
class Ending:
    """Why a session is over: the failure class decides the back-off."""

    failure: FailureClass
    reason: str


def closed_ending(code: int | None, *, registered: bool) -> Ending:
    """What the server closing the socket (close code ``code``) means."""
    if not registered:
        # the server closing on us before /reg was answered: the token was most likely
        # refused (section 3.2: "bad token -> close within seconds")
        return Ending(
            FailureClass.AUTH, f"closed before registration ({close_code_sentence(code)})"
        )
    if code == 1000:
        return Ending(FailureClass.NORMAL_CLOSE, "closed by the server (code 1000)")
    return Ending(FailureClass.NETWORK, f"connection lost ({close_code_sentence(code)})")


def registration_refused(reply: dict[str, Any]) -> Ending | None:
    """The ending a ``/reg`` answer means, or None when it registered us (code 200)."""
    if reply.get("code") == 200:
        return None
    return Ending(FailureClass.AUTH, f"/reg refused with code {reply.get('code')}")


@dataclass(frozen=True)
class _Pending:
    lwp: str
    deadline: float


class ImProtocol:
    """One connection's frames, requests and heartbeats. ``now`` is any monotonic clock (s)."""

    def __init__(self, *, self_id: str, request_timeout_s: float, liveness: Liveness) -> None:
        self.self_id = self_id
        self.request_timeout_s = request_timeout_s
        self.liveness = liveness
        self._outgoing: list[str] = []
        self._events: list[ProtocolEvent] = []
        self._pending: dict[str, _Pending] = {}
        self._heartbeats: set[str] = set()

    # --- input ------------------------------------------------------------------------

    def connected(self, now: float) -> None:
        """The socket opened: silence is measured from here."""
        self.liveness.started(now)

    def receive_text(self, text: str | bytes, now: float) -> None:
        """One frame read from the socket."""
        self.liveness.frame_received(now)
        try:
            frame = json.loads(text)
        except ValueError:
            self._events.append(FrameUnreadable(len(text)))
            return
        if not isinstance(frame, dict):
            self._events.append(FrameUnreadable(len(text)))
            return
        lwp = frame.get("lwp")
        if isinstance(lwp, str) and lwp.startswith("/s/"):
            self._on_push(frame)
        elif "code" in frame:
            self._on_response(frame, now)

    def send(self, frame: dict[str, Any]) -> None:
        """Queue a frame that expects no answer (ackDiff, an ACK)."""
        self._outgoing.append(frames.dumps(frame))

    def send_request(
        self, frame: dict[str, Any], now: float, *, timeout_s: float | None = None
    ) -> str:
        """Queue a request; its answer comes out as ``Answered``, or ``TimedOut`` once
        ``timeout_s`` (default ``request_timeout_s``) has passed. Returns the ``mid`` it went
        out with: the frame's own, or a fresh one when that one is still waiting for its
        answer (a mid is a 3-digit random and the ms clock, so a burst of requests in one
        millisecond can repeat one, and an answer must find exactly one request)."""
        mid = frame["headers"]["mid"]
        if self._in_use(mid):
            mid = self._fresh_mid()
            frame = {**frame, "headers": {**frame["headers"], "mid": mid}}
        wait = self.request_timeout_s if timeout_s is None else timeout_s
        self._pending[mid] = _Pending(str(frame.get("lwp", "?")), now + wait)
        self.send(frame)
        return mid

    def heartbeat(self, now: float) -> str | None:
        """The heartbeat period came round: queue a heartbeat, or say why the connection is
        dead (then nothing is queued)."""
        verdict = self.liveness.verdict(now)
        if verdict is not None:
            return verdict
        beat = frames.heartbeat(mid=self._fresh_mid())
        self._heartbeats.add(beat["headers"]["mid"])
        self.liveness.heartbeat_sent(now)
        self.send(beat)
        return None

    def expire(self, now: float) -> None:
        """Requests whose deadline has passed become ``TimedOut`` (their answer, should it
        still come, is ignored)."""
        expired = [mid for mid, pending in self._pending.items() if pending.deadline <= now]
        for mid in expired:
            self._events.append(TimedOut(mid, self._pending.pop(mid).lwp))

    def forget(self, mid: str) -> None:
        """Nobody waits for this request's answer any more."""
        self._pending.pop(mid, None)

    # --- output -----------------------------------------------------------------------

    def data_to_send(self) -> list[str]:
        """The frames to write, in order; each is returned once."""
        out, self._outgoing = self._outgoing, []
        return out

    def events_received(self) -> list[ProtocolEvent]:
        """What happened since the last call, in order; each is returned once."""
        out, self._events = self._events, []
        return out

    def next_deadline(self) -> float | None:
        """When ``expire`` next has something to do (None: no request is waiting)."""
        return min((p.deadline for p in self._pending.values()), default=None)

    @property
    def waiting(self) -> int:
        """How many requests wait for their answer."""
        return len(self._pending)

    # --- routing ----------------------------------------------------------------------

    def _in_use(self, mid: str) -> bool:
        return mid in self._pending or mid in self._heartbeats

    def _fresh_mid(self) -> str:
        while True:
            mid = new_mid()
            if not self._in_use(mid):
                return mid

    def _on_push(self, frame: dict[str, Any]) -> None:
        # every push is ACKed, before decoding and whatever it holds (section 5)
        self.send(frames.ack(frame))
        if not is_push(frame):
            return
        messages = []
        for result in decode_push_items(frame, self_id=self.self_id):
            if isinstance(result, ProtocolError):
                self._events.append(PushItemUnreadable(result))
            else:
                messages.append(result)
        if messages:
            self._events.append(Pushed(tuple(messages)))

    def _on_response(self, frame: dict[str, Any], now: float) -> None:
        headers = frame.get("headers")
        mid = headers.get("mid") if isinstance(headers, dict) else None
        if not isinstance(mid, str):
            return
        if mid in self._heartbeats:
            self._heartbeats.discard(mid)
            self.liveness.heartbeat_answered(now)
        elif self._pending.pop(mid, None) is not None:
            self._events.append(Answered(mid, frame))
