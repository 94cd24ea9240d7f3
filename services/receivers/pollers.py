"""Coordinators by function: every interval a Poller asks every venue that has its capability, in
parallel, each under its own timeout, so one venue's failure or hang never delays or stops the
others. Each venue's outcome is published (events), counted (metrics), logged once when it fails,
and written to Redis as soon as that venue is done, for /ready."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from services.receivers.capabilities import client_for, fetcher, venues_for
from services.receivers.frames import FrameError
from services.receivers.rest import BadResponse, RateLimited, VenueClient, VenueUnavailable
from services.receivers.venue import Fetch
from shared import metrics
from shared.backoff import sleep_or_stop, until_stopped
from shared.config import Settings
from shared.events import now_us
from shared.poll_status import PollStatus, record_poll
from shared.streams import StreamProducer

log = logging.getLogger(__name__)
STATUS_TTL_PERIODS = 10  # a venue's status outlives ten missed polls, then expires


@dataclass(frozen=True)
class VenueOutcome:
    """What one venue did in one poll."""

    venue: str
    outcome: str  # ok | timeout | rate_limited | unavailable | bad_response | internal
    events: int = 0
    error: str = ""
    duration_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"


class Poller:
    """One function (funding, spot or oi) across its venues, every `interval_s`."""

    def __init__(
        self,
        function: str,
        fetchers: Mapping[str, Fetch],
        clients: Mapping[str, VenueClient],
        assets: Sequence[str],
        interval_s: float,
        producer: StreamProducer,
        redis: aioredis.Redis,
        settings: Settings,
    ) -> None:
        self.function = function
        self.fetchers = dict(fetchers)
        self.clients = clients
        self.assets = list(assets)
        self.interval_s = interval_s
        self.producer = producer
        self.redis = redis
        self.settings = settings
        self.status_ttl_s = int(max(interval_s * STATUS_TTL_PERIODS, 600))

    async def run(self, stop: asyncio.Event) -> None:
        """Poll at once, then every interval (measured from the start of a poll) until stopped."""
        log.info(
            "poller started",
            extra={
                "function": self.function,
                "venues": ",".join(self.fetchers),
                "interval_s": self.interval_s,
            },
        )
        while not stop.is_set():
            started = time.monotonic()
            # a poll that a stop cancels at once, rather than after the slowest venue's timeout
            await until_stopped(self.poll_once(), stop)
            await sleep_or_stop(stop, max(0.0, self.interval_s - (time.monotonic() - started)))

    async def poll_once(self) -> dict[str, VenueOutcome]:
        """Every venue in parallel; returns when the last one answered or timed out."""
        async with asyncio.TaskGroup() as tasks:
            running = {venue: tasks.create_task(self.poll_venue(venue)) for venue in self.fetchers}
        return {venue: task.result() for venue, task in running.items()}

    async def poll_venue(self, venue: str) -> VenueOutcome:
        """One venue under its own timeout; its errors end here, counted and logged, never raised."""
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.settings.rest.timeout_s):
                events = await self.fetchers[venue](self.clients[venue], self.assets)
        except TimeoutError:
            result = self._failed(
                venue, "timeout", f"no answer within {self.settings.rest.timeout_s:g} s", started
            )
        except RateLimited as exc:
            result = self._failed(venue, "rate_limited", str(exc), started)
        except VenueUnavailable as exc:
            result = self._failed(venue, "unavailable", str(exc), started)
        except (BadResponse, FrameError) as exc:
            result = self._failed(venue, "bad_response", str(exc), started)
        except Exception as exc:  # a bug of ours, not the venue's: traceback logged, counted apart
            log.exception("poll crashed", extra={"function": self.function, "venue": venue})
            result = self._failed(venue, "internal", f"{type(exc).__name__}: {exc}", started, logged=True)
        else:
            for event in events:
                self.producer.publish(event)
            result = VenueOutcome(venue, "ok", events=len(events), duration_s=time.perf_counter() - started)
            metrics.POLL_LAST_SUCCESS.labels(self.function, venue).set(time.time())
        metrics.POLLS.labels(self.function, venue, result.outcome).inc()
        metrics.POLL_SECONDS.labels(self.function, venue).observe(result.duration_s)
        await self._record(result)
        return result

    def _failed(
        self, venue: str, outcome: str, error: str, started: float, logged: bool = False
    ) -> VenueOutcome:
        result = VenueOutcome(venue, outcome, error=error[:500], duration_s=time.perf_counter() - started)
        if not logged:
            log.warning(
                "poll failed",
                extra={"function": self.function, "venue": venue, "outcome": outcome, "error": result.error},
            )
        return result

    async def _record(self, result: VenueOutcome) -> None:
        status = PollStatus(
            function=self.function,
            venue=result.venue,
            ok=result.ok,
            at=now_us(),
            error=result.error,
            events=result.events,
            duration_ms=int(result.duration_s * 1000),
        )
        try:
            await record_poll(self.redis, self.settings.streams.prefix, status, self.status_ttl_s)
        except (RedisError, OSError) as exc:
            metrics.REDIS_ERRORS.labels("poll_status").inc()
            log.warning(
                "poll status not written",
                extra={"function": self.function, "venue": result.venue, "error": repr(exc)},
            )


def _assets_and_interval(function: str, settings: Settings) -> tuple[list[str], float]:
    return {
        "funding": (settings.polling.funding_assets, settings.polling.funding_s),
        "spot": (settings.polling.spot_assets, settings.polling.spot_s),
        "oi": (settings.polling.oi_assets, settings.polling.oi_s),
    }[function]


@asynccontextmanager
async def open_pollers(
    settings: Settings, producer: StreamProducer, redis: aioredis.Redis,
    opened: Mapping[str, VenueClient] | None = None,
) -> AsyncIterator[list[Poller]]:
    """The coordinators the settings ask for, sharing one VenueClient per venue (one weight budget,
    one breaker): the `opened` ones (a venue's client others use too, e.g. the trader tracker's),
    else their own, closed on exit."""
    functions = dict.fromkeys(settings.polling.functions)
    plans = {function: venues_for(function, settings) for function in functions}
    async with AsyncExitStack() as stack:
        clients: dict[str, VenueClient] = dict(opened or {})
        for venue in sorted({v for venues in plans.values() for v in venues} - set(clients)):
            clients[venue] = await stack.enter_async_context(client_for(settings, venue))
        pollers = []
        for function, venues in plans.items():
            assets, interval = _assets_and_interval(function, settings)
            if venues and assets:
                fetchers = {venue: fetcher(settings, function, venue) for venue in venues}
                pollers.append(
                    Poller(function, fetchers, clients, assets, interval, producer, redis, settings)
                )
        yield pollers
