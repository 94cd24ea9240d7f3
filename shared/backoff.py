"""Exponential backoff with full jitter: the one retry schedule every reconnect uses; and the one
way every loop waits: a sleep that a stop cuts short."""
from __future__ import annotations

import asyncio
import random


async def sleep_or_stop(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep up to `seconds`; True when stopped. A zero sleep times out before stop.wait() runs,
    so a stop already set is read directly."""
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        return stop.is_set()
    return True


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
