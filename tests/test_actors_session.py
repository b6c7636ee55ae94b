"""``Session`` (actors/session.py), the asyncio shell, over a real WebSocket to the simulator.

Its pure parts have their own tests (test_actors_protocol, test_actors_history,
test_actors_liveness); these check what only the shell can get wrong: the token call's
timeout, request deadlines on a live socket, and the overridable steps that the benchmark's
``NaiveSession`` (bench/harness/naive_session.py) uses.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any, TypeVar

import pytest
from structlog.testing import capture_logs

from actors.events import RequestAnswered, SessionEnded, SessionRegistered
from actors.failures import FailureClass
from actors.messages import ChildState, Fence
from actors.session import Session, SessionPlan
from actors.testing import AccountHarness, with_timings
from bench.harness.naive_session import NaiveSession
from common.io_loop import IoLoop
from common.settings import Timings
from goofish import frames
from goofish.constants import FIRST_PAGE_CURSOR
from goofish.cookies import Cookie
from goofish.ids import new_did
from goofish.token import TokenClient
from tests.plugins.simulator import Seller, new_seller
from tests.plugins.timing import scaled_timings, wait_for

T = TypeVar("T")

# httpx-style: a timeout no token call can meet, so the timeout path runs without waiting
NO_TIME_S = 1e-6


def timings(**changes: Any) -> Timings:
    """The tiny test timings with ``changes``, stretched by the suite's time scale."""
    return scaled_timings(with_timings(**changes))


class Run:
    """Sessions on a loop of their own, with everything they report."""

    def __init__(self, sim: Any) -> None:
        self.sim = sim
        self.io = IoLoop(name="io-session-test").start()
        self.token_client = TokenClient(sim.api_url, timeout_s=5.0)
        self.events: list[object] = []
        self._lock = threading.Lock()
        self._next_id = 0

    def session(self, seller: Seller, timings: Timings, *, cls: type[Session] = Session) -> Session:
        cookie = Cookie.parse(seller.cookie)
        self._next_id += 1
        plan = SessionPlan(self._next_id, "shop", seller.user_id, cookie, new_did(cookie.unb))
        session = cls(
            plan,
            io=self.io,
            token_client=self.token_client,
            ws_url=self.sim.ws_url,
            timings=timings,
            fence=Fence(),
            sink=self._sink,
        )
        session.start()
        return session

    def _sink(self, event: object) -> None:
        with self._lock:
            self.events.append(event)

    def first(self, kind: type[T], session: Session, *, timeout: float = 10.0) -> T:
        def found() -> T | None:
            with self._lock:
                return next(
                    (
                        e
                        for e in self.events
                        if isinstance(e, kind) and e.session_id == session.session_id  # type: ignore[attr-defined]
                    ),
                    None,
                )

        return wait_for(found, timeout=timeout, what=kind.__name__)

    def ended(self, session: Session) -> bool:
        with self._lock:
            return any(
                isinstance(e, SessionEnded) and e.session_id == session.session_id
                for e in self.events
            )

    def stop(self) -> None:
        self.io.submit(self.token_client.close()).result(timeout=5)
        self.io.stop()


@pytest.fixture
def run(sim) -> Iterator[Run]:
    run = Run(sim)
    yield run
    run.stop()


def _errors(logs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in logs if e.get("log_level") in ("error", "critical")]


def test_a_token_call_that_times_out_is_a_network_failure_not_a_crash(run, seller) -> None:
    with capture_logs() as logs:
        session = run.session(seller, replace(timings(), token_timeout_s=NO_TIME_S))
        ended = run.first(SessionEnded, session)
    assert ended.failure is FailureClass.NETWORK
    assert ended.reason == "token request not answered within 1e-06s"
    assert ended.registered_for_s is None
    assert _errors(logs) == []
    assert "session_crashed" not in [e["event"] for e in logs]


