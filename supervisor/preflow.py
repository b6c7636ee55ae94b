"""What an operator request does before any flow begins, decided without touching anything.

``plan(request, account)`` reads a snapshot of the account (``AccountView``) and answers with a
``Plan``: the bookkeeping to do first (persist ``enabled``, lift ``failed``, drop a pending
restart) and one action. Some requests need no flow at all: the active cookie again is
``unchanged``; a disabled account's update or rollback is ``stored`` as the cookie the next
generation starts with; re-sending an unsaved cookie with ``save`` persists it (``applied``);
``enable`` and ``freeze`` are answered at once; a disabled account cannot ``restart``. The rest
begin a flow of ``supervisor.machine``. Like the machine, this module holds no threads, stores
or children: ``supervisor.effects`` carries a plan out.

    update   same cookie, nothing to save ───────────► Answer  update_unchanged
             same cookie to save, or disabled ───────► StoreCookie  update_applied / update_stored
             otherwise ──────────────────────────────► TryCookie  (ApplyFlow: probation, rollback)
    rollback disabled ───────────────────────────────► StoreCookie  rollback_stored
             otherwise ──────────────────────────────► TryCookie
    restart  disabled ───────────────────────────────► Refuse
    restart / disable / remove ──────────────────────► StopFirst  (StopFlow)
    kill ────────────────────────────────────────────► KillNow  (KillFlow)
    enable ──────────────────────────────────────────► EnableNow (a generation unless one runs)
    freeze ──────────────────────────────────────────► FreezeNow, or Refuse without a generation
    renew    disabled ───────────────────────────────► Refuse
             otherwise ──────────────────────────────► RenewNow  (supervisor.renew_flow)

An update whose ``source`` is ``renewal`` (the renewal flow's renewed cookie) is a
``renewal`` operation: its events are ``renewal_applied`` / ``renewal_failed``, and it is
not an operator's act (a ``failed`` account stays failed, earlier crashes still count).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from common.errors import ConflictError
from goofish.cookies import Cookie
from storage import SOURCE_ADMIN, SOURCE_RENEWAL
from supervisor.machine import Candidate, StopThen
from supervisor.requests import (
    Disable,
    Enable,
    FreezeChild,
    Kill,
    Release,
    Remove,
    Renew,
    Request,
    Restart,
    Rollback,
    Update,
)


@dataclass(frozen=True)
class AccountView:
    """What the decisions read of one account: a snapshot of the supervisor's bookkeeping."""

    account_id: str
    user_id: str
    enabled: bool
    current: Candidate  # the cookie a fresh generation starts with
    unsaved: bool  # ``current`` is held in memory only
    has_child: bool  # a generation is running (or not yet known to be dead)


# --- actions ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """Answered at once; nothing to store or start."""

    event: str
    result: Mapping[str, Any]


@dataclass(frozen=True)
class StoreCookie:
    """Make ``candidate`` the account's cookie without a live try-out; answer ``outcome``.

    ``save``: propose it as a new version first (``candidate.version`` is None until then).
    """

    operation: str  # "update" or "rollback"
    candidate: Candidate
    save: bool
    outcome: str  # "applied" (a re-saved cookie) or "stored" (a disabled account)


@dataclass(frozen=True)
class TryCookie:
    """Put ``candidate`` on the running account through an ``ApplyFlow``; ``save``: propose it."""

    operation: str
    candidate: Candidate
    save: bool
    source: str = SOURCE_ADMIN  # the new version's source, when saved


@dataclass(frozen=True)
class RenewNow:
    """Begin a ``RenewFlow``: ask the passport for a new session (``trigger`` says why)."""

    trigger: str


@dataclass(frozen=True)
class StopFirst:
    """Stop the generation through a ``StopFlow``, then ``then``."""

    then: StopThen


@dataclass(frozen=True)
class KillNow:
    """Fence the generation through a ``KillFlow``; a fresh one follows if ``restart``."""

    restart: bool


@dataclass(frozen=True)
class EnableNow:
    """Answered at once (``enabled``); ``start_child``: no generation runs, start one."""

    start_child: bool


@dataclass(frozen=True)
class FreezeNow:
    """Test/demo hook: tell the running generation to block for ``seconds``."""

    seconds: float


@dataclass(frozen=True)
class Refuse:
    """The request cannot be done in the account's present state; the caller hears why."""

    error: ConflictError


Action = (
    Answer
    | StoreCookie
    | TryCookie
    | RenewNow
    | StopFirst
    | KillNow
    | EnableNow
    | FreezeNow
    | Refuse
)


@dataclass(frozen=True)
class Plan:
    """One request's pre-flow decision: bookkeeping (in this order), then ``action``."""

    action: Action
    enabled: bool | None = None  # persist the account as enabled / disabled
    operator_acted: bool = False  # lift ``failed``, forget earlier crashes, drop a pending restart
    cancel_restart: bool = False  # drop a pending crash restart (without forgetting crashes)


