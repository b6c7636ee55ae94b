"""The supervisor actor with fake children that really implement the child contract.

``ScriptedChild`` is a real pykka actor speaking ``actors.messages`` (StatusCell, notify,
SwapCookie, Freeze, Fence); what it does is decided by markers in its cookie, so each test
scripts a scenario without sockets. The simulator-backed tests use real AccountActors.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pykka
import pytest
from structlog.testing import capture_logs

from actors.messages import (
    AccountSpec,
    ChildCrashed,
    ChildState,
    ChildStateChanged,
    ChildStopped,
    Fence,
    Freeze,
    Notify,
    StatusCell,
    SwapCookie,
    SwapFinished,
)
from common.errors import (
    AlreadyExistsError,
    ConflictError,
    CookieError,
    NotFoundError,
    StorageError,
    XianyuSupervisorError,
)
from common.io_loop import IoLoop
from common.settings import Backoff, Settings, Timings
from storage import Store
from supervisor import SupervisorClient, start_supervisor
from tests.plugins.faults import wait_state
from tests.plugins.timing import wait_for
from tests.plugins.vocabulary import EVENT_FIELDS, STATUS_FIELDS, VERSION_FIELDS

SELLER = "2200000001"
TIMINGS = Timings(
    probation_s=1.0,
    stop_timeout_s=0.3,
    restart_backoff=Backoff(base_s=0.01, cap_s=0.05),
    restart_intensity=3,
    restart_window_s=30.0,
)


def cookie(tag: str, unb: str = SELLER) -> str:
    """A cookie whose ``t`` value scripts the fake child: dead, slow, crash, boot-crash..."""
    return f"unb={unb}; cookie2=c2; t={tag}"


class ScriptedChild(pykka.ThreadingActor):
    """A child generation obeying the supervisor contract, scripted by its cookie's ``t``."""

    def __init__(
        self, spec: AccountSpec, *, fence: Fence, status: StatusCell, notify: Notify
    ) -> None:
        super().__init__()
        self.spec = spec
        self.fence = fence
        self.cell = status
        self.notify = notify
        self.cookie = spec.cookie

    def _tag(self, value: str) -> str:
        return value.rpartition("t=")[2]

    def _publish(self, state: ChildState, **changes: Any) -> None:
        current = self.cell.read()
        online_since = time.time() if state is ChildState.ONLINE else current.online_since
        self.cell.publish(replace(current, state=state, online_since=online_since, **changes))
        self.notify(
            ChildStateChanged(
                self.spec.account_id, self.spec.generation, state, changes.get("last_error")
            )
        )

    def on_start(self) -> None:
        tag = self._tag(self.cookie)
        if tag == "silent-crash":
            raise RuntimeError("on_start failed and told nobody")
        if tag == "crash":
            self.notify(ChildCrashed(self.spec.account_id, self.spec.generation, "on_start failed"))
            raise RuntimeError("on_start failed")
        if tag == "dead":
            self._publish(ChildState.NEEDS_COOKIE, last_error="session expired")
        elif tag != "never-online":
            self._publish(ChildState.ONLINE, received=1)

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, Freeze):
            time.sleep(message.seconds)  # the stuck handler timeout-kill exists for
        elif isinstance(message, SwapCookie):
            self._swap(message)
        elif message == "crash":
            raise RuntimeError("handler crashed")

    def _swap(self, message: SwapCookie) -> None:
        tag = self._tag(message.cookie)
        if tag == "slow":
            return  # never registers: probation must expire
        ok = tag != "dead"
        if ok:
            self.cookie = message.cookie
        self.notify(
            SwapFinished(
                self.spec.account_id,
                self.spec.generation,
                message.op_id,
                ok=ok,
                reason=None if ok else "session expired",
                swap_ms=3.5 if ok else None,
            )
        )

    def on_failure(self, *_exc_info: Any) -> None:
        self.notify(ChildCrashed(self.spec.account_id, self.spec.generation, "handler crashed"))

    def on_stop(self) -> None:
        if not self.fence.tripped:
            self._publish(ChildState.STOPPED)
        self.notify(ChildStopped(self.spec.account_id, self.spec.generation))


