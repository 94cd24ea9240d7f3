"""Exponential backoff with full jitter: the one retry schedule every reconnect uses."""
from __future__ import annotations

import random


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