def plan(request: Request, account: AccountView, *, target: Candidate | None = None) -> Plan:
    """Decide ``request`` against ``account``; ``target``: a ``Rollback``'s version (looked up)."""
    if isinstance(request, Update):
        return _update(request, account)
    if isinstance(request, Rollback):
        if target is None:
            raise TypeError("a rollback is planned with the version it goes back to")
        return _rollback(target, account)
    if isinstance(request, FreezeChild):
        return _freeze(request, account)
    if isinstance(request, Restart | Renew) and not account.enabled:
        error = ConflictError(
            f"account {account.account_id!r} is disabled; "
            f"run 'ctl enable {account.account_id}' to start it"
        )
        return Plan(Refuse(error))
    if isinstance(request, Renew):
        return Plan(RenewNow(request.trigger))
    plans: dict[type, Callable[[], Plan]] = {
        Restart: lambda: Plan(StopFirst(StopThen.RESTART), operator_acted=True),
        Kill: lambda: Plan(KillNow(restart=account.enabled), operator_acted=True),
        Disable: lambda: Plan(StopFirst(StopThen.DISABLE), enabled=False, cancel_restart=True),
        Remove: lambda: Plan(StopFirst(StopThen.REMOVE), cancel_restart=True),
        Release: lambda: Plan(StopFirst(StopThen.RELEASE), cancel_restart=True),
        Enable: lambda: Plan(
            EnableNow(start_child=not account.has_child), enabled=True, operator_acted=True
        ),
    }
    chosen = plans.get(type(request))
    if chosen is None:
        raise TypeError(f"no pre-flow decision for {type(request).__name__}")
    return chosen()


def accepted_answer(request: Request) -> dict[str, Any] | None:
    """The answer of an update or restart asked not to wait (``wait=False``), else None."""
    if isinstance(request, Update) and not request.wait:
        keys = ("version", "previous_version", "reason", "swap_ms")
        return {"outcome": "accepted", **dict.fromkeys(keys)}
    if isinstance(request, Restart) and not request.wait:
        return {"outcome": "accepted", "stop_ms": None}
    return None


def check_seller(
    request: Update, account: AccountView, seller_accounts: Callable[[str], list[str]]
) -> None:
    """Refuse (``ConflictError``) a seller that another account has (``seller_accounts``: its
    lookup), forced or not, and another seller's cookie unless forced; ``CookieError`` if bad.
    """
    cookie = Cookie.parse(request.cookie)
    # first: --force cannot help here, so it is not what the refusal below would suggest
    check_one_account(cookie.unb, account.account_id, seller_accounts(cookie.unb))
    if cookie.unb != account.user_id and not request.force:
        raise ConflictError(
            f"this cookie belongs to seller {cookie.unb}, but account {account.account_id!r} "
            f"is seller {account.user_id}; check you picked the right account, or pass "
            "--force (force: true) to use it anyway"
        )


def check_one_account(unb: str, account_id: str, seller_accounts: Iterable[str]) -> None:
    """Refuse (``ConflictError``) seller ``unb`` for ``account_id`` when another of
    ``seller_accounts`` (the accounts stored for that seller) has it: two sessions of one
    seller evict each other at every registration, so both accounts would flap for good."""
    others = [other for other in seller_accounts if other != account_id]
    if others:
        other = others[0]
        raise ConflictError(
            f"seller {unb} already belongs to account {other!r}; one seller is served by one "
            f"account (two would keep kicking each other's session): update {other!r} "
            f"instead, or remove it first ('ctl remove {other}')",
            account=account_id,
        )


def update_result(
    outcome: str, candidate: Candidate, *, previous: Candidate | None = None
) -> dict[str, Any]:
    """The ``update``/``rollback`` result of an outcome decided without a flow."""
    return {
        "outcome": outcome,
        "version": candidate.version,
        "previous_version": previous.version if previous is not None else None,
        "reason": None,
        "swap_ms": None,
    }


def _update(request: Update, account: AccountView) -> Plan:
    cookie = Cookie.parse(request.cookie)
    value = cookie.serialize()
    current = account.current
    candidate = Candidate(value, None, cookie.fingerprint)
    if value == current.cookie and not (request.save and account.unsaved):
        return Plan(Answer("update_unchanged", update_result("unchanged", current)))
    if value == current.cookie or not account.enabled:
        # nothing to try out: persist it as the cookie the next generation starts with
        outcome = "applied" if account.enabled else "stored"
        return Plan(StoreCookie("update", candidate, save=request.save, outcome=outcome))
    if request.source == SOURCE_RENEWAL:
        return Plan(TryCookie("renewal", candidate, save=request.save, source=SOURCE_RENEWAL))
    return Plan(TryCookie("update", candidate, save=request.save), operator_acted=True)


def _freeze(request: FreezeChild, account: AccountView) -> Plan:
    if not account.has_child:
        error = ConflictError(f"account {account.account_id!r} has no running generation to freeze")
        return Plan(Refuse(error))
    return Plan(FreezeNow(request.seconds))


def _rollback(target: Candidate, account: AccountView) -> Plan:
    if not account.enabled:
        return Plan(StoreCookie("rollback", target, save=False, outcome="stored"))
    return Plan(TryCookie("rollback", target, save=False), operator_acted=True)