class Children:
    """The fake factory: starts ScriptedChild generations and remembers them."""

    def __init__(self) -> None:
        self.started: list[tuple[AccountSpec, pykka.ActorRef[Any]]] = []
        self.started_at: list[float] = []
        self._lock = threading.Lock()

    def __call__(
        self, spec: AccountSpec, *, fence: Fence, status: StatusCell, notify: Notify
    ) -> pykka.ActorRef[Any]:
        ref = ScriptedChild.start(spec, fence=fence, status=status, notify=notify)
        with self._lock:
            self.started.append((spec, ref))
            self.started_at.append(time.monotonic())
        return ref

    def of(self, account_id: str) -> list[AccountSpec]:
        with self._lock:
            return [spec for spec, _ in self.started if spec.account_id == account_id]

    def ref(self, account_id: str, generation: int) -> pykka.ActorRef[Any]:
        with self._lock:
            return next(
                ref
                for spec, ref in self.started
                if spec.account_id == account_id and spec.generation == generation
            )


@pytest.fixture
def io() -> Iterator[IoLoop]:
    loop = IoLoop("test-io").start()
    yield loop
    loop.stop()


@pytest.fixture
def children() -> Children:
    return Children()


@pytest.fixture
def boot(sqlite_store: Store, io: IoLoop, children: Children) -> Iterator[Any]:
    clients: list[SupervisorClient] = []

    def _boot(timings: Timings = TIMINGS) -> SupervisorClient:
        settings = Settings(timings=timings)
        client = start_supervisor(sqlite_store, io, None, settings, child_factory=children)
        clients.append(client)
        return client

    yield _boot
    for client in clients:
        client.shutdown(timeout=1.0)


def state_of(client: SupervisorClient, account_id: str) -> str:
    return client.status(account_id)["accounts"][0]["state"]


def kinds(store: Store, account_id: str) -> list[str]:
    return [e.kind for e in reversed(store.events(account_id))]


@pytest.fixture
def online(boot: Any, sqlite_store: Store) -> SupervisorClient:
    """A supervisor with account 'shop' online on cookie version 1."""
    sqlite_store.add_account("shop", cookie("v1"), SELLER)
    client = boot()
    wait_state(client, "shop", "online")
    return client


# --- boot and status ---------------------------------------------------------------------


def test_boot_starts_enabled_accounts_and_reports_status_in_the_control_vocabulary(
    boot, sqlite_store, children
):
    sqlite_store.add_account("a", cookie("v1"), SELLER)
    sqlite_store.add_account("b", cookie("v1"), SELLER, enabled=False)
    client = boot()
    wait_state(client, "a", "online")
    accounts = client.status()["accounts"]
    assert [a["id"] for a in accounts] == ["a", "b"]
    assert all(set(a) == STATUS_FIELDS for a in accounts)
    a, b = accounts
    assert a["cookie_version"] == 1 and a["unsaved"] is False and a["received"] == 1
    assert a["online_since"] is not None
    assert b["state"] == "disabled"
    assert children.of("b") == []


def test_boot_fails_versions_a_killed_process_left_pending(boot, sqlite_store):
    sqlite_store.add_account("shop", cookie("v1"), SELLER)
    sqlite_store.propose_cookie("shop", cookie("v2"), source="admin")  # then SIGKILL
    client = boot()
    history = client.history("shop")["versions"]
    assert [(v["version"], v["status"], v["reason"]) for v in history] == [
        (2, "failed", "interrupted"),
        (1, "active", None),
    ]
    wait_state(client, "shop", "online")
    assert client.status("shop")["accounts"][0]["cookie_version"] == 1
    failed = next(e for e in client.events()["events"] if e["kind"] == "pending_versions_failed")
    assert (failed["data"]["count"], failed["data"]["accounts"]) == (1, ["shop"])


