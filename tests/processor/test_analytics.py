"""The analytics sinks and group on the real PostgreSQL and Redis: candles upserted (a late
trade rewrites its bar and rollups), exact across a restart, large trades stored and
published, volume and OI spikes stored and sent to th:alerts."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal

import asyncpg
import pytest
import redis.asyncio as aioredis

from services.processor.analytics import analytics_consumers, run_analytics
from services.processor.analytics_sinks import ExchangeCandles, OpenInterestSpikes, TradeAnalytics
from services.processor.main import storing_consumers
from services.processor.store import TRADES, EventStore, RefusedValue
from shared.candles import INTERVAL_US, MINUTE_US
from shared.config import Settings
from shared.constants import FIELD_EVENTS, stream_key
from shared.events import Alert, Candle, Event, LargeTrade, OpenInterest, Spike, Trade, batch_decoder
from shared.streams import StreamProducer
from tests.processor.test_candles import LATE, MINUTE0, MINUTE1, MINUTE3, T0, S, trade

D = Decimal
FIVE = INTERVAL_US["5m"]
CANDLE_QUERY = """
SELECT ts, open::text, high::text, low::text, close::text, volume::text, trades, buy_volume::text, closed
FROM candles WHERE interval = $1 AND source = 'derived' ORDER BY ts
"""


async def published(redis: aioredis.Redis, settings: Settings, family: str) -> list[Event]:
    entries = await redis.xrange(stream_key(settings.streams.prefix, family))
    return [event for _, fields in entries for event in batch_decoder.decode(fields[FIELD_EVENTS])]


async def candles(pool: asyncpg.Pool, interval: str) -> list[tuple[object, ...]]:
    return [tuple(row) for row in await pool.fetch(CANDLE_QUERY, interval)]


async def test_candles_are_upserted_and_a_late_trade_rewrites_bar_and_rollups(
    pool: asyncpg.Pool, redis: aioredis.Redis, settings: Settings
) -> None:
    producer = StreamProducer(redis, settings)
    sink = TradeAnalytics(pool, producer, settings.analytics)
    await sink(MINUTE0)
    await sink(MINUTE1)
    await sink(MINUTE3)
    assert await candles(pool, "1m") == [
        (T0, "100", "105", "98", "101", "3.75", 4, "3", True),
        (T0 + MINUTE_US, "102", "103.5", "102", "103.5", "1.1", 2, "1.1", True),
        (T0 + 3 * MINUTE_US, "99", "99", "99", "99", "3", 1, "0", False),
    ]
    await sink([LATE])
    await sink([LATE, *MINUTE0])  # redelivered: nothing changes
    assert (await candles(pool, "1m"))[0] == (T0, "100", "110", "98", "110", "4.25", 5, "3.5", True)
    five = (T0, "100", "110", "98", "99", "8.35", 8, "4.6", False)
    assert await candles(pool, "5m") == [five]
    for interval in ("15m", "1h", "4h", "1d"):
        assert await candles(pool, interval) == [five], interval
    await producer.flush()
    sent = [e for e in await published(redis, settings, "candles") if isinstance(e, Candle)]
    assert sent[-1].interval == "1d" and sent[-1].high == D(110)


async def test_a_restarted_builder_counts_stored_trades_once(
    pool: asyncpg.Pool, redis: aioredis.Redis, settings: Settings
) -> None:
    producer = StreamProducer(redis, settings)
    await EventStore(pool, {Trade: TRADES})(MINUTE0)  # the storage group already has minute 0
    # the old process folded half of it, then died
    await TradeAnalytics(pool, producer, settings.analytics)(MINUTE0[:2])
    restarted = TradeAnalytics(pool, producer, settings.analytics)
    await restarted(MINUTE0[1:] + [LATE])  # redelivered pending entries plus a late trade
    assert (await candles(pool, "1m"))[0] == (T0, "100", "110", "98", "110", "4.25", 5, "3.5", False)


async def test_large_trades_are_stored_and_published(
    pool: asyncpg.Pool, redis: aioredis.Redis, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(large_trade_usd_default=200, large_trade_usd_by_symbol={"BTC-USDT-PERP": 250})
    producer = StreamProducer(redis, settings)
    await TradeAnalytics(pool, producer, settings.analytics)(MINUTE0 + MINUTE3)
    rows = await pool.fetch(
        "SELECT trade_id, usd_value::text, threshold::text FROM large_trades ORDER BY trade_id"
    )
    assert [tuple(r) for r in rows] == [("7", "297", "250")]  # 99 * 3; trade 3 (98 * 2 = 196) stays below
    await producer.flush()
    [sent] = await published(redis, settings, "large_trades")
    assert isinstance(sent, LargeTrade) and sent.usd_value == D(297)


def bucket_trades(n: int, volume: str) -> list[Trade]:
    return [trade(f"{n}", T0 + n * FIVE + 1, "100", volume, "buy")]


async def test_a_volume_spike_is_stored_and_alerted(
    pool: asyncpg.Pool, redis: aioredis.Redis, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(spike_min_points=10, spike_thresholds={"5m": 3.0})
    producer = StreamProducer(redis, settings)
    sink = TradeAnalytics(pool, producer, settings.analytics)
    for n in range(30):
        await sink(bucket_trades(n, "1" if n % 2 else "3"))  # volumes 3, 1, 3, 1: mean 2, stdev 1
    assert await pool.fetchval("SELECT count(*) FROM spikes") == 0
    await sink(bucket_trades(30, "50"))
    assert await pool.fetchval("SELECT count(*) FROM spikes") == 0  # bucket 30 is still open
    await sink(bucket_trades(31, "2"))
    row = await pool.fetchrow("SELECT metric, interval, ts, value::text, mean, stdev, z FROM spikes")
    assert (row["metric"], row["interval"], row["ts"], row["value"]) == ("volume", "5m", T0 + 30 * FIVE, "50")
    assert (row["mean"], row["stdev"], row["z"]) == (D(2), D(1), D(48))
    await producer.flush()
    alerts = await published(redis, settings, "alerts")
    assert [type(e) for e in alerts] == [Spike, Alert]


async def test_a_restarted_detector_seeds_its_window_from_stored_bars(
    pool: asyncpg.Pool, redis: aioredis.Redis, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(spike_min_points=10, spike_thresholds={"5m": 3.0})
    producer = StreamProducer(redis, settings)
    first = TradeAnalytics(pool, producer, settings.analytics)
    for n in range(20):
        await first(bucket_trades(n, "1" if n % 2 else "3"))
    # a restart: the window comes from the candles table
    second = TradeAnalytics(pool, producer, settings.analytics)
    await second(bucket_trades(22, "50"))  # buckets 20 and 21 empty: volume 0 in the window
    await second(bucket_trades(23, "1"))
    row = await pool.fetchrow("SELECT ts, value::text FROM spikes")
    assert (row["ts"], row["value"]) == (T0 + 22 * FIVE, "50")


async def test_oi_spikes_from_interval_changes(
    pool: asyncpg.Pool, redis: aioredis.Redis, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(spike_min_points=10, spike_thresholds={"5m": 3.0})
    producer = StreamProducer(redis, settings)
    sink = OpenInterestSpikes(pool, producer, settings.analytics)
    level = D(1000)
    events = []
    for n in range(25):
        level += D(1) if n % 2 else D(3)  # changes 3, 1, 3, 1...
        events.append(
            OpenInterest(
                exchange="okx",
                symbol="BTC-USDT-PERP",
                raw_symbol="BTC-USDT-SWAP",
                contracts=level * 100,
                base=level,
                ts=T0 + n * FIVE,
                recv_ts=0,
            )
        )
    await sink(events)
    assert await pool.fetchval("SELECT count(*) FROM spikes") == 0
    drop = OpenInterest(
        exchange="okx",
        symbol="BTC-USDT-PERP",
        raw_symbol="BTC-USDT-SWAP",
        contracts=D(0),
        base=level - 40,
        ts=T0 + 25 * FIVE,
        recv_ts=0,
    )
    after = OpenInterest(
        exchange="okx",
        symbol="BTC-USDT-PERP",
        raw_symbol="BTC-USDT-SWAP",
        contracts=D(0),
        base=level - 40,
        ts=T0 + 26 * FIVE,
        recv_ts=0,
    )
    await sink([drop, after])
    row = await pool.fetchrow("SELECT metric, ts, value::text, z FROM spikes")
    assert (row["metric"], row["ts"], row["value"]) == ("oi", T0 + 25 * FIVE, "-40")
    assert row["z"] < -3


async def test_exchange_klines_are_stored_newest_version_first(pool: asyncpg.Pool) -> None:
    def kline(close: str, closed: bool, source: str = "exchange") -> Candle:
        return Candle(
            exchange="bybit",
            symbol="BTC-USDT-PERP",
            raw_symbol="BTCUSDT",
            interval="1m",
            open=D(1),
            high=D(9),
            low=D(1),
            close=D(close),
            volume=D(5),
            closed=closed,
            source=source,
            ts=T0,
            recv_ts=0,
        )

    await ExchangeCandles(pool)([kline("2", False), kline("3", True), kline("7", True, "derived")])
    rows = await pool.fetch("SELECT source, close::text, closed FROM candles")
    assert [tuple(r) for r in rows] == [("exchange", "3", True)]


async def test_the_analytics_group_reads_trades_beside_storage(
    pool: asyncpg.Pool, redis: aioredis.Redis, settings: Settings
) -> None:
    producer = StreamProducer(redis, settings)
    for event in MINUTE0 + MINUTE1:
        producer.publish(event)
    await producer.flush()
    stop = asyncio.Event()
    task = asyncio.create_task(run_analytics(settings, redis, pool, stop))
    try:
        for _ in range(100):
            if len(await candles(pool, "1m")) == 2:
                break
            await asyncio.sleep(0.05)
        assert [row[0] for row in await candles(pool, "1m")] == [T0, T0 + MINUTE_US]
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    groups = await redis.xinfo_groups(stream_key(settings.streams.prefix, "trades"))
    assert [(g["name"], g["pending"]) for g in groups] == [(b"analytics", 0)]


async def test_a_poison_trade_is_refused_before_it_touches_any_state(
    pool: asyncpg.Pool, redis: aioredis.Redis, settings: Settings
) -> None:
    sink = TradeAnalytics(pool, StreamProducer(redis, settings), settings.analytics)
    with pytest.raises(RefusedValue):
        await sink([MINUTE0[0], trade("99", T0 + 2 * S, "Infinity", "1", "buy")])
    assert sink.builder.dirty() == []  # the consumer isolates it; the good trade comes again alone
    await sink([MINUTE0[0]])
    assert (await candles(pool, "1m")) == [(T0, "100", "100", "100", "100", "1", 1, "1", False)]


async def test_the_analytics_group_reads_its_own_batch_size(
    redis: aioredis.Redis, pool: asyncpg.Pool, make_settings: Callable[..., Settings]
) -> None:
    """Its writes cost per batch (bars and five rollup levels), so it reads more entries at once than
    the storing consumers, whose large reads only raise the heap."""
    settings = make_settings(analytics_batch_entries=40, consumer_batch_entries=5)
    producer = StreamProducer(redis, settings)
    analysing = analytics_consumers(settings, redis, pool, producer, 0)
    analysing += analytics_consumers(settings, redis, pool, producer, 0, taken_over=True)
    assert {consumer.batch_entries for consumer in analysing} == {40}
    store = EventStore(pool, {Trade: TRADES})
    storing = storing_consumers(redis, settings, stream_key(settings.streams.prefix, "trades"), "p", store)
    assert {consumer.batch_entries for consumer in storing} == {5}