def test_an_account_whose_token_calls_time_out_backs_off_and_retries(sim, sqlite_store, seller):
    # scaled, but for the token timeout: no machine meets that one anyway
    tiny = replace(timings(), token_timeout_s=NO_TIME_S)
    harness = AccountHarness(
        store=sqlite_store,
        ws_url=sim.ws_url,
        api_url=sim.api_url,
        account_id="shop-1",
        user_id=seller.user_id,
        cookie=seller.cookie,
        timings=tiny,
    )
    # the token API itself answers in time (its HTTP client has a sane timeout); only the
    # session's bound around the call is tiny
    harness.token_client = TokenClient(sim.api_url, timeout_s=5.0)
    with capture_logs() as logs, harness:
        status = harness.wait_status(lambda s: s.reconnects >= 2, what="two retries")
        assert status.state in (ChildState.BACKOFF, ChildState.CONNECTING)
        assert "token request not answered" in (status.last_error or "")
    backoffs = [e for e in logs if e["event"] == "backoff"]
    assert backoffs and {e["failure"] for e in backoffs} == {"network"}
    assert _errors(logs) == []


def test_an_unanswered_request_fails_at_its_deadline_and_the_session_lives_on(run, seller):
    # heartbeats would notice the dead socket only after 3 s: the request's 0.3 s comes first
    slow_beats = timings(heartbeat_s=1.0, heartbeat_misses=3, request_timeout_s=0.3)
    session = run.session(seller, slow_beats)
    run.first(SessionRegistered, session)
    run.sim.admin.fault(seller.user_id, "blackhole")
    started = time.monotonic()
    session.request(frames.list_newest(1, 1), tag="probe-me")
    answered = run.first(RequestAnswered, session)
    assert time.monotonic() - started >= slow_beats.request_timeout_s
    assert answered.tag == "probe-me" and answered.response is None
    assert answered.error == "/r/Conversation/listNewestPagination not answered in time"
    assert not run.ended(session)
    session.abort()
    assert run.first(SessionEnded, session).failure is FailureClass.CLOSED_BY_US


def test_a_session_answers_requests_once_registered(run, seller) -> None:
    session = run.session(seller, timings())
    run.first(SessionRegistered, session)
    session.request(frames.list_newest(FIRST_PAGE_CURSOR, 1), tag=1)
    answered = run.first(RequestAnswered, session)
    assert answered.error is None and answered.response is not None
    assert answered.response["code"] == 200


# --- the benchmark's re-creation of the original start-up -------------------------------


def test_naive_session_waits_a_second_between_reg_and_ack_diff(run, seller) -> None:
    started = time.monotonic()
    session = run.session(seller, timings(), cls=NaiveSession)
    run.first(SessionRegistered, session)
    assert time.monotonic() - started >= 1.0


def test_naive_session_runs_no_sync_probe(run, sim) -> None:
    # the same zombie (heartbeats answered, pushes withheld) on two sellers: the probe of the
    # production session catches it; the re-created original, which had no probe, does not
    # silence allowed (1.5 s) outlasts the naive start-up's 1 s pause before its first beat
    quick_probe = timings(heartbeat_s=0.5, silence_intervals=3)
    plain_seller, naive_seller = new_seller(sim), new_seller(sim)
    plain = run.session(plain_seller, quick_probe)
    naive = run.session(naive_seller, quick_probe, cls=NaiveSession)
    run.first(SessionRegistered, plain)
    run.first(SessionRegistered, naive)
    started = time.monotonic()
    for seller in (plain_seller, naive_seller):
        sim.admin.fault(seller.user_id, "zombie")
        sim.admin.push(to=seller.user_id, from_="2299999999999", text="withheld")
    ended = run.first(SessionEnded, plain)
    assert "zombie" in ended.reason
    took = time.monotonic() - started
    # as long again: the naive session is still there
    deadline = time.monotonic() + took
    while time.monotonic() < deadline:  # watching a window: nothing may happen in it
        assert not run.ended(naive)
        time.sleep(0.01)
