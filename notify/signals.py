"""From what the service shows (status rows, event log) to ``Signal``s for the policy. Pure.

States say what an account *is* (``needs_cookie``, ``failed``, ``backoff`` because of risk
control, ``online``); events say what *happened* (an update rolled back, a renewal failed,
the login budget ran out, a new cookie applied). Signals may repeat: the policy ignores a
condition that is already open and the end of one that is not.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from notify import kinds
from notify.policy import Signal
from storage.records import EventRecord

# how the token API's risk-control answer shows in an account's last error (goofish.token)
RISK_MARKERS = ("risk control", "RGV587", "FAIL_SYS_USER_VALIDATE", "punish", "captcha")
_URL = re.compile(r"https?://[^\s;,'\"]+")

_ROLLED_BACK_EVENTS = frozenset({"update_rolled_back", "rollback_rolled_back"})
# a renewal that was rolled back is a failed renewal: the operator's action is the same
_RENEWAL_FAILED_EVENTS = frozenset({"renewal_failed", "renewal_rolled_back"})
_NEW_COOKIE_EVENTS = frozenset({"update_applied", "rollback_applied", "renewal_applied"})


def _detail(text: object) -> str:
    return text if isinstance(text, str) else ""


def is_risk_control(last_error: str) -> bool:
    return any(marker.lower() in last_error.lower() for marker in RISK_MARKERS)


def risk_detail(last_error: str) -> str:
    """The punish URL when the error names one, else the error itself."""
    found = _URL.search(last_error)
    return f"punish URL: {found.group(0)}" if found else last_error


def _close_all(account_id: str, *, announce: bool) -> list[Signal]:
    return [Signal(account_id, kind, opened=False, announce=announce) for kind in sorted(kinds.ALL)]


def status_signals(rows: Iterable[Mapping[str, Any]], tracked: Iterable[str]) -> list[Signal]:
    """Signals from one ``status`` answer; ``tracked`` accounts missing from it were removed."""
    signals: list[Signal] = []
    seen = set()
    for row in rows:
        account_id = str(row.get("id"))
        seen.add(account_id)
        state = row.get("state")
        error = _detail(row.get("last_error"))
        if state == "needs_cookie":
            signals.append(Signal(account_id, kinds.NEEDS_COOKIE, opened=True, detail=error))
        elif state == "failed":
            signals.append(Signal(account_id, kinds.FAILED, opened=True, detail=error))
        elif state == "backoff" and is_risk_control(error):
            detail = risk_detail(error)
            signals.append(Signal(account_id, kinds.RISK_CONTROL, opened=True, detail=detail))
        elif state == "online":
            signals.extend(
                Signal(account_id, kind, opened=False) for kind in sorted(kinds.ENDED_BY_ONLINE)
            )
        elif state == "disabled":
            signals.extend(_close_all(account_id, announce=False))
    for account_id in sorted(set(tracked) - seen):
        signals.extend(_close_all(account_id, announce=False))
    return signals


def _unattended(event: EventRecord) -> bool:
    """A renewal failure nobody hears of otherwise: a scheduled one (the account still serves).
    A reactive one ends in ``needs_cookie`` (its own notice, with the same reason) or in a retry;
    an operator's ``ctl renew`` answers the operator."""
    return event.data.get("trigger", "scheduled") == "scheduled"


def event_signals(events: Iterable[EventRecord]) -> list[Signal]:
    """Signals from new events of the log, oldest first."""
    signals: list[Signal] = []
    for event in events:
        account_id = event.account_id
        if account_id is None:
            continue
        reason = _detail(event.data.get("reason"))
        if event.kind in _ROLLED_BACK_EVENTS:
            signals.append(Signal(account_id, kinds.ROLLED_BACK, opened=True, detail=reason))
        elif event.kind in _RENEWAL_FAILED_EVENTS and _unattended(event):
            signals.append(Signal(account_id, kinds.RENEWAL_FAILED, opened=True, detail=reason))
        elif event.kind == kinds.LOGIN_BUDGET_EXHAUSTED:
            detail = reason or _detail(event.data.get("error"))
            signals.append(
                Signal(account_id, kinds.LOGIN_BUDGET_EXHAUSTED, opened=True, detail=detail)
            )
        elif event.kind in _NEW_COOKIE_EVENTS:
            signals.extend(
                Signal(account_id, kind, opened=False) for kind in sorted(kinds.ENDED_BY_NEW_COOKIE)
            )
        elif event.kind == "removed":
            signals.extend(_close_all(account_id, announce=False))
    return signals
