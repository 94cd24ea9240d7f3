"""One HTTP client per venue for the REST pollers: its own aiohttp session, a token bucket in the
venue's own unit (request weight per minute), retries with backoff that honour Retry-After on
429/418/5xx, and a circuit breaker, so one venue's trouble stays with that venue.

Errors leave as one of three types the coordinators count separately: RateLimited (the venue
said slow down), VenueUnavailable (5xx, timeouts, refused connections, open breaker) and
BadResponse (a 4xx other than 429/418: our request is wrong, retrying will not help).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any

import aiohttp
import msgspec
import pybreaker

from shared import metrics
from shared.backoff import Backoff
from shared.breaker import BreakerMetrics
from shared.settings import RestPolicy

log = logging.getLogger(__name__)
Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]
Params = Mapping[str, str] | Sequence[tuple[str, str]]  # pairs for repeated keys (Pyth's ids[])
THROTTLE_STATUSES = frozenset({429, 418})  # 418: Binance-style IP ban after ignoring 429s
_json = msgspec.json.Encoder()


class RestError(Exception):
    """A venue's REST call failed; the coordinator counts it and moves on."""


class RateLimited(RestError):
    """The venue answered 429/418 and retrying within this poll did not get past it."""


class VenueUnavailable(RestError):
    """5xx, timeouts, connection errors after every retry, or the venue's breaker is open."""


class BadResponse(RestError):
    """A 4xx other than 429/418: the request itself is wrong, so it is not retried."""


def retry_after_s(value: str | None) -> float | None:
    """Retry-After as seconds: delta-seconds or an HTTP date (RFC 9110 section 10.2.3)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class WeightBucket:
    """A token bucket holding a venue's request weight per minute, refilled continuously.

    Requests reserve their weight up front (the level may go below zero), so concurrent callers
    queue fairly; a 429 blocks the bucket for its Retry-After, across polls.
    """

    def __init__(self, per_minute: float, clock: Clock = time.monotonic) -> None:
        self.capacity = per_minute
        self.rate = per_minute / 60.0  # weight per second
        self._clock = clock
        self._level = per_minute
        self._stamp = clock()
        self._blocked_until = 0.0

    def reserve(self, weight: float) -> float:
        """Take `weight` now; returns how long the caller must wait before sending."""
        now = self._clock()
        self._level = min(self.capacity, self._level + (now - self._stamp) * self.rate)
        self._stamp = now
        self._level -= min(weight, self.capacity)  # a request heavier than the bucket waits for a full one
        wait = -self._level / self.rate if self._level < 0 else 0.0
        return max(wait, self._blocked_until - now)

    def block(self, seconds: float) -> None:
        """Send nothing for `seconds` (the venue's Retry-After)."""
        self._blocked_until = max(self._blocked_until, self._clock() + seconds)


class VenueClient:
    """HTTP to one venue: `get`/`post` return the body bytes of a 2xx answer or raise a RestError."""

    def __init__(
        self,
        venue: str,
        base_url: str,
        weight_per_minute: float,
        policy: RestPolicy,
        *,
        headers: Mapping[str, str] | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.venue = venue
        self.base_url = base_url.rstrip("/")
        self.policy = policy  # timeouts, retries, breaker, share of the budget: the same for every venue
        self.bucket = WeightBucket(weight_per_minute * policy.weight_fraction, clock)
        self._headers = dict(headers or {})
        self._sleep = sleep
        self._session: aiohttp.ClientSession | None = None
        self.breaker = pybreaker.CircuitBreaker(
            fail_max=policy.breaker_fail_max,
            reset_timeout=policy.breaker_reset_s,
            name=f"rest:{venue}",
            exclude=[lambda exc: isinstance(exc, BadResponse)],
            listeners=[BreakerMetrics()],
            throw_new_error_on_trip=False,
        )

    async def __aenter__(self) -> VenueClient:
        timeout = aiohttp.ClientTimeout(total=self.policy.request_timeout_s)
        self._session = aiohttp.ClientSession(timeout=timeout, headers=self._headers)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def breaker_state(self) -> str:
        return str(self.breaker.current_state)

    async def get(self, path: str, params: Params | None = None, weight: float = 1) -> bytes:
        return await self.request("GET", path, params=params, weight=weight)

    async def post(self, path: str, body: Any, weight: float = 1) -> bytes:
        """POST a JSON body (Hyperliquid /info, GRVT market data)."""
        return await self.request("POST", path, body=_json.encode(body), weight=weight)

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        body: bytes | None = None,
        weight: float = 1,
    ) -> bytes:
        """One call through the breaker; an open breaker fails at once without touching the venue."""
        try:
            with self.breaker.calling():
                return await self._attempts(method, path, params, body, weight)
        except pybreaker.CircuitBreakerError as exc:
            raise VenueUnavailable(f"{self.venue} breaker open: {exc}") from exc

    async def _attempts(
        self, method: str, path: str, params: Params | None, body: bytes | None, weight: float
    ) -> bytes:
        if self._session is None:
            raise RuntimeError(f"VenueClient({self.venue}) used outside `async with`")
        backoff = Backoff(base=0.25, cap=self.policy.retry_max_wait_s)
        url = self.base_url + path
        headers = {"Content-Type": "application/json"} if body is not None else None
        for attempt in range(self.policy.retries + 1):
            await self._throttle(weight)
            try:
                async with self._session.request(
                    method, url, params=params, data=body, headers=headers
                ) as resp:
                    payload, status = await resp.read(), resp.status
                    retry_after = retry_after_s(resp.headers.get("Retry-After"))
            except (aiohttp.ClientError, TimeoutError) as exc:
                error: RestError = VenueUnavailable(f"{type(exc).__name__}: {exc}".rstrip(": "))
                metrics.REST_REQUESTS.labels(self.venue, "error").inc()
                delay, reason = backoff.next_delay(), "network"
            else:
                metrics.REST_REQUESTS.labels(self.venue, str(status)).inc()
                if 200 <= status < 300:
                    return payload
                if status in THROTTLE_STATUSES:
                    delay = backoff.next_delay() if retry_after is None else retry_after
                    self.bucket.block(delay)
                    error, reason = RateLimited(f"HTTP {status}, retry after {delay:.3g} s"), "rate_limited"
                    if delay > self.policy.retry_max_wait_s:
                        raise error  # longer than we wait inside one poll: the next poll will be held back
                    delay = 0.0  # the blocked bucket makes the next attempt wait
                elif status >= 500:  # a 503's Retry-After is a hint, capped at what one poll waits
                    cap = self.policy.retry_max_wait_s
                    delay = backoff.next_delay() if retry_after is None else min(retry_after, cap)
                    error, reason = VenueUnavailable(f"HTTP {status}: {payload[:200]!r}"), "server_error"
                else:
                    raise BadResponse(f"HTTP {status} for {method} {path}: {payload[:200]!r}")
            if attempt == self.policy.retries:
                raise error
            metrics.REST_RETRIES.labels(self.venue, reason).inc()
            await self._sleep(delay)
        raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover

    async def _throttle(self, weight: float) -> None:
        wait = self.bucket.reserve(weight)
        if wait > 0:
            metrics.REST_THROTTLED_SECONDS.labels(self.venue).inc(wait)
            await self._sleep(wait)
