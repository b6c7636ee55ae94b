"""Log levels an operator can filter on (issue 12 §1.12): what needs a look is a WARNING."""

from __future__ import annotations

from structlog.testing import capture_logs

from actors.messages import ChildState
from tests.plugins.timing import wait_for


def _levels(logs: list[dict], event: str) -> set[str]:
    return {e["log_level"] for e in logs if e["event"] == event}


def test_a_lost_connection_is_a_warning_and_a_dead_login_too(sim, seller, start_account):
    with capture_logs() as logs:
        account = start_account(seller)
        account.wait_online()
        sim.admin.fault(seller.user_id, "drop")
        account.wait_status(lambda s: s.reconnects >= 1 and s.state is ChildState.ONLINE)
        wait_for(lambda: _levels(logs, "session_ended"), what="session_ended")
        assert _levels(logs, "session_ended") == {"warning"}
        sim.admin.revoke(user_id=seller.user_id)
        account.wait_status(lambda s: s.state is ChildState.NEEDS_COOKIE)
        wait_for(lambda: _levels(logs, "needs_cookie"), what="needs_cookie")
    assert _levels(logs, "needs_cookie") == {"warning"}
