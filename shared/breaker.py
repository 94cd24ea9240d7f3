"""Circuit breakers around sinks: pybreaker's state machine, driven from asyncio."""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pybreaker

from shared import metrics
from shared.config import Settings

T = TypeVar("T")
_STATE = {"closed": 0, "half-open": 1, "open": 2}


class SinkUnavailable(Exception):
    """The store cannot be reached (connection refused, lost, timed out): retry later."""


class _Metrics(pybreaker.CircuitBreakerListener):
    def state_change(self, cb: pybreaker.CircuitBreaker, old_state: Any, new_state: Any) -> None:
        metrics.BREAKER_STATE.labels(cb.name).set(_STATE.get(new_state.name, 0))
        if new_state.name == "open":
            metrics.BREAKER_OPENED.labels(cb.name).inc()


class SinkBreaker:
    """Opens after `breaker_fail_max` SinkUnavailable in a row; other errors do not count."""

    def __init__(self, name: str, settings: Settings) -> None:
        self.name = name
        self.reset_s = settings.consumer.breaker_reset_s
        self._breaker = pybreaker.CircuitBreaker(
            fail_max=settings.consumer.breaker_fail_max, reset_timeout=settings.consumer.breaker_reset_s,
            name=name,
            exclude=[lambda exc: not isinstance(exc, SinkUnavailable)], listeners=[_Metrics()],
        )
        metrics.BREAKER_STATE.labels(name).set(0)

    @property
    def state(self) -> str:
        return str(self._breaker.current_state)

    def wait_s(self) -> float:
        """How long to wait before the next try: the reset time when open, a moment otherwise."""
        return self.reset_s if self.state == "open" else min(0.5, self.reset_s)

    async def call(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        with self._breaker.calling():
            return await fn(*args)


# The same listener for breakers outside the sinks (the REST pollers' per-venue breakers).
BreakerMetrics = _Metrics
