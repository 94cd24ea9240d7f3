"""until_stopped and sleep_or_stop: the two ways a loop waits, both cut short by a stop."""
from __future__ import annotations

import asyncio
import time

import pytest

from shared.backoff import Backoff, sleep_or_stop, until_stopped


async def test_until_stopped_returns_the_works_result() -> None:
    async def work() -> str:
        await asyncio.sleep(0.01)
        return "done"

    assert await until_stopped(work(), asyncio.Event()) == "done"


async def test_until_stopped_cancels_the_work_when_stopped_and_returns_promptly() -> None:
    stop = asyncio.Event()
    cancelled = asyncio.Event()

    async def work() -> str:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return "never"

    asyncio.get_running_loop().call_later(0.05, stop.set)
    started = time.monotonic()
    assert await until_stopped(work(), stop) is None
    assert time.monotonic() - started < 1.0
    assert cancelled.is_set()  # cancelled and awaited: nothing left running


async def test_until_stopped_never_starts_the_work_when_already_stopped() -> None:
    stop = asyncio.Event()
    stop.set()
    started = []

    async def work() -> bool:
        started.append(True)
        return True

    assert await until_stopped(work(), stop) is None
    assert not started


async def test_until_stopped_lets_the_works_exception_through() -> None:
    async def work() -> None:
        raise ValueError("refused")

    with pytest.raises(ValueError, match="refused"):
        await until_stopped(work(), asyncio.Event())


async def test_until_stopped_cancelled_from_outside_cancels_the_work() -> None:
    cancelled = asyncio.Event()

    async def work() -> None:
        try:
            await asyncio.sleep(60)
        finally:
            cancelled.set()

    waiting = asyncio.create_task(until_stopped(work(), asyncio.Event()))
    await asyncio.sleep(0.01)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert cancelled.is_set()


async def test_sleep_or_stop_is_cut_short_by_a_stop() -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().call_later(0.05, stop.set)
    started = time.monotonic()
    assert await sleep_or_stop(stop, 60) is True
    assert time.monotonic() - started < 1.0
    assert await sleep_or_stop(asyncio.Event(), 0.01) is False


def test_backoff_grows_to_its_cap_and_resets() -> None:
    backoff = Backoff(base=0.5, cap=2.0)
    delays = [backoff.next_delay() for _ in range(20)]
    assert all(0 <= d <= 2.0 for d in delays)
    assert backoff.attempt == 20
    backoff.reset()
    assert backoff.next_delay() <= 0.5


async def test_a_cancellation_that_meets_the_stop_still_cancels() -> None:
    """Python 3.11's wait_for returned the inner result when the stop and a cancellation came in the
    same loop turn, and the cancelled task ran on (a killed processor's loop that never ended)."""
    stop = asyncio.Event()
    task = asyncio.create_task(sleep_or_stop(stop, 10))
    await asyncio.sleep(0)  # the task waits on the stop
    stop.set()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