def test_boot_spreads_the_starts_over_time_at_the_configured_rate(boot, sqlite_store, children):
    for i in range(5):
        sqlite_store.add_account(f"a{i}", cookie("v1"), SELLER)
    client = boot(replace(TIMINGS, start_rate_per_s=20.0))
    wait_for(lambda: all(a["state"] == "online" for a in client.status()["accounts"]))
    span = children.started_at[-1] - children.started_at[0]
    assert span >= 4 / 20.0 * 0.9  # five starts at 20/s: the last one 0.2 s after the first


def test_events_name_the_cookie_by_fingerprint_never_by_value(online, sqlite_store):
    secret = cookie("v2-secret-value")
    online.update("shop", secret)
    applied = next(e for e in sqlite_store.events("shop") if e.kind == "update_applied")
    assert applied.data["fingerprint"] == sqlite_store.active_cookie("shop").fingerprint
    assert all("secret-value" not in str(e.data) for e in sqlite_store.events("shop"))


def test_unknown_account_is_not_found(online):
    with pytest.raises(NotFoundError, match="ctl status"):
        online.status("nope")
    with pytest.raises(NotFoundError):
        online.restart("nope")


# --- update -------------------------------------------------------------------------------


def test_update_swaps_the_live_child_and_activates_the_version(online, sqlite_store, children):
    result = online.update("shop", cookie("v2"))
    assert result == {
        "outcome": "applied",
        "version": 2,
        "previous_version": 1,
        "reason": None,
        "swap_ms": 3.5,
    }
    assert [spec.generation for spec in children.of("shop")] == [1]  # no restart: a live swap
    statuses = {v["version"]: v["status"] for v in online.history("shop")["versions"]}
    assert statuses == {2: "active", 1: "superseded"}
    assert online.status("shop")["accounts"][0]["cookie_version"] == 2
    assert "update_applied" in kinds(sqlite_store, "shop")


def test_a_swap_that_cannot_be_committed_fails_and_restarts_on_the_stored_cookie(
    online, sqlite_store, children, monkeypatch
):
    def locked(*_args, **_kwargs):
        raise StorageError("activating cookie version 2 of 'shop': database is locked")

    monkeypatch.setattr(sqlite_store, "activate_version", locked)
    with pytest.raises(StorageError, match="database is locked"):
        online.update("shop", cookie("v2"))
    fresh = children.of("shop")[-1]
    assert (fresh.generation, fresh.cookie_version, fresh.cookie) == (2, 1, cookie("v1"))
    wait_state(online, "shop", "online")
    assert online.status("shop")["accounts"][0]["cookie_version"] == 1


def test_a_refused_swap_rolls_back_and_keeps_the_old_session(online, sqlite_store, children):
    result = online.update("shop", cookie("dead"))
    assert result["outcome"] == "rolled_back"
    assert result["reason"] == "session expired"
    assert (result["version"], result["previous_version"]) == (2, 1)
    versions = {v["version"]: v for v in online.history("shop")["versions"]}
    assert versions[2]["status"] == "failed" and versions[2]["reason"] == "session expired"
    assert versions[1]["status"] == "active"
    assert state_of(online, "shop") == "online"
    assert len(children.of("shop")) == 1
    assert "update_rolled_back" in kinds(sqlite_store, "shop")


def test_a_swap_that_misses_probation_returns_to_the_previous_cookie(online, children):
    started = time.monotonic()
    result = online.update("shop", cookie("slow"))
    assert result["outcome"] == "rolled_back"
    assert "not registered within 1s" in result["reason"]
    assert time.monotonic() - started < TIMINGS.probation_s + TIMINGS.stop_timeout_s + 1.0
    fresh = children.of("shop")[-1]
    assert fresh.generation == 2 and fresh.cookie_version == 1
    wait_state(online, "shop", "online")


