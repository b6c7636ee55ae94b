"""The shapes of the control answers, as the tests expect them (``docs/ARCHITECTURE.md``): the
supervisor's, the control socket's and the fake supervisor's tests all hold them to these."""

from __future__ import annotations

STATES = {
    "starting",
    "online",
    "reconnecting",
    "backoff",
    "updating",
    "needs_cookie",
    "failed",
    "stopped",
    "disabled",
    "unowned",
}
# one row of ``status``
STATUS_FIELDS = {
    "id",
    "user_id",
    "state",
    "enabled",
    "cookie_version",
    "unsaved",
    "online_since",
    "restarts",
    "crashes",
    "reconnects",
    "last_error",
    "received",
    "replied",
    "login_budget_left",  # login calls left this hour (issue 16); None without a budget
    # session renewal (supervisor.renewals): epoch seconds, or null when not known yet
    "session_expires_at",
    "last_renewal_at",
}
# one entry of ``history``: a fingerprint, never the cookie value
VERSION_FIELDS = {"version", "fingerprint", "status", "source", "created_at", "reason"}
# one entry of ``events``
EVENT_FIELDS = {"at", "account", "kind", "data"}
# the answer to ``update`` and ``rollback``
OUTCOME_FIELDS = {"outcome", "version", "previous_version", "reason", "swap_ms"}
