"""One pykka actor per seller account: its live Goofish connection and auto-replies.

Modules, one job each:

- ``messages``: the supervisor <-> child contract (shared with ``supervisor/``).
- ``account``: ``AccountActor``, the thin actor shell and its connection state machine.
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
- ``testing``: ``AccountHarness`` to run one real actor outside the supervisor.
"""

from actors.account import AccountActor
from actors.session import Session, SessionPlan

__all__ = ["AccountActor", "Session", "SessionPlan"]