def test_updating_a_parked_child_starts_a_fresh_generation_on_probation(
    boot, sqlite_store, children
):
    sqlite_store.add_account("shop", cookie("dead"), SELLER)
    client = boot()
    wait_state(client, "shop", "needs_cookie")
    result = client.update("shop", cookie("v2"))
    assert result["outcome"] == "applied" and result["version"] == 2
    assert result["swap_ms"] is not None
    assert [spec.generation for spec in children.of("shop")] == [1, 2]
    wait_state(client, "shop", "online")


def test_a_fresh_generation_rejected_on_probation_rolls_back(boot, sqlite_store, children):
    sqlite_store.add_account("shop", cookie("crash"), SELLER, enabled=True)
    client = boot()
    wait_for(lambda: len(children.of("shop")) >= 1)
    result = client.update("shop", cookie("dead"))
    assert result["outcome"] == "rolled_back"
    assert "session expired" in result["reason"]
    assert children.of("shop")[-1].cookie_version == 1


def test_another_sellers_cookie_is_refused_unless_forced(online):
    with pytest.raises(ConflictError, match=r"belongs to seller 999.*force"):
        online.update("shop", cookie("v2", unb="999"))
    assert online.status("shop")["accounts"][0]["cookie_version"] == 1
    assert online.update("shop", cookie("v2", unb="999"), force=True)["outcome"] == "applied"


def test_an_unparseable_cookie_is_refused(online):
    with pytest.raises(CookieError):
        online.update("shop", "no equals sign here")


def test_the_active_cookie_again_is_unchanged(online):
    result = online.update("shop", cookie("v1"))
    assert result["outcome"] == "unchanged" and result["version"] == 1


def test_an_unsaved_update_lives_in_memory_until_a_saved_one(online, sqlite_store):
    result = online.update("shop", cookie("trial"), save=False)
    assert result["outcome"] == "applied" and result["version"] is None
    row = online.status("shop")["accounts"][0]
    assert row["unsaved"] is True and row["cookie_version"] is None
    assert [v["version"] for v in online.history("shop")["versions"]] == [1]
    saved = online.update("shop", cookie("trial"))  # persist what is already running
    assert saved["outcome"] == "applied" and saved["version"] == 2
    row = online.status("shop")["accounts"][0]
    assert row["unsaved"] is False and row["cookie_version"] == 2


def test_a_disabled_accounts_update_is_stored_not_started(boot, sqlite_store, children):
    sqlite_store.add_account("shop", cookie("v1"), SELLER, enabled=False)
    client = boot()
    result = client.update("shop", cookie("v2"))
    assert result["outcome"] == "stored" and result["version"] == 2
    assert sqlite_store.active_cookie("shop").number == 2
    assert children.of("shop") == []
    client.enable("shop")
    wait_state(client, "shop", "online")
    assert children.of("shop")[0].cookie_version == 2


def test_update_without_waiting_is_accepted_and_lands_in_events(online, sqlite_store):
    assert online.update("shop", cookie("v2"), wait=False)["outcome"] == "accepted"
    wait_for(lambda: "update_applied" in kinds(sqlite_store, "shop"))


def test_a_refused_operation_after_accepted_lands_in_the_events(online, sqlite_store):
    online.disable("shop")
    assert online.restart("shop", wait=False)["outcome"] == "accepted"
    wait_for(lambda: "operation_failed" in kinds(sqlite_store, "shop"))
    failed = next(e for e in sqlite_store.events("shop") if e.kind == "operation_failed")
    assert failed.data["operation"] == "restart" and "ctl enable" in failed.data["error"]


def test_rollback_goes_back_to_the_previous_good_version(online, sqlite_store):
    online.update("shop", cookie("v2"))
    result = online.rollback("shop")
    assert result["outcome"] == "applied"
    assert (result["version"], result["previous_version"]) == (1, 2)
    statuses = {v["version"]: v["status"] for v in online.history("shop")["versions"]}
    assert statuses == {1: "active", 2: "rolled_back"}
    assert "rollback_applied" in kinds(sqlite_store, "shop")


