"""The database failing under a running service: a lock held by another process during an
update, and event writes that raise. Nothing half-written, no account taken down."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from common.errors import StorageError, XianyuSupervisorError
from service.app import Service
from tests.plugins.faults import Chat, row, wait_state
from tests.plugins.simulator import second_login
from tests.plugins.storage import LockHolder
from tests.plugins.timing import wait_for

pytestmark = pytest.mark.usefixtures("secrets_guard")


@pytest.fixture
def lock_database(service: Service) -> Iterator[Callable[[], LockHolder]]:
    holders: list[LockHolder] = []

    def lock() -> LockHolder:
        holders.append(
            LockHolder(service.settings.effective_database_url.removeprefix("sqlite:///"))
        )
        return holders[-1]

    yield lock
    for holder in holders:
        holder.close()


@pytest.fixture
def failing_events(service: Service, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every event write of the service raises, as a full disk or a broken table would."""
    attempted: list[str] = []

    def record_event(kind: str, account_id: str | None = None, **data: object) -> None:
        attempted.append(kind)
        raise StorageError(f"cannot record event {kind!r}: disk I/O error")

    monkeypatch.setattr(service.store, "record_event", record_event)
    return attempted


@pytest.mark.slow
def test_update_while_another_process_locks_the_database_fails_cleanly_and_the_old_cookie_serves(
    sim, seller, service, lock_database
):
    client = service.client
    chat = Chat(sim, seller)
    chat.push("before")
    chat.wait_answered()
    lock_holder = lock_database()
    chat.push("during the lock")
    with pytest.raises(XianyuSupervisorError, match="locked by another process"):
        client.update("shop", second_login(sim, seller))
    lock_holder.release()
    chat.push("after")
    chat.wait_answered()
    chat.assert_each_answered_once()
    assert row(client, "shop")["state"] == "online"
    assert row(client, "shop")["cookie_version"] == 1
    versions = client.history("shop")["versions"]
    assert [(v["version"], v["status"]) for v in versions] == [(1, "active")]
    # and the next update goes through
    assert client.update("shop", second_login(sim, seller))["outcome"] == "applied"


def test_failing_event_writes_do_not_stop_an_account_from_answering(
    sim, seller, service, failing_events
):
    chat = Chat(sim, seller)
    sim.admin.fault(seller.user_id, "drop")
    chat.push("after a drop")
    chat.wait_answered()
    chat.assert_each_answered_once()
    assert row(service.client, "shop")["state"] == "online"


def test_a_kill_whose_event_cannot_be_written_still_starts_a_fresh_generation(
    sim, seller, service, failing_events
):
    client = service.client
    chat = Chat(sim, seller)
    assert client.kill("shop") == {"outcome": "killed"}
    assert "killed" in failing_events
    wait_for(lambda: row(client, "shop")["restarts"] >= 1, what="a fresh generation")
    wait_state(client, "shop", "online")
    chat.push("after the kill")
    chat.wait_answered()
    chat.assert_each_answered_once()


def test_a_revoked_session_whose_event_cannot_be_written_still_parks_in_needs_cookie(
    sim, seller, service, failing_events
):
    client = service.client
    sim.admin.revoke(user_id=seller.user_id)
    wait_state(client, "shop", "needs_cookie")
    assert "needs_cookie" in failing_events
    chat = Chat(sim, seller)
    chat.push("while parked")
    result = client.update("shop", second_login(sim, seller))
    assert result["outcome"] == "applied"
    chat.wait_answered()
    chat.assert_each_answered_once()
