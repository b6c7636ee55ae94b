"""The kinds of notice, and what each one says: a title for one account or many, a hint.

A *kind* is a condition that needs a person (``needs_cookie``, ``failed``, ...). Its end is
announced with the same kind plus ``RECOVERED_SUFFIX`` (``needs_cookie_recovered``):
"shop-7 is online again".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

NEEDS_COOKIE: Final = "needs_cookie"
FAILED: Final = "failed"
ROLLED_BACK: Final = "rolled_back"
RENEWAL_FAILED: Final = "renewal_failed"
RISK_CONTROL: Final = "risk_control"
LOGIN_BUDGET_EXHAUSTED: Final = "login_budget_exhausted"
TEST: Final = "test"

RECOVERED_SUFFIX: Final = "_recovered"

# kinds that end when the account is online again
ENDED_BY_ONLINE: Final = frozenset({NEEDS_COOKIE, FAILED, RISK_CONTROL, LOGIN_BUDGET_EXHAUSTED})
# kinds that end when a new cookie has been applied
ENDED_BY_NEW_COOKIE: Final = frozenset({ROLLED_BACK, RENEWAL_FAILED})
ALL: Final = ENDED_BY_ONLINE | ENDED_BY_NEW_COOKIE


@dataclass(frozen=True)
class Wording:
    one: str  # "{account} needs a new cookie"
    many: str  # "{count} accounts need a new cookie"
    hint: str = ""
    notify_type: str = "failure"  # apprise: info | success | warning | failure


_ONLINE_AGAIN = Wording(
    "{account} is online again", "{count} accounts are online again", "", "success"
)
_NEW_COOKIE_WORKS = Wording(
    "{account} has a working new cookie",
    "{count} accounts have a working new cookie",
    "",
    "success",
)

PROBLEMS: Final[dict[str, Wording]] = {
    NEEDS_COOKIE: Wording(
        "{account} needs a new cookie",
        "{count} accounts need a new cookie",
        "Give each a fresh login: python run.py ctl update ACCOUNT --cookie-file FILE",
    ),
    FAILED: Wording(
        "{account} failed and stopped restarting",
        "{count} accounts failed and stopped restarting",
        "See python run.py ctl events ACCOUNT, then python run.py ctl restart ACCOUNT",
    ),
    ROLLED_BACK: Wording(
        "{account}: a new cookie was rolled back",
        "{count} accounts: a new cookie was rolled back",
        "Each keeps serving on its previous cookie; update it again with a fresh login",
    ),
    RENEWAL_FAILED: Wording(
        "{account}: the login renewal failed",
        "{count} accounts: the login renewal failed",
        "Log in again: python run.py ctl login ACCOUNT (or ctl update with a fresh cookie)",
    ),
    RISK_CONTROL: Wording(
        "{account} is held by risk control",
        "{count} accounts are held by risk control",
        "Open the punish URL in the browser the cookie came from, pass the check, then "
        "update the cookie; the service waits and does not retry soon",
    ),
    LOGIN_BUDGET_EXHAUSTED: Wording(
        "{account} used up its login budget",
        "{count} accounts used up their login budget",
        "Each waits before logging in again, to spare the account from risk control",
        "warning",
    ),
}

RECOVERIES: Final[dict[str, Wording]] = {
    **{kind: _ONLINE_AGAIN for kind in ENDED_BY_ONLINE},
    **{kind: _NEW_COOKIE_WORKS for kind in ENDED_BY_NEW_COOKIE},
}

TEST_WORDING: Final = Wording(
    "xianyu-supervisor test notice",
    "xianyu-supervisor test notice",
    "Notifications reach this address.",
    "info",
)


def recovered(kind: str) -> str:
    """The outbox kind of a kind's recovery notice."""
    return kind + RECOVERED_SUFFIX


def wording(outbox_kind: str) -> Wording:
    """The wording of an outbox kind (a problem, ``<kind>_recovered``, or ``test``)."""
    if outbox_kind == TEST:
        return TEST_WORDING
    if outbox_kind.endswith(RECOVERED_SUFFIX):
        return RECOVERIES[outbox_kind.removesuffix(RECOVERED_SUFFIX)]
    return PROBLEMS[outbox_kind]