def test_a_failed_rollback_keeps_serving_and_leaves_its_target_untouched(boot, sqlite_store):
    sqlite_store.add_account("shop", cookie("dead"), SELLER)
    client = boot()
    wait_state(client, "shop", "needs_cookie")
    assert client.update("shop", cookie("v2"))["outcome"] == "applied"
    result = client.rollback("shop", to_version=1)
    assert result["outcome"] == "rolled_back"
    assert (result["version"], result["previous_version"]) == (1, 2)
    statuses = {v["version"]: v["status"] for v in client.history("shop")["versions"]}
    assert statuses == {1: "superseded", 2: "active"}
    assert state_of(client, "shop") == "online"
    assert "rollback_rolled_back" in kinds(sqlite_store, "shop")


def test_a_disabled_accounts_rollback_is_stored_and_names_the_version_it_replaced(
    boot, sqlite_store, children
):
    sqlite_store.add_account("shop", cookie("v1"), SELLER, enabled=False)
    client = boot()
    assert client.update("shop", cookie("v2"))["outcome"] == "stored"
    result = client.rollback("shop")
    assert result["outcome"] == "stored"
    assert (result["version"], result["previous_version"]) == (1, 2)
    statuses = {v["version"]: v["status"] for v in client.history("shop")["versions"]}
    assert statuses == {1: "active", 2: "rolled_back"}
    assert "rollback_stored" in kinds(sqlite_store, "shop")
    assert children.of("shop") == []


def test_rollback_without_an_earlier_version_is_not_found(online):
    with pytest.raises(NotFoundError, match="no earlier good cookie"):
        online.rollback("shop")


# --- restart, kill, stuck children ---------------------------------------------------------


def test_restart_stops_gracefully_and_starts_a_fresh_generation(online, children):
    result = online.restart("shop")
    assert result["outcome"] == "restarted"
    assert result["stop_ms"] < TIMINGS.stop_timeout_s * 1000
    assert [spec.generation for spec in children.of("shop")] == [1, 2]
    wait_state(online, "shop", "online")
    assert online.status("shop")["accounts"][0]["restarts"] == 1


def test_a_stuck_child_is_killed_at_the_stop_deadline_and_replaced(online, sqlite_store, children):
    online.freeze("shop", 1.5)
    started = time.monotonic()
    result = online.restart("shop")
    assert result["outcome"] == "killed_and_restarted"
    assert time.monotonic() - started < TIMINGS.stop_timeout_s + 1.0
    wait_state(online, "shop", "online")
    assert "killed" in kinds(sqlite_store, "shop")
    assert online.status("shop")["accounts"][0]["crashes"] == 1  # cut off at its deadline
    old = children.ref("shop", 1)
    assert old.is_alive()  # still blocked; fenced, and ignored when it wakes up


def test_a_stuck_account_does_not_delay_another_accounts_operations(boot, sqlite_store):
    sqlite_store.add_account("stuck", cookie("v1"), SELLER)
    sqlite_store.add_account("fine", cookie("v1", "2200000002"), "2200000002")
    client = boot(replace(TIMINGS, stop_timeout_s=1.5))
    wait_state(client, "stuck", "online")
    wait_state(client, "fine", "online")
    client.freeze("stuck", 2.0)
    client.restart("stuck", wait=False)  # in flight until the 1.5 s stop deadline
    assert client.update("fine", cookie("v2", "2200000002"))["outcome"] == "applied"
    assert client.update("fine", cookie("v3", "2200000002"))["outcome"] == "applied"
    assert "restarted" not in kinds(sqlite_store, "stuck")  # the stuck one is still waiting
    wait_for(lambda: "restarted" in kinds(sqlite_store, "stuck"))
    assert "killed" in kinds(sqlite_store, "stuck")


