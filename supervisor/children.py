"""How the supervisor starts a child generation: the factory seam and its production form.

Tests inject their own factory (real AccountActor subclasses that crash or hang, or
scripted fakes); the service uses ``account_actor_factory``.
"""

from __future__ import annotations

from typing import Any, Protocol

import pykka

from actors.budget import LoginBudget
from actors.messages import AccountSpec, Fence, Notify, StatusCell
from common.io_loop import IoLoop
from common.settings import Settings
from storage import Store


class ChildFactory(Protocol):
    """Starts one generation of an account actor and returns its ref."""

    def __call__(
        self, spec: AccountSpec, *, fence: Fence, status: StatusCell, notify: Notify
    ) -> pykka.ActorRef[Any]: ...


def account_actor_factory(
    *,
    store: Store,
    io: IoLoop,
    token_client: Any,
    settings: Settings,
    actor_class: type[pykka.ThreadingActor] | None = None,
    login_budget: LoginBudget | None = None,
) -> ChildFactory:
    """The production factory: ``AccountActor.start(...)`` (or a subclass, for fault tests).
    ``login_budget``: shared by every generation, so a crash restart does not refill it."""

    def start(
        spec: AccountSpec, *, fence: Fence, status: StatusCell, notify: Notify
    ) -> pykka.ActorRef[Any]:
        cls = actor_class
        if cls is None:
            from actors.account import AccountActor

            cls = AccountActor
        return cls.start(
            spec,
            store=store,
            io=io,
            token_client=token_client,
            settings=settings,
            fence=fence,
            status=status,
            notify=notify,
            login_budget=login_budget,
        )

    return start


class NeverStarted:
    """Stands in for a generation whose actor never started."""

    def is_alive(self) -> bool:
        return False

    def tell(self, _message: object) -> None:
        raise pykka.ActorDeadError("this generation never started")

    def stop(self, *, block: bool = False) -> None:
        return None
