"""Run one real ``AccountActor`` outside the supervisor: for tests, demos and benchmarks.

``FreezableAccountActor`` adds the ``Freeze`` hook (a handler blocked on purpose, what
timeout-kill exists for); the tests and the demo that freeze a child start this class.

``AccountHarness`` owns a fresh ``IoLoop`` and ``TokenClient``, adds the account to the
given ``Store`` (if missing), starts the actor with a ``Fence``/``StatusCell`` of its own and
collects what the actor notifies. ``stop()`` releases everything in reverse order.

``TINY_TIMINGS`` shrink every interval so fault tests finish in a second or two.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any, ClassVar, TypeVar

import pykka

from actors.account import AccountActor
from actors.messages import AccountSpec, AccountStatus, ChildState, Fence, Freeze, StatusCell
from common.io_loop import IoLoop
from common.settings import Backoff, Settings, Timings
from goofish.token import TokenClient

T = TypeVar("T")

TINY_TIMINGS = Timings(
    heartbeat_s=0.2,
    heartbeat_misses=2,
    silence_intervals=3,
    connect_timeout_s=2.0,
    request_timeout_s=2.0,
    token_timeout_s=3.0,
    probation_s=3.0,
    stop_timeout_s=2.0,
    network_backoff=Backoff(base_s=0.05, cap_s=0.3, jitter=0.1),
    auth_backoff=Backoff(base_s=0.1, cap_s=0.5, jitter=0.1),
    risk_backoff=Backoff(base_s=0.8, cap_s=3.0, jitter=0.0),
)


class FreezableAccountActor(AccountActor):
    """An ``AccountActor`` that obeys ``Freeze``: its handler blocks for the given time."""

    def _on_freeze(self, message: Freeze) -> None:
        self._log.warning("frozen", seconds=message.seconds)
        time.sleep(message.seconds)

    _handlers: ClassVar[dict[type, Callable[[AccountActor, Any], None]]] = {
        **AccountActor._handlers,
        Freeze: _on_freeze,  # type: ignore[dict-item]
    }


class AccountHarness:
    """One account actor against one set of servers (the simulator, usually)."""

    def __init__(
        self,
        *,
        store: Any,
        ws_url: str,
        api_url: str,
        account_id: str,
        user_id: str,
        cookie: str,
        timings: Timings = TINY_TIMINGS,
        actor_class: type[AccountActor] = AccountActor,
        pause_minutes: int = 10,
        generation: int = 1,
    ) -> None:
        self.store = store
        self.account_id = account_id
        self.user_id = user_id
        self.cookie = cookie
        self.generation = generation
        self.actor_class = actor_class
        self.settings = Settings(ws_url=ws_url, api_url=api_url, timings=timings)
        self.io = IoLoop(name=f"io-{account_id}")
        self.token_client = TokenClient(api_url, timeout_s=timings.token_timeout_s)
        self.fence = Fence()
        self.status_cell = StatusCell(AccountStatus(account_id, generation, ChildState.CONNECTING))
        self.notifications: list[object] = []
        self._changed = threading.Condition()
        self.ref: pykka.ActorRef[AccountActor] | None = None
        if _missing(store, account_id):
            store.add_account(account_id, cookie, user_id, pause_minutes=pause_minutes)

    # --- lifecycle --------------------------------------------------------------------

    def start(self) -> AccountHarness:
        if not self.io.loop.is_running():
            self.io.start()
        self.ref = self.actor_class.start(
            AccountSpec(self.account_id, self.user_id, self.cookie, None, self.generation),
            store=self.store,
            io=self.io,
            token_client=self.token_client,
            settings=self.settings,
            fence=self.fence,
            status=self.status_cell,
            notify=self._notify,
        )
        return self

    def stop_actor(self, *, timeout: float = 5.0) -> None:
        """Stop the actor only (the loop and token client stay, for a restart)."""
        if self.ref is not None:
            self.ref.stop(timeout=timeout)
            self.ref = None

    def restart(self) -> None:
        """A new generation of the actor on the same loop, as the supervisor would do."""
        self.stop_actor()
        self.generation += 1
        self.fence = Fence()
        self.start()

    def stop(self) -> None:
        with contextlib.suppress(pykka.ActorDeadError):
            self.stop_actor()
        if self.io.loop.is_running():
            self.io.submit(self.token_client.close()).result(timeout=5)
        self.io.stop()

    def __enter__(self) -> AccountHarness:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- observing --------------------------------------------------------------------

    def tell(self, message: object) -> None:
        assert self.ref is not None
        self.ref.tell(message)

    @property
    def status(self) -> AccountStatus:
        return self.status_cell.read()

    def wait_status(
        self, predicate: Callable[[AccountStatus], bool], *, timeout: float = 10.0, what: str = ""
    ) -> AccountStatus:
        return self._wait(lambda: predicate(self.status) and self.status, timeout, what)

    def wait_online(self, *, timeout: float = 10.0) -> AccountStatus:
        return self.wait_status(
            lambda s: s.state is ChildState.ONLINE, timeout=timeout, what="online"
        )

    def wait_notification(
        self,
        kind: type[T],
        predicate: Callable[[T], bool] = lambda _: True,
        *,
        timeout: float = 10.0,
    ) -> T:
        def found() -> T | None:
            return next(
                (n for n in self.notifications if isinstance(n, kind) and predicate(n)), None
            )

        return self._wait(found, timeout, kind.__name__)

    def _notify(self, message: object) -> None:
        with self._changed:
            self.notifications.append(message)
            self._changed.notify_all()

    def _wait(self, probe: Callable[[], Any], timeout: float, what: str) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = probe()
            if value:
                return value
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(
                    f"timed out after {timeout}s waiting for {what}; status {self.status}"
                )
            # notifications wake us at once; status changes are polled
            with self._changed:
                self._changed.wait(min(remaining, 0.01))


def _missing(store: Any, account_id: str) -> bool:
    try:
        store.get_account(account_id)
    except LookupError:
        return True
    return False


def with_timings(**changes: Any) -> Timings:
    """``TINY_TIMINGS`` with some fields changed."""
    return replace(TINY_TIMINGS, **changes)
