"""Supervision of the account actors: the update/rollback state machine, the actor, its client.

``start_supervisor`` builds and boots the whole thing; everything else talks to it through
the returned ``SupervisorClient``. Modules, one job each:

- decided, pure: ``preflow`` (what a request does before any flow), ``machine`` (the
  per-account flows: update/rollback, restart/disable/remove, kill), ``renew_flow`` (a
  session renewal), ``renewal_plan`` (when to renew, what an answer means), ``shutdown``
  (stopping them all), ``restarts`` (crash back-off and intensity), ``status`` (the words).
- done: ``effects`` (carries the decisions out against children, timers and replies),
  ``book`` (every Store read and write the supervisor makes), ``renewals`` (renewal timers
  and the passport calls on the IO loop).
- ``actor``: ``SupervisorActor``, routing and the survival boundary; ``entry``: its
  bookkeeping per account; ``requests``: its messages; ``children``: the child factory seam.
- ``client``: ``SupervisorClient``, the blocking facade.
- ``leases``: cluster mode, the lease keeper's word (``Adopt``, ``LeaseLost``) on the
  supervisor's table, and ``ClusterHooks`` (docs/cluster.md).
- ``logins``: ``LoginManager``, QR-code logins in progress (polls the passport on the IoLoop,
  hands a confirmed cookie to the client like ``update``/``add``).
"""

from __future__ import annotations

from typing import Any

import pykka

from actors.budget import LoginBudget
from common.errors import XianyuSupervisorError
from common.io_loop import IoLoop
from common.settings import Settings
from storage import Store
from supervisor.actor import SupervisorActor
from supervisor.children import ChildFactory, account_actor_factory
from supervisor.client import SupervisorClient
from supervisor.leases import ClusterHooks
from supervisor.logins import LoginManager
from supervisor.requests import Ping
from supervisor.status import State

__all__ = [
    "ChildFactory",
    "ClusterHooks",
    "LoginManager",
    "State",
    "SupervisorActor",
    "SupervisorClient",
    "account_actor_factory",
    "start_supervisor",
]


def start_supervisor(
    store: Store,
    io: IoLoop,
    token_client: Any,
    settings: Settings,
    child_factory: ChildFactory | None = None,
    *,
    passport: Any = None,
    boot_timeout_s: float = 30.0,
    login_budget: LoginBudget | None = None,
    cluster: ClusterHooks | None = None,
) -> SupervisorClient:
    """Start the supervisor actor (which starts every enabled account) and return its client.

    ``login_budget`` (given to the default child factory and to the renewals; ``status`` shows
    what is left).
    ``passport``: a ``goofish.passport_client.PassportClient`` used on ``io`` to renew login
    sessions (``supervisor.renewals``); None: sessions are never renewed.
    ``cluster``: run as a node of a cluster: no boot, accounts come and go with their leases.
    Returns once the supervisor has booted (pending versions resolved, starts scheduled);
    raises ``XianyuSupervisorError`` if it failed to (the log has the cause).
    """
    factory = child_factory or account_actor_factory(
        store=store, io=io, token_client=token_client, settings=settings, login_budget=login_budget
    )
    ref = SupervisorActor.start(
        store=store,
        io=io,
        settings=settings,
        child_factory=factory,
        passport=passport,
        login_budget=login_budget,
        cluster=cluster,
    )
    try:
        ref.ask(Ping(), timeout=boot_timeout_s)  # answered after on_start
    except pykka.ActorDeadError as exc:
        raise XianyuSupervisorError(
            "the supervisor failed to boot (see the log above); check the database"
        ) from exc
    return SupervisorClient(ref, store, settings.timings, login_budget=login_budget)
