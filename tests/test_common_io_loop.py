"""The shared IoLoop: calls from other threads, batched sinks."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest

from common.io_loop import IoLoop

TIMEOUT_S = 5.0


@pytest.fixture
def io() -> Iterator[IoLoop]:
    loop = IoLoop(name="test-io").start()
    yield loop
    loop.stop()


def run_on_loop(io: IoLoop, fn) -> None:  # type: ignore[no-untyped-def]
    async def call() -> None:
        fn()

    io.submit(call()).result(TIMEOUT_S)


def test_calls_from_many_threads_all_run_in_each_threads_order(io: IoLoop) -> None:
    seen: list[tuple[int, int]] = []
    done = threading.Event()
    threads, calls = 8, 500

    def caller(index: int) -> None:
        for n in range(calls):
            io.call_soon(seen.append, (index, n))

    workers = [threading.Thread(target=caller, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(TIMEOUT_S)
    io.call_soon(done.set)

    assert done.wait(TIMEOUT_S)
    assert len(seen) == threads * calls
    for index in range(threads):
        assert [n for i, n in seen if i == index] == list(range(calls))


def test_a_failing_call_does_not_stop_the_ones_after_it(io: IoLoop) -> None:
    errors: list[object] = []
    io.loop.set_exception_handler(lambda _loop, context: errors.append(context["exception"]))
    done = threading.Event()

    io.call_soon(lambda: 1 / 0)
    io.call_soon(done.set)

    assert done.wait(TIMEOUT_S)
    assert len(errors) == 1 and isinstance(errors[0], ZeroDivisionError)


def test_what_a_batched_sink_gets_in_one_loop_iteration_arrives_as_one_list(io: IoLoop) -> None:
    delivered: list[list[str]] = []
    arrived = threading.Event()

    def deliver(items: list[str]) -> None:
        delivered.append(items)
        arrived.set()

    put = io.batched(deliver)

    def burst() -> None:
        put("a")
        put("b")
        put("c")

    run_on_loop(io, burst)

    assert arrived.wait(TIMEOUT_S)
    assert delivered == [["a", "b", "c"]]


def test_a_batched_sink_delivers_at_once_off_the_loop_thread(io: IoLoop) -> None:
    delivered: list[list[str]] = []
    put = io.batched(delivered.append)

    put("alone")

    assert delivered == [["alone"]]


def test_call_soon_on_a_closed_loop_raises(io: IoLoop) -> None:
    io.stop()
    io.loop.close()

    with pytest.raises(RuntimeError):
        io.call_soon(print)


def test_a_batched_sink_keeps_order_across_iterations(io: IoLoop) -> None:
    delivered: list[list[int]] = []
    done = threading.Event()

    async def two_iterations() -> None:
        put(1)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        put(2)

    put = io.batched(delivered.append)
    io.submit(two_iterations()).result(TIMEOUT_S)
    io.call_soon(done.set)

    assert done.wait(TIMEOUT_S)
    assert [item for batch in delivered for item in batch] == [1, 2]
