"""The trader tracker: every cycle, the watched traders and then the next ones of the rotation have
their clearinghouseState read, `batch` at a time, inside the tracker's share of Hyperliquid's
weight budget; each state is published (TraderState, th:positions) and the rotation rescored with
the time it was read. A trader whose fills or equity are due is handed to the readers, which page
its fills from its cursor (TraderFill) and read its portfolio (TraderEquity) from a part of the
same share, so states are never starved of it.

The budget (services/receivers/budget.py): Hyperliquid's 1200 weight per minute per IP is one
rolling window for the whole process. The pollers spend from a lane of rest.weight_fraction of it,
the tracker from a lane of traders.weight_share (s), and inside the tracker's lane the reader from
a soft lane of READS_SHARE of it (more by the extra of the one answer it has in flight, at most 100
for a full fills page): when fills and equity are idle, states have the whole share. With N
traders in the rotation, each is read at least every N x 2 / (1200 x s) minutes while the reader
is idle, N x 2 / (1200 x s - (300 x s + 100)) at worst, plus one cycle (staleness_bound_s).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable

import msgspec
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from services.receivers.exchanges.hyperliquid.rest import WEIGHT_PER_MINUTE
from services.receivers.exchanges.hyperliquid.traders import (
    FILLS_ANSWER,
    STATE_WEIGHT,
    fetch_equity,
    fetch_state,
    read_fills,
)
from services.receivers.frames import FrameError
from services.receivers.rest import BadResponse, RateLimited, RestError, VenueClient, VenueUnavailable
from services.receivers.traders.figures import Figures
from services.receivers.traders.rotation import Cursor, Rotation
from shared import metrics
from shared.backoff import Backoff, sleep_or_stop, until_stopped
from shared.settings import Settings
from shared.streams import StreamProducer

log = logging.getLogger(__name__)
CYCLE_S = 10.0  # a cycle starts at most this often: the watched traders are read this often, budget allowing
READS_SHARE = 0.25  # of the tracker's lane: fills and portfolio reads
READERS = 1  # one trader's fills and equity at a time: its lane is exceeded by one answer's extra at most
READS_QUEUED = 64  # traders waiting for the readers; more are due again on their next poll
STATUS_INTERVAL_S = 5.0  # the figures are written this often
Pause = Callable[[asyncio.Event, float], Awaitable[bool]]
OUTCOMES: dict[type[Exception], str] = {RateLimited: "rate_limited", VenueUnavailable: "unavailable"}


class Tracker:
    """Reads the traders' states, fills and equity inside the tracker's share of the venue budget."""

    def __init__(self, settings: Settings, client: VenueClient, producer: StreamProducer,
                 redis: aioredis.Redis, *, clock: Callable[[], float] = time.time,
                 pause: Pause = sleep_or_stop, reads_share: float = READS_SHARE) -> None:
        self.part = settings.traders
        self.client = client
        self.producer = producer
        self.flush_s = settings.producer.flush_ms / 1000
        self.backoff_max_s = settings.redis_backoff_max_s
        self.lane = client.lane(WEIGHT_PER_MINUTE * self.part.weight_share)
        # reads_share 0: no readers, the whole share reads states (fills and equity only when asked)
        self.readers = READERS if reads_share > 0 else 0
        self.reads_lane = (self.lane.lane(self.lane.limit * reads_share, soft=True) if self.readers
                           else self.lane)
        self.rotation = Rotation(redis, settings.streams.prefix)
        self.figures = Figures(self.rotation, settings.streams.prefix, self.lane, self.staleness_bound_s,
                               clock)
        self.clock = clock  # the time of the rotation's scores and of the figures (a test's own)
        self.pause = pause  # between cycles: (stop, seconds on that clock) -> stopped
        self._queue: asyncio.Queue[str] = asyncio.Queue(READS_QUEUED)
        self._queued: set[str] = set()  # waiting for or being read by a reader

    @property
    def states_per_cycle(self) -> int:
        """What the tracker's share reads in a cycle: watched traders first, the rotation the rest."""
        return max(self.part.batch, int(self.lane.limit / STATE_WEIGHT * CYCLE_S / self.lane.window_s))

    def staleness_bound_s(self, traders: int, watched: int = 0) -> float:
        """The longest a trader of the rotation goes unread, the reader busy with full fills pages:
        the cycles it takes to reach it after its last read, plus the one it waits in. A cycle reads
        the watched and up to states_per_cycle - watched others at what the share leaves states (the
        venue's minute plus our margin), and lasts CYCLE_S at least."""
        others = max(0, traders - watched)
        per_cycle = min(others, max(self.part.batch, self.states_per_cycle - watched))
        reads = min(self.lane.limit, self.reads_lane.limit + FILLS_ANSWER.most) if self.readers else 0.0
        if reads >= self.lane.limit:
            return math.inf  # a share this small: a full fills page may hold every state back
        states_per_s = (self.lane.limit - reads) / STATE_WEIGHT / (self.lane.window_s + self.lane.margin_s)
        cycle_s = max(CYCLE_S, (per_cycle + watched) / states_per_s)
        return (math.ceil(others / per_cycle) + 1) * cycle_s if per_cycle else cycle_s

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    async def run(self, stop: asyncio.Event) -> None:
        """Cycle until stopped; a Redis outage pauses the cycles (backing off), never ends them."""
        log.info("tracker started", extra={"weight_per_minute": self.lane.limit, "batch": self.part.batch,
                                           "states_per_cycle": self.states_per_cycle})
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self._report(stop))
            for _ in range(self.readers):
                tasks.create_task(self._read_due(stop))
            backoff = Backoff(base=0.5, cap=self.backoff_max_s)
            while not stop.is_set():
                started = self.clock()
                try:
                    await until_stopped(self.cycle(), stop)
                except (RedisError, OSError) as exc:
                    metrics.REDIS_ERRORS.labels("tracker").inc()
                    log.warning("tracker cycle failed: redis", extra={"error": repr(exc)})
                    await sleep_or_stop(stop, backoff.next_delay())
                    continue
                backoff.reset()
                await self.pause(stop, CYCLE_S - (self.clock() - started))

    async def cycle(self) -> int:
        """Read the watched traders and the next of the rotation; returns how many states were read."""
        watched = await self.rotation.watched()
        count = max(self.part.batch, self.states_per_cycle - len(watched))
        addresses = [*watched, *await self.rotation.next(count, skip=watched)]
        cursors = await self.rotation.cursors(addresses)
        tracked: dict[str, int] = {}
        gate = asyncio.Semaphore(self.part.batch)
        async with asyncio.TaskGroup() as tasks:
            reads = [tasks.create_task(self._track(a, cursors[a], tracked, gate)) for a in addresses]
        await self.rotation.rescore(tracked)
        self.figures.cycles += 1
        return sum(read.result() for read in reads)

    async def _track(self, address: str, cursor: Cursor, tracked: dict[str, int],
                     gate: asyncio.Semaphore) -> bool:
        """One trader's state: published, and its time noted for the rotation; its fills and equity
        handed to the readers when due. A failure is counted and logged; the trader stays first in
        the rotation, except when the venue refuses the request itself (it would refuse it again)."""
        async with gate:
            try:
                state = await fetch_state(self.client, address, self.lane)
            except (BadResponse, FrameError) as exc:
                tracked[address] = self.now_ms()
                self._failed("state", address, exc)
                return False
            except RestError as exc:
                self._failed("state", address, exc)
                return False
            except Exception:  # a bug of ours, not the venue's: traceback logged, counted apart
                log.exception("trader state crashed", extra={"address": address})
                metrics.TRACKER_REQUESTS.labels("state", "internal").inc()
                return False
        if cursor.fills_complete is not None:
            state = msgspec.structs.replace(state, fills_complete=cursor.fills_complete)
        await self.producer.publish_wait(state)
        tracked[address] = self.now_ms()
        self.figures.tracked()
        metrics.TRACKER_REQUESTS.labels("state", "ok").inc()
        if self.readers and self._due(cursor):
            self._hand_over(address)
        return True

    def _due(self, cursor: Cursor) -> bool:
        now = self.now_ms()
        return (now - cursor.fills_read_at >= self.part.fills_interval_s * 1000
                or now - cursor.equity_read_at >= self.part.equity_interval_s * 1000)

    def _hand_over(self, address: str) -> None:
        if address in self._queued:
            return
        try:
            self._queue.put_nowait(address)
        except asyncio.QueueFull:
            return  # due again on its next poll
        self._queued.add(address)

    async def _read_due(self, stop: asyncio.Event) -> None:
        """A reader: the traders handed over, one at a time, until stopped."""
        backoff = Backoff(base=0.5, cap=self.backoff_max_s)
        while not stop.is_set():
            address = await until_stopped(self._queue.get(), stop)
            if address is None:
                return
            try:
                await until_stopped(self.read(address), stop)
                backoff.reset()
            except (RedisError, OSError) as exc:
                metrics.REDIS_ERRORS.labels("tracker").inc()
                log.warning("trader fills not read: redis", extra={"address": address, "error": repr(exc)})
                await sleep_or_stop(stop, backoff.next_delay())
            except Exception:  # a bug of ours: logged with its traceback, the other traders go on
                log.exception("trader fills read crashed", extra={"address": address})
                metrics.TRACKER_REQUESTS.labels("fills", "internal").inc()
            finally:
                self._queued.discard(address)

    async def read(self, address: str) -> Cursor:
        """The trader's fills from its cursor and its equity, whichever is due; the cursor is saved
        once what was read is in the stream, so a restart neither skips nor loses a fill."""
        cursor = start = (await self.rotation.cursors([address]))[address]
        now = self.now_ms()
        if now - cursor.fills_read_at >= self.part.fills_interval_s * 1000:
            cursor = await self._read_fills(address, cursor, now)
        if now - cursor.equity_read_at >= self.part.equity_interval_s * 1000:
            cursor = await self._read_equity(address, cursor, now)
        if cursor != start:
            await self._written()
            await self.rotation.save_cursor(address, cursor)
        return cursor

    async def _read_fills(self, address: str, cursor: Cursor, now: int) -> Cursor:
        try:
            read = await read_fills(self.client, address, cursor.fills_ms, self.reads_lane)
        except (BadResponse, FrameError) as exc:
            self._failed("fills", address, exc)
            return msgspec.structs.replace(cursor, fills_read_at=now)  # refused: not again before its time
        except RestError as exc:
            self._failed("fills", address, exc)
            return cursor
        for fill in read.fills:
            await self.producer.publish_wait(fill)
        metrics.TRACKER_REQUESTS.labels("fills", "ok").inc(read.pages)
        complete = cursor.fills_complete is not False and not read.truncated  # a lost fill stays lost
        return msgspec.structs.replace(cursor, fills_ms=read.newest_ms, fills_complete=complete,
                                       fills_read_at=now)

    async def _read_equity(self, address: str, cursor: Cursor, now: int) -> Cursor:
        try:
            equity = await fetch_equity(self.client, address, self.reads_lane)
        except (BadResponse, FrameError) as exc:
            self._failed("equity", address, exc)
            return msgspec.structs.replace(cursor, equity_read_at=now)
        except RestError as exc:
            self._failed("equity", address, exc)
            return cursor
        await self.producer.publish_wait(equity)
        metrics.TRACKER_REQUESTS.labels("equity", "ok").inc()
        return msgspec.structs.replace(cursor, equity_read_at=now)

    async def _written(self) -> None:
        """Wait until everything published so far is in Redis (the producer flushes on its own)."""
        mark = self.producer.published + self.producer.buffered
        while self.producer.published < mark:
            await asyncio.sleep(self.flush_s)

    def _failed(self, request: str, address: str, exc: RestError | FrameError) -> None:
        outcome = OUTCOMES.get(type(exc), "bad_response")
        metrics.TRACKER_REQUESTS.labels(request, outcome).inc()
        log.warning("trader request failed", extra={"request": request, "outcome": outcome,
                                                     "address": address, "error": str(exc)[:300]})

    async def _report(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await until_stopped(self.figures.write(), stop)
            await sleep_or_stop(stop, STATUS_INTERVAL_S)
