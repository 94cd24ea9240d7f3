"""Simulated time for the Hyperliquid traders: the wall clock by default, or sped up, or frozen and
moved on by hand, so a test can live through a day of positions and weight minutes in a second."""

from __future__ import annotations

import time


class SimClock:
    """Seconds since the epoch as the simulated venue sees them.

    speed 1.0 follows the wall clock, 60.0 lives a minute per second, 0.0 stands still until
    advance() moves it. Both the trader population and the weight meter read this clock."""

    def __init__(self, speed: float = 1.0, start_ms: int | None = None) -> None:
        if speed < 0:
            raise ValueError(f"speed must be >= 0, got {speed}")
        self.speed = speed
        self._start_s = (time.time_ns() // 1_000_000 if start_ms is None else start_ms) / 1000
        self._mono = time.monotonic()
        self._moved_s = 0.0

    def time(self) -> float:
        """Simulated seconds since the epoch."""
        return self._start_s + (time.monotonic() - self._mono) * self.speed + self._moved_s

    def ms(self) -> int:
        return int(self.time() * 1000)

    def advance(self, seconds: float) -> None:
        """Move simulated time on; never back."""
        if seconds < 0:
            raise ValueError(f"time only moves on, got {seconds}")
        self._moved_s += seconds