def test_kill_fences_the_generation_at_once_and_starts_a_fresh_one(online, sqlite_store, children):
    online.freeze("shop", 1.0)
    assert online.kill("shop") == {"outcome": "killed"}
    wait_state(online, "shop", "online")
    assert [spec.generation for spec in children.of("shop")] == [1, 2]
    assert "killed" in kinds(sqlite_store, "shop")
    assert online.status("shop")["accounts"][0]["crashes"] == 0  # an operator kill


# --- crashes ---------------------------------------------------------------------------


def test_a_crashed_child_is_restarted_one_for_one(online, sqlite_store, children):
    children.ref("shop", 1).tell("crash")
    wait_for(lambda: len(children.of("shop")) == 2)
    wait_state(online, "shop", "online")
    assert "crashed" in kinds(sqlite_store, "shop")


def test_a_crashed_child_waits_out_its_back_off_in_the_backoff_state(boot, sqlite_store, children):
    sqlite_store.add_account("shop", cookie("v1"), SELLER)
    client = boot(replace(TIMINGS, restart_backoff=Backoff(base_s=0.5, cap_s=0.5, jitter=0.0)))
    wait_state(client, "shop", "online")
    children.ref("shop", 1).tell("crash")
    wait_state(client, "shop", "backoff")
    assert len(children.of("shop")) == 1
    wait_state(client, "shop", "online")
    status = client.status("shop")["accounts"][0]
    assert (status["restarts"], status["crashes"]) == (1, 1)


def test_a_factory_that_raises_counts_as_a_crash_and_is_retried(sqlite_store, io, children):
    sqlite_store.add_account("shop", cookie("v1"), SELLER)
    failures = iter([RuntimeError("constructor failed")])

    def flaky(spec, **kwargs):
        failure = next(failures, None)
        if failure is not None:
            raise failure
        return children(spec, **kwargs)

    client = start_supervisor(
        sqlite_store, io, None, Settings(timings=TIMINGS), child_factory=flaky
    )
    try:
        wait_state(client, "shop", "online")
        errors = [e.data["error"] for e in sqlite_store.events("shop") if e.kind == "crashed"]
        assert errors == ["start failed: constructor failed"]
    finally:
        client.shutdown(timeout=1.0)


def test_past_the_restart_intensity_the_account_fails_until_an_operator_acts(
    boot, sqlite_store, children
):
    sqlite_store.add_account("shop", cookie("crash"), SELLER)
    client = boot()
    wait_state(client, "shop", "failed")
    assert len(children.of("shop")) == TIMINGS.restart_intensity + 1
    assert kinds(sqlite_store, "shop").count("failed") == 1
    assert "ctl restart" in client.status("shop")["accounts"][0]["last_error"]
    client.update("shop", cookie("v2"))
    wait_state(client, "shop", "online")


def test_a_silent_crash_in_on_start_is_noticed_and_restarted(boot, sqlite_store, children):
    sqlite_store.add_account("shop", cookie("silent-crash"), SELLER)
    client = boot()
    wait_state(client, "shop", "failed")
    errors = [e.data.get("error") for e in sqlite_store.events("shop") if e.kind == "crashed"]
    assert errors and all(e == "exited without notice" for e in errors)


# --- add, disable, enable, remove, shutdown -----------------------------------------------


def test_add_starts_the_account_and_refuses_a_duplicate(boot):
    client = boot()
    assert client.add("new", cookie("v1"))["outcome"] == "added"
    wait_state(client, "new", "online")
    assert client.status("new")["accounts"][0]["user_id"] == SELLER
    with pytest.raises(AlreadyExistsError):
        client.add("new", cookie("v1"))
    with pytest.raises(CookieError):
        client.add("other", "garbage")


