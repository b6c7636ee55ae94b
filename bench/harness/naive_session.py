"""STAND-IN, replaced at the merge: the `session` branch writes the real ``NaiveSession``.

Until then ``actors.session.Session`` still carries the naive start-up behind
``SessionPlan.naive`` (send /reg, sleep 1 s, ackDiff with pts = now, no zombie probe);
this subclass only switches it on, so the naive strategy works on the `machine` branch
without the production account actor passing ``naive=`` anywhere.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from actors.session import Session, SessionPlan


class NaiveSession(Session):
    """A session that registers the way the original project did (see the module doc)."""

    def __init__(self, plan: SessionPlan, **kwargs: Any) -> None:
        super().__init__(replace(plan, naive=True), **kwargs)
