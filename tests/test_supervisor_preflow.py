"""The pre-flow decisions as a table: (request, account) -> plan, without stores or children."""

from __future__ import annotations

from dataclasses import replace

import pytest

from common.errors import ConflictError, CookieError
from goofish.cookies import Cookie
from supervisor.machine import Candidate, StopThen
from supervisor.preflow import (
    AccountView,
    Answer,
    EnableNow,
    FreezeNow,
    KillNow,
    Plan,
    Refuse,
    StopFirst,
    StoreCookie,
    TryCookie,
    check_one_account,
    check_seller,
    plan,
)
from supervisor.requests import (
    Disable,
    Enable,
    FreezeChild,
    Kill,
    Remove,
    Restart,
    Rollback,
    Update,
)

SELLER = "2200000001"
V1 = f"unb={SELLER}; t=v1"
V2 = f"unb={SELLER}; t=v2"


def candidate(text: str, version: int | None) -> Candidate:
    cookie = Cookie.parse(text)
    return Candidate(cookie.serialize(), version, cookie.fingerprint)


CURRENT = candidate(V1, 1)
TARGET = candidate(V2, 2)  # an earlier good version a rollback goes back to
NEW = candidate(V2, None)  # an operator's cookie, not proposed yet

RUNNING = AccountView("shop", SELLER, enabled=True, current=CURRENT, unsaved=False, has_child=True)
DISABLED = replace(RUNNING, enabled=False, has_child=False)
UNSAVED = replace(RUNNING, current=candidate(V1, None), unsaved=True)  # V1 held in memory
NO_CHILD = replace(RUNNING, has_child=False)  # enabled, between generations


def unchanged(current: Candidate) -> Answer:
    result = {
        "outcome": "unchanged",
        "version": current.version,
        "previous_version": None,
        "reason": None,
        "swap_ms": None,
    }
    return Answer("update_unchanged", result)


def refused(pattern: str) -> Refuse:
    return Refuse(ConflictError(pattern))


PLAN_TABLE = [
    # update: the active cookie again, a cookie to persist, or one to try on the live account
    ("same cookie", Update("shop", cookie=V1), RUNNING, Plan(unchanged(CURRENT))),
    ("same, not saved", Update("shop", cookie=V1, save=False), RUNNING, Plan(unchanged(CURRENT))),
    (
        "unsaved, unsaved again",
        Update("shop", cookie=V1, save=False),
        UNSAVED,
        Plan(unchanged(UNSAVED.current)),
    ),
    (
        "unsaved, now saved",
        Update("shop", cookie=V1),
        UNSAVED,
        Plan(StoreCookie("update", candidate(V1, None), save=True, outcome="applied")),
    ),
    (
        "disabled",
        Update("shop", cookie=V2),
        DISABLED,
        Plan(StoreCookie("update", NEW, save=True, outcome="stored")),
    ),
    (
        "disabled, not saved",
        Update("shop", cookie=V2, save=False),
        DISABLED,
        Plan(StoreCookie("update", NEW, save=False, outcome="stored")),
    ),
    (
        "new cookie",
        Update("shop", cookie=V2),
        RUNNING,
        Plan(TryCookie("update", NEW, save=True), operator_acted=True),
    ),
    (
        "new cookie, not saved",
        Update("shop", cookie=V2, save=False),
        RUNNING,
        Plan(TryCookie("update", NEW, save=False), operator_acted=True),
    ),
    (
        "new cookie, no generation",
        Update("shop", cookie=V2),
        NO_CHILD,
        Plan(TryCookie("update", NEW, save=True), operator_acted=True),
    ),
    # rollback: stored on a disabled account, tried out on an enabled one
    (
        "rollback",
        Rollback("shop"),
        RUNNING,
        Plan(TryCookie("rollback", TARGET, save=False), operator_acted=True),
    ),
    (
        "rollback, disabled",
        Rollback("shop", to_version=2),
        DISABLED,
        Plan(StoreCookie("rollback", TARGET, save=False, outcome="stored")),
    ),
    # stops
    ("restart", Restart("shop"), RUNNING, Plan(StopFirst(StopThen.RESTART), operator_acted=True)),
    (
        "restart, no generation",
        Restart("shop"),
        NO_CHILD,
        Plan(StopFirst(StopThen.RESTART), operator_acted=True),
    ),
    ("restart, disabled", Restart("shop"), DISABLED, Plan(refused("ctl enable shop"))),
    (
        "disable",
        Disable("shop"),
        RUNNING,
        Plan(StopFirst(StopThen.DISABLE), enabled=False, cancel_restart=True),
    ),
    (
        "disable, disabled",
        Disable("shop"),
        DISABLED,
        Plan(StopFirst(StopThen.DISABLE), enabled=False, cancel_restart=True),
    ),
    ("remove", Remove("shop"), RUNNING, Plan(StopFirst(StopThen.REMOVE), cancel_restart=True)),
    (
        "remove, disabled",
        Remove("shop"),
        DISABLED,
        Plan(StopFirst(StopThen.REMOVE), cancel_restart=True),
    ),
    # kill restarts unless disabled
    ("kill", Kill("shop"), RUNNING, Plan(KillNow(restart=True), operator_acted=True)),
    ("kill, disabled", Kill("shop"), DISABLED, Plan(KillNow(restart=False), operator_acted=True)),
    # answered at once
    (
        "enable",
        Enable("shop"),
        DISABLED,
        Plan(EnableNow(start_child=True), enabled=True, operator_acted=True),
    ),
    (
        "enable, running",
        Enable("shop"),
        RUNNING,
        Plan(EnableNow(start_child=False), enabled=True, operator_acted=True),
    ),
    ("freeze", FreezeChild("shop", seconds=2.0), RUNNING, Plan(FreezeNow(2.0))),
    (
        "freeze, no generation",
        FreezeChild("shop", seconds=2.0),
        NO_CHILD,
        Plan(refused("no running generation")),
    ),
]


