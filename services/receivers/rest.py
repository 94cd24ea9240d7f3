"""One HTTP client per venue for every REST call made to it: its own aiohttp session, a weight
budget in the venue's own unit (a token bucket of weight per minute, or the venue's rolling window
and its lanes: services/receivers/budget.py), retries with backoff that honour Retry-After on
429/418/5xx, and a circuit breaker, so one venue's trouble stays with that venue.

Errors leave as one of three types the coordinators count separately: RateLimited (the venue
said slow down), VenueUnavailable (5xx, timeouts, refused connections, open breaker) and
BadResponse (a 4xx other than 429/418: our request is wrong, retrying will not help).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any

import aiohttp
import msgspec
import pybreaker

from services.receivers.budget import Budget, Clock, RollingWindow, Sleep, Ticket
from shared import metrics
from shared.backoff import Backoff
from shared.breaker import BreakerMetrics
from shared.settings import RestPolicy

log = logging.getLogger(__name__)
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
    """A 4xx other than 429/418: the request itself is wrong, so it is not retried. `status` and
    `body` let a venue's account part tell a refused key (401, Binance -2015) from the rest."""

    def __init__(self, message: str, status: int = 0, body: bytes = b"") -> None:
        super().__init__(message)
        self.status = status
        self.body = body


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


@dataclass(frozen=True)
class AnswerWeight:
    """Weight an answer adds by what it returns (Hyperliquid userFills: per 20 fills), known only
    once it is read: `most` is reserved with the request, so the budget never overspends, and the
    charge becomes `of(body)` when the answer arrives."""

    most: float
    of: Callable[[bytes], float]


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

    async def acquire(self, weight: float, sleep: Sleep, most: float = 0.0) -> Ticket:
        """Reserve `weight` and the `most` its answer may add, sleep until it may be sent; settling
        the ticket returns what the answer did not cost."""
        wait = self.reserve(weight + most)
        if wait > 0:
            await sleep(wait)
        reserved = min(weight + most, self.capacity)

        def adjust(actual: float, answered: bool) -> None:
            self._level += reserved - min(actual, self.capacity)

        return Ticket(wait, weight + most, adjust)


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
        budget: Budget | None = None,
    ) -> None:
        self.venue = venue
        self.base_url = base_url.rstrip("/")
        self.policy = policy  # timeouts, retries, breaker, share of the budget: the same for every venue
        # what calls spend unless they name a lane: a token bucket of the policy's share, or the
        # venue's own (capabilities.client_for: a lane of its rolling window)
        self.bucket: Budget = budget if budget is not None else WeightBucket(
            weight_per_minute * policy.weight_fraction, clock)
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

    def lane(self, weight_per_minute: float) -> RollingWindow:
        """A share of the venue's rolling window for one user of this client (the trader tracker):
        its calls pass `budget=lane` and spend from the lane and the venue's window both."""
        if not isinstance(self.bucket, RollingWindow):
            raise TypeError(f"{self.venue} counts no rolling window: its budget has no lanes")
        return self.bucket.root.lane(weight_per_minute)

    async def get(self, path: str, params: Params | None = None, weight: float = 1) -> bytes:
        return await self.request("GET", path, params=params, weight=weight)

    async def post(self, path: str, body: Any, weight: float = 1, *, budget: Budget | None = None,
                   answer: AnswerWeight | None = None) -> bytes:
        """POST a JSON body (Hyperliquid /info, GRVT market data), spending from `budget` (the
        client's own when None) the weight plus what the answer adds."""
        return await self.request("POST", path, body=_json.encode(body), weight=weight, budget=budget,
                                  answer=answer)

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        body: bytes | None = None,
        weight: float = 1,
        budget: Budget | None = None,
        answer: AnswerWeight | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> bytes:
        """One call through the breaker; an open breaker fails at once without touching the venue.
        `headers` are this call's own (a signed call's key and signature): never logged."""
        call = _Call(method, path, params, body, weight, self.bucket if budget is None else budget, answer,
                     headers)
        try:
            with self.breaker.calling():
                return await self._attempts(call)
        except pybreaker.CircuitBreakerError as exc:
            raise VenueUnavailable(f"{self.venue} breaker open: {exc}") from exc

    async def _attempts(self, call: _Call) -> bytes:
        if self._session is None:
            raise RuntimeError(f"VenueClient({self.venue}) used outside `async with`")
        backoff = Backoff(base=0.25, cap=self.policy.retry_max_wait_s)
        url = self.base_url + call.path
        headers = {"Content-Type": "application/json"} if call.body is not None else {}
        headers.update(call.headers or {})
        most = call.answer.most if call.answer is not None else 0.0
        for attempt in range(self.policy.retries + 1):
            ticket = await self._throttle(call.budget, call.weight, most)
            try:
                async with self._session.request(
                    call.method, url, params=call.params, data=call.body, headers=headers
                ) as resp:
                    payload, status = await resp.read(), resp.status
                    retry_after = retry_after_s(resp.headers.get("Retry-After"))
            except (aiohttp.ClientError, TimeoutError) as exc:
                ticket.failed()  # it may have reached the venue before failing: counted until now
                error: RestError = VenueUnavailable(f"{type(exc).__name__}: {exc}".rstrip(": "))
                metrics.REST_REQUESTS.labels(self.venue, "error").inc()
                delay, reason = backoff.next_delay(), "network"
            else:
                metrics.REST_REQUESTS.labels(self.venue, str(status)).inc()
                if 200 <= status < 300:
                    ticket.settle(call.weight + (call.answer.of(payload) if call.answer is not None else 0))
                    return payload
                ticket.failed()
                if status in THROTTLE_STATUSES:
                    delay = backoff.next_delay() if retry_after is None else retry_after
                    call.budget.block(delay)
                    error, reason = RateLimited(f"HTTP {status}, retry after {delay:.3g} s"), "rate_limited"
                    if delay > self.policy.retry_max_wait_s:
                        raise error  # longer than we wait inside one poll: the next poll will be held back
                    delay = 0.0  # the blocked bucket makes the next attempt wait
                elif status >= 500:  # a 503's Retry-After is a hint, capped at what one poll waits
                    cap = self.policy.retry_max_wait_s
                    delay = backoff.next_delay() if retry_after is None else min(retry_after, cap)
                    error, reason = VenueUnavailable(f"HTTP {status}: {payload[:200]!r}"), "server_error"
                else:
                    raise BadResponse(f"HTTP {status} for {call.method} {call.path}: {payload[:200]!r}",
                                      status, payload)
            if attempt == self.policy.retries:
                raise error
            metrics.REST_RETRIES.labels(self.venue, reason).inc()
            await self._sleep(delay)
        raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover

    async def _throttle(self, budget: Budget, weight: float, most: float) -> Ticket:
        ticket = await budget.acquire(weight, self._sleep, most)
        if ticket.waited > 0:
            metrics.REST_THROTTLED_SECONDS.labels(self.venue).inc(ticket.waited)
        return ticket


@dataclass(frozen=True)
class _Call:
    """One request as every attempt of it sends it."""

    method: str
    path: str
    params: Params | None
    body: bytes | None
    weight: float
    budget: Budget
    answer: AnswerWeight | None
    headers: Mapping[str, str] | None = None
