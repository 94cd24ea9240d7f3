"""Derived candles after a backfill, on the real Redis and PostgreSQL with the storage group and the
analytics group reading th:trades: every 1m candle counts the stored trades of its minute, and
their volume, exactly, however far the two groups are apart.

A backfill older than the builder's memory makes its minutes "cold": each batch folds the minute's
stored trades in, then the bar is dropped again. When the storage group has not yet stored the
previous batch of the backfill, that batch is neither in storage nor coming again: the candle
counted it once and lost it."""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal

import asyncpg
import redis.asyncio as aioredis

from services.processor.analytics_sinks import TradeAnalytics
from services.processor.store import TRADES, EventStore
from shared.candles import MINUTE_US, bucket_start
from shared.config import Settings
from shared.constants import ANALYTICS_GROUP, PROCESSOR_GROUP, stream_key
from shared.consumer import StreamConsumer
from shared.events import Trade
from shared.streams import StreamProducer

STEP_US = 2_000_000  # a trade every 2 s, so a minute holds 30
MINUTES = 6
HOLE = range(40, 52)  # minute 1: twelve trades the socket missed

PER_MINUTE = """
SELECT t.minute, t.n, t.volume, c.trades, c.volume AS candle_volume
FROM (SELECT ts - ts % 60000000 AS minute, count(*) AS n, sum(size) AS volume FROM trades GROUP BY 1) t
LEFT JOIN candles c ON c.symbol = 'BTC-USDT-PERP' AND c.interval = '1m' AND c.source = 'derived'
                   AND c.ts = t.minute
ORDER BY 1
"""


def tape(start: int) -> list[Trade]:
    return [Trade(exchange="binance", symbol="BTC-USDT-PERP", raw_symbol="BTCUSDT", trade_id=str(7000 + n),
                  price=Decimal(100 + n % 17), size=Decimal(n % 7 + 1), side="buy" if n % 3 else "sell",
                  ts=start + n * STEP_US, recv_ts=start + n * STEP_US)
            for n in range(MINUTES * MINUTE_US // STEP_US)]


async def miscounted(pool: asyncpg.Pool, made: int) -> list[tuple[object, ...]]:
    """The minutes whose candle's trade count or volume is not that of their stored trades."""
    rows = await pool.fetch(PER_MINUTE)
    assert sum(row["n"] for row in rows) == made
    return [tuple(row) for row in rows if (row["trades"], row["candle_volume"]) != (row["n"], row["volume"])]


async def drain(consumer: StreamConsumer) -> None:
    """Steps until a step finds nothing (a held batch is tried again first)."""
    for _ in range(50):
        if not await consumer.step() and not consumer._held:  # noqa: SLF001 - held: not finished yet
            return
    raise AssertionError("the consumer did not finish")


async def test_a_backfill_older_than_memory_is_counted_whatever_storage_lags(
    pool: asyncpg.Pool, redis: aioredis.Redis, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(candle_memory_minutes=2, consumer_batch_entries=1,
                                       breaker_reset_s=0.05)
    start = bucket_start(time.time_ns() // 1000, "1m") - 10 * MINUTE_US
    trades = tape(start)
    stream = stream_key(settings.streams.prefix, "trades")
    producer = StreamProducer(redis, settings)
    storing = EventStore(pool, {Trade: TRADES})
    store = StreamConsumer(redis, settings, stream, PROCESSOR_GROUP, "store", storing)
    analytics = StreamConsumer(redis, settings, stream, ANALYTICS_GROUP, "analytics",
                               TradeAnalytics(pool, producer, settings.analytics, storage_wait_s=0.05))
    await store.ensure_group()
    await analytics.ensure_group()
    for trade in [t for n, t in enumerate(trades) if n not in HOLE]:  # the live tape, minutes 0 to 5
        producer.publish(trade)
    await producer.flush()
    await drain(store)
    await drain(analytics)
    for part in (HOLE[:6], HOLE[6:]):  # the backfill of minute 1, in two entries
        for n in part:
            producer.publish(trades[n])
        await producer.flush()
    for _ in HOLE:  # analytics reads the backfill before storage has stored any of it
        await analytics.step()
    await drain(store)
    await drain(analytics)
    assert await miscounted(pool, len(trades)) == []


async def test_a_backfilled_minute_ends_equal_to_its_stored_trades(
    pool: asyncpg.Pool, redis: aioredis.Redis, settings: Settings
) -> None:
    """Whatever way a stored trade of the minute came (here: stored, never given to this group), the
    minute a backfill comes back to is folded from storage too."""
    trades = tape(bucket_start(time.time_ns() // 1000, "1m") - 10 * MINUTE_US)
    live = [t for n, t in enumerate(trades) if n not in HOLE]
    store, sink = EventStore(pool, {Trade: TRADES}), TradeAnalytics(pool, StreamProducer(redis, settings),
                                                                     settings.analytics)
    await store(live)
    await sink(live[:30])  # minute 0: the first, read from storage too
    await sink(live[30:35] + live[36:])  # one stored trade of minute 1 this group never read
    backfill = [trades[n] for n in HOLE]
    await store(backfill)
    await sink(backfill)
    assert await miscounted(pool, len(trades)) == []
