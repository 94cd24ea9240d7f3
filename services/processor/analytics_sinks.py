"""The analytics group's sinks: trades -> candles, large trades and volume spikes; open
interest -> OI spikes; exchange klines -> the candles table. One sink per stream partition,
so its in-memory state only ever sees its own (exchange, symbol) keys.

State changes before the transaction are safe to repeat: the candle builder skips trades it
already counted and keeps bars dirty until they are written; spikes wait in an outbox until
a transaction holding them commits. Events are published only after that commit.

A "cold" minute (the builder may not have seen it whole: its first, an earlier or an evicted one,
e.g. a backfill older than `candle_memory_minutes`) is folded from the stored trades first, and so is
a closed minute a batch comes back to (a backfill): its bar then counts every stored trade of the
minute. That is exact only once the storage group has stored every entry this group was given: a
trade folded into a bar since evicted is in no entry this group will read again (docs/backfill.md).
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Sequence
from decimal import Decimal

import asyncpg
import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from services.processor.candles import ROLLUP_CHAIN, CandleBuilder, by_minute, rollup
from services.processor.large_trades import LargeTradeRule, setting_decimal
from services.processor.spikes import (
    ClosedBars,
    OpenInterestCloses,
    SpikeDetector,
    SpikeKey,
    spike_alert,
    with_empty_buckets,
)
from services.processor.store import checked
from services.processor.tables_analytics import (
    CANDLES,
    FINER_BARS,
    LARGE_TRADES,
    RECENT_VOLUMES,
    SEED_TRADES,
    SPIKES,
    merge,
)
from shared.breaker import SinkUnavailable
from shared.candles import INTERVAL_US, bucket_start, candle_of
from shared.constants import ANALYTICS_GROUP, PROCESSOR_GROUP
from shared.db import CONNECTION_ERRORS
from shared.events import Candle, Event, OpenInterest, Spike, Trade, now_us
from shared.settings import AnalyticsSettings
from shared.streams import StreamProducer, stream_of

STORAGE_WAIT_S = 2.0  # a minute read from storage waits this long for its group, then the batch is held
STORAGE_POLL_S = 0.02


def entry_order(entry_id: bytes) -> tuple[int, int]:
    milliseconds, sequence = entry_id.split(b"-")
    return int(milliseconds), int(sequence)


async def storage_caught_up(redis: aioredis.Redis, stream: str) -> bool:
    """Whether the storage group has stored (acked) every entry of `stream` the analytics group was
    given. Without both groups there is nothing to wait for (a sink driven directly, in tests)."""
    try:
        groups = {group["name"]: group for group in await redis.xinfo_groups(stream)}
    except ResponseError as exc:
        if "no such key" in str(exc):
            return True  # no stream yet, so no group either
        raise
    given, storage = groups.get(ANALYTICS_GROUP.encode()), groups.get(PROCESSOR_GROUP.encode())
    if given is None or storage is None:
        return True
    until = entry_order(given["last-delivered-id"])
    if entry_order(storage["last-delivered-id"]) < until:
        return False
    if not storage["pending"]:
        return True
    oldest = (await redis.xpending(stream, PROCESSOR_GROUP))["min"]
    return oldest is None or entry_order(oldest) > until


def thresholds_of(settings: AnalyticsSettings) -> dict[str, Decimal]:
    return {interval: setting_decimal(value) for interval, value in settings.spike_thresholds.items()}


def detector_of(settings: AnalyticsSettings) -> SpikeDetector:
    return SpikeDetector(settings.spike_window, thresholds_of(settings), settings.spike_min_points)


class _SpikeOutbox:
    """Spikes found but not yet committed: written with the next transaction, published after it."""

    def __init__(self, producer: StreamProducer) -> None:
        self.producer = producer
        self.pending: list[Spike] = []

    async def write(self, conn: asyncpg.Connection) -> None:
        await merge(conn, SPIKES, self.pending)

    def committed(self) -> None:
        for spike in self.pending:
            self.producer.publish(spike)
            self.producer.publish(spike_alert(spike))
        self.pending = []


class TradeAnalytics:
    """Sink of the analytics group on th:trades: derived candles, large trades, volume spikes."""

    def __init__(self, pool: asyncpg.Pool, producer: StreamProducer, settings: AnalyticsSettings,
                 storage_wait_s: float = STORAGE_WAIT_S) -> None:
        self.pool = pool
        self.producer = producer
        self.storage_wait_s = storage_wait_s
        self.builder = CandleBuilder(settings.candle_memory_minutes)
        self.rule = LargeTradeRule.from_settings(settings)
        self.detector = detector_of(settings)
        self.closes = ClosedBars(self.detector.thresholds, max_gap=settings.spike_window)
        self.outbox = _SpikeOutbox(producer)

    async def __call__(self, events: Sequence[Event]) -> None:
        trades = [event for event in events if isinstance(event, Trade)]
        for trade in trades:  # refuse a poison trade before it touches any state
            checked(trade.price, "price")
            checked(trade.size, "size")
        if not trades and not self.outbox.pending and not self.builder.dirty():
            return
        large = [found for trade in trades if (found := self.rule.check(trade)) is not None]
        for found in large:
            checked(found.usd_value, "usd_value")
        grouped = by_minute(trades)
        stored = sorted({*self.builder.cold_keys(grouped), *self.builder.reopened_keys(grouped)})
        if stored:
            await self._wait_for_storage(trades)
        try:
            async with self.pool.acquire() as conn:
                if stored:
                    exchanges, symbols, minutes = (list(column) for column in zip(*stored, strict=True))
                    rows = await conn.fetch(SEED_TRADES, exchanges, symbols, minutes)
                    self.builder.fold(Trade(**dict(row)) for row in rows)
                self.builder.fold(grouped)
                bars = self.builder.dirty()
                async with conn.transaction():
                    await merge(conn, CANDLES, bars)
                    rolled = await self._rollups(conn, bars)
                    await self._volume_spikes(conn, rolled)
                    await merge(conn, LARGE_TRADES, large)
                    await self.outbox.write(conn)
        except CONNECTION_ERRORS as exc:
            raise SinkUnavailable(repr(exc)) from exc
        self.builder.clean(bars)
        self.outbox.committed()
        for event in [*bars, *rolled, *large]:
            self.producer.publish(event)

    async def _wait_for_storage(self, trades: Iterable[Trade]) -> None:
        """Until the storage group has stored what this group read (minutes are about to be read from it);
        past `storage_wait_s`, SinkUnavailable: the batch is held and tried again."""
        redis, settings = self.producer.redis, self.producer.settings
        streams = sorted({stream_of(trade, settings) for trade in trades})
        deadline = time.monotonic() + self.storage_wait_s
        for stream in streams:
            while not await storage_caught_up(redis, stream):
                if time.monotonic() >= deadline:
                    raise SinkUnavailable(f"{stream}: storage has not stored what analytics read")
                await asyncio.sleep(STORAGE_POLL_S)

    async def _rollups(self, conn: asyncpg.Connection, bars: list[Candle]) -> list[Candle]:
        """Recompute every rollup bucket holding a changed bar, level by level from the stored finer bars."""
        changed, out = bars, []
        for interval, finer in ROLLUP_CHAIN:
            if not changed:
                break
            buckets = sorted({(c.exchange, c.symbol, bucket_start(c.ts, interval)) for c in changed})
            exchanges, symbols, starts = (list(column) for column in zip(*buckets, strict=True))
            rows = await conn.fetch(FINER_BARS, exchanges, symbols, starts, finer, INTERVAL_US[interval])
            changed = rollup([candle_of(row) for row in rows], interval, self.builder.latest)
            await merge(conn, CANDLES, changed)
            out.extend(changed)
        return out

    async def _volume_spikes(self, conn: asyncpg.Connection, rolled: list[Candle]) -> None:
        """Feed each bar that just became final to its volume window (seeded from storage once)."""
        for bar in sorted(rolled, key=lambda c: c.ts):
            for ts, volume in self.closes.update(bar):
                key: SpikeKey = (bar.exchange, bar.symbol, "volume", bar.interval)
                if not self.detector.knows(key):
                    rows = await conn.fetch(RECENT_VOLUMES, bar.exchange, bar.symbol, bar.interval, ts,
                                            self.detector.size)
                    history = [(row["ts"], row["volume"]) for row in reversed(rows)]
                    self.detector.seed(key, with_empty_buckets(history, bar.interval, ts, self.detector.size))
                spike = self.detector.observe(key, ts, volume, now_us())
                if spike is not None:
                    self.outbox.pending.append(spike)


class OpenInterestSpikes:
    """Sink of the analytics group on th:oi: z-scores of each interval's OI change."""

    def __init__(self, pool: asyncpg.Pool, producer: StreamProducer, settings: AnalyticsSettings) -> None:
        self.pool = pool
        self.detector = detector_of(settings)
        self.closes = OpenInterestCloses(self.detector.thresholds)
        self.outbox = _SpikeOutbox(producer)

    async def __call__(self, events: Sequence[Event]) -> None:
        for oi in events:
            if not isinstance(oi, OpenInterest):
                continue
            checked(oi.base if oi.base is not None else oi.contracts, "open interest")
            for interval, (ts, change) in self.closes.update(oi):
                spike = self.detector.observe((oi.exchange, oi.symbol, "oi", interval), ts, change, now_us())
                if spike is not None:
                    self.outbox.pending.append(spike)
        if not self.outbox.pending:
            return
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                await self.outbox.write(conn)
        except CONNECTION_ERRORS as exc:
            raise SinkUnavailable(repr(exc)) from exc
        self.outbox.committed()


class ExchangeCandles:
    """Stores the exchanges' own klines from th:candles; derived candles there are already stored."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def __call__(self, events: Sequence[Event]) -> None:
        latest: dict[tuple[str, str, str, int], Candle] = {}
        for event in events:  # one row per identity: the newest version of an open kline wins
            if isinstance(event, Candle) and event.source == "exchange":
                latest[(event.exchange, event.symbol, event.interval, event.ts)] = event
        if not latest:
            return
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                await merge(conn, CANDLES, list(latest.values()))
        except CONNECTION_ERRORS as exc:
            raise SinkUnavailable(repr(exc)) from exc
