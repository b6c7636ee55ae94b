"""notify.policy: which transitions notify, cooldown, grouping, recovery (pure, ``now`` passed in).

Each case is a script of steps: ``(t, "open"|"close"|"gone", account, kind)`` feeds a signal at
time ``t``; ``(t, "tick")`` ticks and records the groups it hands out as ``(t, kind, accounts)``.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from notify.policy import GROUP_MAX_S, Policy, Signal
from storage.outbox import NotifyCondition

COOLDOWN = 100.0
GROUP = 10.0

CASES = {
    "one condition, one notice after the group window": (
        [(0, "open", "a", "needs_cookie"), (5, "tick"), (10, "tick"), (20, "tick")],
        [(10, "needs_cookie", ("a",))],
    ),
    "seen again while open: still one notice": (
        [
            (0, "open", "a", "needs_cookie"),
            (10, "tick"),
            (11, "open", "a", "needs_cookie"),
            (12, "tick"),
            (300, "open", "a", "needs_cookie"),
            (310, "tick"),
        ],
        [(10, "needs_cookie", ("a",))],
    ),
    "accounts joining while the window is open: one notice listing them": (
        [
            (0, "open", "a", "needs_cookie"),
            (3, "open", "b", "needs_cookie"),
            (9, "open", "c", "needs_cookie"),
            (10, "tick"),
            (11, "open", "d", "needs_cookie"),
            (20, "tick"),
            (21, "tick"),
            (22, "open", "e", "needs_cookie"),
            (32, "tick"),
        ],
        [(21, "needs_cookie", ("a", "b", "c", "d")), (32, "needs_cookie", ("e",))],
    ),
    "kinds are grouped apart": (
        [(0, "open", "a", "needs_cookie"), (1, "open", "b", "failed"), (10, "tick"), (11, "tick")],
        [(11, "failed", ("b",)), (10, "needs_cookie", ("a",))],
    ),
    "recovery of an announced condition is announced": (
        [
            (0, "open", "a", "needs_cookie"),
            (10, "tick"),
            (50, "close", "a", "needs_cookie"),
            (60, "tick"),
        ],
        [(10, "needs_cookie", ("a",)), (60, "needs_cookie_recovered", ("a",))],
    ),
    "over before the window closed: nothing at all": (
        [(0, "open", "a", "needs_cookie"), (4, "close", "a", "needs_cookie"), (10, "tick")],
        [],
    ),
    "removed or disabled: no recovery notice": (
        [(0, "open", "a", "failed"), (10, "tick"), (20, "gone", "a", "failed"), (40, "tick")],
        [(10, "failed", ("a",))],
    ),
    "a recovery that does not last is not announced": (
        [
            (0, "open", "a", "needs_cookie"),
            (10, "tick"),
            (50, "close", "a", "needs_cookie"),
            (55, "open", "a", "needs_cookie"),
            (60, "tick"),
            (200, "tick"),
        ],
        [(10, "needs_cookie", ("a",))],
    ),
    "inside the cooldown: held back, sent when it ends if still open": (
        [
            (0, "open", "a", "needs_cookie"),
            (10, "tick"),
            (20, "close", "a", "needs_cookie"),
            (30, "tick"),
            (40, "open", "a", "needs_cookie"),
            (50, "tick"),
            (109, "tick"),
            (110, "tick"),
            (120, "tick"),
        ],
        [
            (10, "needs_cookie", ("a",)),
            (30, "needs_cookie_recovered", ("a",)),
            (120, "needs_cookie", ("a",)),
        ],
    ),
    "inside the cooldown and over before it ends: nothing more": (
        [
            (0, "open", "a", "needs_cookie"),
            (10, "tick"),
            (20, "close", "a", "needs_cookie"),
            (30, "tick"),
            (40, "open", "a", "needs_cookie"),
            (60, "close", "a", "needs_cookie"),
            (200, "tick"),
        ],
        [(10, "needs_cookie", ("a",)), (30, "needs_cookie_recovered", ("a",))],
    ),
    "the cooldown is per (account, kind)": (
        [
            (0, "open", "a", "needs_cookie"),
            (10, "tick"),
            (20, "open", "a", "risk_control"),
            (20, "open", "b", "needs_cookie"),
            (30, "tick"),
        ],
        [(10, "needs_cookie", ("a",)), (30, "needs_cookie", ("b",)), (30, "risk_control", ("a",))],
    ),
    "a zero group window sends at the next tick": (
        [(0, "open", "a", "rolled_back"), (0.5, "tick")],
        [(0.5, "rolled_back", ("a",))],
    ),
}


def run(policy: Policy, steps: list[tuple]) -> list[tuple[float, str, tuple[str, ...]]]:
    sent = []
    for step in steps:
        t, what = step[0], step[1]
        if what == "tick":
            groups = policy.tick(t).groups
            sent += sorted((t, g.kind, tuple(m.account_id for m in g.members)) for g in groups)
        else:
            _, _, account, kind = step
            opened = what == "open"
            policy.observe(Signal(account, kind, opened=opened, announce=what != "gone"), t)
    return sent


@pytest.mark.parametrize("name", list(CASES))
def test_policy(name: str) -> None:
    steps, expected = CASES[name]
    group = 0.0 if "zero group" in name else GROUP
    policy = Policy(cooldown_s=COOLDOWN, group_s=group)
    assert sorted(run(policy, steps)) == sorted(expected)


def test_a_notice_carries_each_accounts_detail() -> None:
    policy = Policy(cooldown_s=COOLDOWN, group_s=GROUP)
    policy.observe(Signal("a", "needs_cookie", opened=True, detail="session expired"), 0)
    policy.observe(Signal("b", "needs_cookie", opened=True, detail="refused"), 1)
    (group,) = policy.tick(11).groups
    assert [(m.account_id, m.detail) for m in group.members] == [
        ("a", "session expired"),
        ("b", "refused"),
    ]


def test_a_steady_trickle_is_told_after_at_most_group_max_s() -> None:
    policy = Policy(cooldown_s=COOLDOWN, group_s=GROUP)
    told: list[tuple[float, int]] = []
    for second in range(0, 400, 5):  # one more account every 5 s, the window never goes quiet
        policy.observe(Signal(f"a{second}", "needs_cookie", opened=True), second)
        told += [(second, len(g.members)) for g in policy.tick(second).groups]
    assert told[0] == (GROUP_MAX_S, int(GROUP_MAX_S) // 5 + 1)  # the one joining at 300 s too


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def test_changes_to_persist_and_a_restart_from_them() -> None:
    policy = Policy(cooldown_s=COOLDOWN, group_s=GROUP)
    policy.observe(Signal("a", "needs_cookie", opened=True, detail="x"), 1000)
    opened = policy.tick(1001).changed
    assert opened == [NotifyCondition("a", "needs_cookie", at(1000), None, False, "x")]
    notified = policy.tick(1010).changed
    assert notified == [NotifyCondition("a", "needs_cookie", at(1000), at(1010), True, "x")]
    assert policy.tick(1011).changed == []

    # a new process starts from what was persisted: the cooldown and the open episode hold
    again = Policy(cooldown_s=COOLDOWN, group_s=GROUP, conditions=notified)
    again.observe(Signal("a", "needs_cookie", opened=True), 1050)
    assert again.tick(1060).groups == []
    assert again.tracked_accounts() == {"a"}
    again.observe(Signal("a", "needs_cookie", opened=False), 1070)
    (recovery,) = again.tick(1080).groups
    assert recovery.kind == "needs_cookie_recovered"


def test_bad_windows_are_refused() -> None:
    with pytest.raises(ValueError, match="notify_cooldown_s"):
        Policy(cooldown_s=-1, group_s=1)