def test_disable_stops_and_keeps_data_enable_starts_again(online, sqlite_store, children):
    assert online.disable("shop")["outcome"] == "disabled"
    assert state_of(online, "shop") == "disabled"
    assert not children.ref("shop", 1).is_alive()
    assert sqlite_store.get_account("shop").enabled is False
    with pytest.raises(ConflictError, match="ctl enable"):
        online.restart("shop")
    online.enable("shop")
    wait_state(online, "shop", "online")


def test_remove_stops_the_child_and_deletes_the_account(online, sqlite_store, children):
    assert online.remove("shop")["outcome"] == "removed"
    assert not children.ref("shop", 1).is_alive()
    with pytest.raises(NotFoundError):
        sqlite_store.get_account("shop")
    with pytest.raises(NotFoundError):
        online.status("shop")


def test_shutdown_kills_what_does_not_stop_in_time(online, children):
    online.freeze("shop", 1.0)
    result = online.shutdown(timeout=0.2)
    assert result["outcome"] == "stopped" and result["killed"] == 1
    assert not online.actor_ref.is_alive()
    with pytest.raises(XianyuSupervisorError, match="not running"):
        online.status()


def test_operations_on_one_account_are_serialized(online, sqlite_store):
    first = online.update("shop", cookie("v2"), wait=False)
    second = online.update("shop", cookie("v3"))
    assert first["outcome"] == "accepted"
    assert second["outcome"] == "applied"
    assert (second["version"], second["previous_version"]) == (3, 2)


# --- logging ---------------------------------------------------------------------------------


def test_each_lifecycle_outcome_is_one_info_line_without_the_cookie(online):
    secret = cookie("v2-very-secret")
    with capture_logs() as logs:
        online.update("shop", secret)
        online.update("shop", cookie("dead"))
        online.restart("shop")
    info = [e for e in logs if e["log_level"] in ("info", "warning")]
    events = [e["event"] for e in info]
    for kind in ("update_applied", "update_rolled_back", "restarted"):
        assert events.count(kind) == 1
    # a rollback is for an operator to see
    assert next(e for e in info if e["event"] == "update_rolled_back")["log_level"] == "warning"
    assert all(e.get("account") == "shop" for e in info)
    assert not any("very-secret" in str(e) for e in logs)


# --- reads and settings through the client --------------------------------------------------


def test_rules_are_replaced_and_read_back_in_the_control_shape(online):
    result = online.set_rules(
        "shop",
        [
            {"keyword": "price", "reply": "10 yuan"},
            {"keyword": "ship", "reply": "SF", "item_id": "9"},
        ],
        default_reply={"text": "hi", "once_per_chat": False},
    )
    assert result == {
        "rules": [
            {"keyword": "price", "reply": "10 yuan", "item_id": None},
            {"keyword": "ship", "reply": "SF", "item_id": "9"},
        ],
        "default_reply": {"text": "hi", "once_per_chat": False},
    }
    assert online.rules("shop") == result
    with pytest.raises(ValueError, match="keyword"):
        online.set_rules("shop", [{"reply": "no keyword"}])


def test_set_account_is_a_partial_update_returning_the_account(online):
    account = online.set_account("shop", remark="main shop")["account"]
    assert account["remark"] == "main shop" and account["pause_minutes"] == 10
    account = online.set_account("shop", pause_minutes=3)["account"]
    assert (account["remark"], account["pause_minutes"]) == ("main shop", 3)
    assert account["id"] == "shop" and account["user_id"] == SELLER


def test_history_and_events_are_json_shaped_without_cookie_values(online):
    online.update("shop", cookie("v2"))
    versions = online.history("shop", limit=1)["versions"]
    assert len(versions) == 1
    assert set(versions[0]) == VERSION_FIELDS
    events = online.events("shop", limit=5)["events"]
    assert events and set(events[0]) == EVENT_FIELDS
    assert events[0]["kind"] == "update_applied"
    since = events[0]["at"]
    assert [e["kind"] for e in online.events("shop", since=since)["events"]] == ["update_applied"]
