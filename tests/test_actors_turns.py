"""Turns: reports handled on the loop only when the actor is idle and nothing waits before them."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from actors.turns import HandlingFailed, Reported, Turns


class _Loop:
    """Stands in for the IoLoop: whether the caller is "the loop thread", and its call_soon."""

    def __init__(self) -> None:
        self.on_loop = True
        self.loop = self
        self.soon: list[Callable[[], None]] = []

    def in_loop_thread(self) -> bool:
        return self.on_loop

    def call_soon(self, fn: Callable[[], None]) -> None:
        self.soon.append(fn)

    def next_iteration(self) -> None:
        due, self.soon = self.soon, []
        for fn in due:
            fn()


class _Push:
    def __init__(self, n: int) -> None:
        self.n = n


class _Other:
    pass


def _turns(
    loop: _Loop, handle: Callable[[object], None] | None = None
) -> tuple[Turns, list[object], list[object]]:
    told: list[object] = []
    handled: list[object] = []
    turns = Turns(
        loop,  # type: ignore[arg-type]
        tell=told.append,
        handle=handle or handled.append,
        inline_kinds=frozenset({_Push}),
    )
    with turns.held():
        turns.open(True)
    return turns, told, handled


def _numbers(events: list[object]) -> list[int]:
    return [e.n for e in events if isinstance(e, _Push)]


def test_an_idle_account_is_handled_on_the_loop_at_once() -> None:
    turns, told, handled = _turns(_Loop())
    first, second = _Push(1), _Push(2)
    turns.report(first)
    turns.report(second)
    assert handled == [first, second]
    assert told == []


def test_a_busy_actor_gets_the_report_and_later_ones_queue_behind_it() -> None:
    loop = _Loop()
    turns, told, handled = _turns(loop)
    held = threading.Event()
    release = threading.Event()

    def actor_busy() -> None:
        with turns.held():
            held.set()
            release.wait(5)

    busy = threading.Thread(target=actor_busy)
    busy.start()
    held.wait(5)
    turns.report(_Push(1))
    turns.report(_Push(2))  # same iteration: collected behind the first
    loop.next_iteration()  # the actor still busy: told, both in one message
    release.set()
    busy.join(5)
    # the actor is idle again, but its inbox still holds the first report: order first
    turns.report(_Push(3))
    loop.next_iteration()
    assert handled == []
    assert [_numbers(list(r.events)) for r in told if isinstance(r, Reported)] == [[1, 2], [3]]
    with turns.held():
        for reported in told:
            assert isinstance(reported, Reported)
            handled.extend(reported.events)
            turns.handled(reported)
    turns.report(_Push(4))
    assert _numbers(handled) == [1, 2, 3, 4]


def test_other_kinds_closed_turns_and_other_threads_go_to_the_actor() -> None:
    loop = _Loop()
    turns, told, handled = _turns(loop)
    other = _Other()
    turns.report(other)
    turns.report(_Push(1))  # behind the other kind, in the same message
    loop.next_iteration()
    assert handled == []
    assert isinstance(told[-1], Reported) and told[-1].events[0] is other
    loop.on_loop = False
    push = _Push(2)
    turns.report(push)
    assert told[-1] is push  # from another thread: told as is, as before
    loop.on_loop = True
    turns2, told2, handled2 = _turns(loop)
    with turns2.held():
        turns2.open(False)  # stopping
    turns2.report(_Push(3))
    loop.next_iteration()
    assert handled2 == [] and isinstance(told2[-1], Reported)


def test_a_handler_that_raises_on_the_loop_fails_the_actor_thread() -> None:
    def handle(event: object) -> None:
        raise ValueError("bug")

    loop = _Loop()
    turns, told, _handled = _turns(loop, handle)
    turns.report(_Push(1))
    assert isinstance(told[-1], HandlingFailed)
    with pytest.raises(ValueError, match="bug"):
        raise told[-1].error
    turns.report(_Push(2))  # nothing more on the loop
    loop.next_iteration()
    assert isinstance(told[-1], Reported)
