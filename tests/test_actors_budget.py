"""``LoginBudget``: a sliding hour of login calls per account, shared by every generation."""

from __future__ import annotations

import asyncio
import threading

from actors.budget import BudgetedTokenClient, BudgetView, LoginBudget, budgeted


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_calls_leave_the_window_one_by_one() -> None:
    clock = Clock()
    budget = LoginBudget(3, window_s=60.0, clock=clock)
    assert budget.view("a") == BudgetView(3, per_h=3)
    budget.spend("a")
    clock.now += 10
    budget.spend("a", calls=2)  # a renewal that sent two calls
    assert budget.view("a") == BudgetView(0, refill_s=50.0, per_h=3)
    assert budget.left("b") == 3  # per account
    clock.now += 50  # the first call leaves the window
    assert budget.view("a") == BudgetView(1, per_h=3)
    budget.spend("a", calls=3)  # an operator's calls count, past the budget
    assert budget.left("a") == 0
    assert budget.view("a").left == -2
    # three calls must leave before one is free again: the third oldest is 60 s from now
    assert budget.view("a").refill_s == 60.0


def test_exhaustion_is_noted_once_until_there_is_room_again() -> None:
    clock = Clock()
    budget = LoginBudget(1, window_s=60.0, clock=clock)
    budget.spend("a")
    assert budget.view("a").left == 0
    assert budget.note_exhausted("a") is True
    assert budget.note_exhausted("a") is False  # a second generation, same exhaustion
    clock.now += 61
    assert budget.view("a").left == 1  # room again: the next exhaustion is a new one
    budget.spend("a")
    assert budget.note_exhausted("a") is True
    budget.forget("a")
    assert budget.left("a") == 1


def test_spending_from_many_threads_loses_no_call() -> None:
    budget = LoginBudget(100_000)
    threads = [
        threading.Thread(target=lambda: [budget.spend("a") for _ in range(1000)]) for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert budget.left("a") == 100_000 - 8000


def test_the_budgeted_token_client_counts_every_fetch() -> None:
    class Inner:
        calls = 0

        async def fetch(self, cookie: object, did: str) -> str:
            Inner.calls += 1
            return "token"

        async def close(self) -> None:
            pass

    budget = LoginBudget(6)
    client = budgeted(Inner(), budget, "a")
    assert isinstance(client, BudgetedTokenClient)
    assert asyncio.run(client.fetch(None, "did")) == "token"
    assert (Inner.calls, budget.left("a")) == (1, 5)
    asyncio.run(client.close())  # everything else passes through
    inner = Inner()
    assert budgeted(inner, None, "a") is inner
