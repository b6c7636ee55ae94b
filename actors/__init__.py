"""One pykka actor per seller account: its live Goofish connection and auto-replies.

Modules, one job each:

- ``messages``: the supervisor <-> child contract (shared with ``supervisor/``).
- ``machine``: ``AccountMachine``, the connection and swap states (pure: events in, effects
  out); ``inputs`` and ``effects``: what goes in and what comes out.
- ``account``: ``AccountActor``, the thin actor shell that carries the effects out;
  ``sessions``: its open sessions by id; ``timers``: its named timers on the I/O loop.
- ``session``: ``Session``, one WebSocket connection as a task on the shared IoLoop (a thin
  shell); ``exchange``: its socket side (opening, writes, request futures and deadlines);
  ``tokens``: its token calls (first token, periodic check, Set-Cookie merges).
- ``protocol``: the IM protocol without I/O (frames in; ACKs, pushes, answers, timeouts out).
- ``history``: backfill pagination over a roundtrip callable.
- ``events``: what sessions and timers tell the actor.
- ``delivery``: nothing lost, nothing twice (dedup, backfill, echoes, pauses, replies).
- ``replies``: rule matching and templates (pure).
- ``echoes``, ``liveness``, ``failures``: echo recognition, dead-connection rules and the
  zombie probe's verdict, failure classes and back-off (pure).
- ``testing``: ``AccountHarness`` to run one real actor outside the supervisor, and
  ``FreezableAccountActor`` (the ``Freeze`` hook, for tests and the demo).
"""

from actors.account import AccountActor
from actors.session import Session, SessionPlan

__all__ = ["AccountActor", "Session", "SessionPlan"]