@pytest.mark.parametrize(
    ("request_", "account", "expected"),
    [row[1:] for row in PLAN_TABLE],
    ids=[row[0] for row in PLAN_TABLE],
)
def test_plan(request_, account, expected):
    decided = plan(request_, account, target=TARGET)
    if isinstance(expected.action, Refuse):
        assert isinstance(decided.action, Refuse)
        assert expected.action.error.args[0] in str(decided.action.error)
        assert replace(decided, action=expected.action) == expected
    else:
        assert decided == expected


def test_a_stored_cookie_is_the_parsed_serialized_form():
    messy = f"unb={SELLER};t=v2"  # no space after ';'
    decided = plan(Update("shop", cookie=messy), DISABLED)
    assert isinstance(decided.action, StoreCookie)
    assert decided.action.candidate == NEW


def test_a_rollback_needs_its_target():
    with pytest.raises(TypeError, match="version it goes back to"):
        plan(Rollback("shop"), RUNNING)


def test_an_unparseable_cookie_is_a_cookie_error():
    with pytest.raises(CookieError):
        plan(Update("shop", cookie="no seller here"), RUNNING)


def nobody(_unb: str) -> list[str]:
    return []


def test_another_sellers_cookie_is_refused_unless_forced():
    other = "unb=2200000999; t=x"
    with pytest.raises(ConflictError, match=r"seller 2200000999.*force"):
        check_seller(Update("shop", cookie=other), RUNNING, nobody)
    check_seller(Update("shop", cookie=other, force=True), RUNNING, nobody)
    check_seller(Update("shop", cookie=V2), RUNNING, nobody)


def test_a_seller_another_account_has_is_refused_forced_or_not():
    other = "unb=2200000999; t=x"
    owners = {"2200000999": ["other"], SELLER: ["shop"]}
    for force in (False, True):
        with pytest.raises(ConflictError, match=r"seller 2200000999 already .* account 'other'"):
            check_seller(Update("shop", cookie=other, force=force), RUNNING, owners.__getitem__)
    check_seller(Update("shop", cookie=V2), RUNNING, owners.__getitem__)  # its own seller
    check_one_account(SELLER, "shop", ["shop"])
    with pytest.raises(ConflictError, match="'ctl remove shop'"):
        check_one_account(SELLER, "shop-2", ["shop"])
