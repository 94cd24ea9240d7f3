"""Exponential backoff with full jitter: the one retry schedule every reconnect uses; and the two
ways every loop waits: a sleep that a stop cuts short, and work that a stop cancels."""
from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")
# A write after the stop (a last feed status, a heartbeat's removal) waits at most this long: a
# Redis that does not answer must not spend the shutdown budget on what expires by itself anyway.
LAST_WRITE_S = 1.0


async def sleep_or_stop(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep up to `seconds`; True when stopped. asyncio.timeout, not wait_for: Python 3.11's wait_for
    can swallow a cancellation that arrives as the stop is set, and a cancelled task then runs on."""
    try:
        async with asyncio.timeout(seconds):
            await stop.wait()
    except TimeoutError:
        return stop.is_set()
    return True


async def until_stopped(work: Awaitable[T], stop: asyncio.Event) -> T | None:
    """The work's result, or None when `stop` came first: the work is then cancelled and awaited, so
    nothing is left running. Its own exception propagates. A stop already set never starts it."""
    task = asyncio.ensure_future(work)
    stopping = asyncio.ensure_future(stop.wait())
    try:
        if not stop.is_set():
            await asyncio.wait((task, stopping), return_when=asyncio.FIRST_COMPLETED)
    finally:
        task.cancel()  # no-op on a finished task
        stopping.cancel()
        await asyncio.wait((task, stopping))
    return None if task.cancelled() else task.result()


class Backoff:
    """delay(n) = uniform(0, min(cap, base * 2**n)); reset() after a success."""

    def __init__(self, base: float = 0.5, cap: float = 30.0, rng: random.Random | None = None) -> None:
        self.base = base
        self.cap = cap
        self.attempt = 0
        self._rng = rng or random.Random()

    def next_delay(self) -> float:
        """The next sleep, in seconds; grows until the cap, never gives up."""
        ceiling = min(self.cap, self.base * (2 ** min(self.attempt, 30)))
        self.attempt += 1
        return self._rng.uniform(0, ceiling)

    def reset(self) -> None:
        self.attempt = 0
