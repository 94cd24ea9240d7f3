"""Market analytics in the processor: its own consumer group ("analytics") on th:trades,
th:oi and th:candles, so candles, large trades and spikes never slow trade storage.

  th:trades  -> derived 1m candles + rollups, large trades, volume spikes
  th:oi      -> open interest spikes
  th:candles -> the exchanges' klines stored beside the derived candles
Results are published (th:candles, th:large_trades, th:alerts) for the API's push.

A partition taken over from another processor (services/processor/ownership.py) starts its trades
consumer only once the store group has stored every trade the analytics group already saw, and its
candle builder first folds in each pair's last stored minute: so a moved partition neither loses
nor doubles a candle (docs/scaling.md#taking-over).
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

import asyncpg
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from services.processor.analytics_sinks import (
    ExchangeCandles,
    OpenInterestSpikes,
    TradeAnalytics,
    storage_caught_up,
)
from services.processor.tables_analytics import SEED_TRADES
from shared.backoff import Backoff, sleep_or_stop
from shared.breaker import SinkUnavailable
from shared.candles import bucket_start
from shared.config import Settings
from shared.constants import ANALYTICS_GROUP, partition_stream
from shared.consumer import Sink, StreamConsumer
from shared.db import CONNECTION_ERRORS
from shared.events import Event, Trade
from shared.health import instance_name
from shared.streams import StreamProducer

log = logging.getLogger(__name__)
STORE_WAIT_POLL_S = 0.2
Pair = tuple[str, str]  # (exchange, symbol)

# The newest derived 1m bar of one exchange+symbol opening at or before $3 (the primary key's order):
# where the previous owner's candle builder stopped.
LAST_BAR = """
SELECT ts FROM candles
WHERE exchange = $1 AND symbol = $2 AND interval = '1m' AND source = 'derived' AND ts <= $3
ORDER BY ts DESC
LIMIT 1
"""


class AfterStoreConsumer(StreamConsumer):
    """The analytics consumer of th:trades on a partition taken over. The previous owner's analytics
    may have acked trades the store group had not stored yet; the new candle builder reads a minute's
    earlier trades from storage, so it starts only once they are all stored (the store group's
    consumers of the same partition run already)."""

    async def run(self, stop: asyncio.Event) -> None:
        backoff = Backoff(base=0.2, cap=self.settings.redis_backoff_max_s)
        waiting = False
        while not stop.is_set():
            try:
                if await storage_caught_up(self.redis, self.stream):
                    break
                delay = STORE_WAIT_POLL_S
            except (RedisError, OSError) as exc:
                log.warning("redis unavailable to the analytics gate", extra={"stream": self.stream,
                                                                             "error": repr(exc)})
                delay = backoff.next_delay()
            if not waiting:
                log.info("analytics waits for the store group", extra={"stream": self.stream})
                waiting = True
            await sleep_or_stop(stop, delay)
        await super().run(stop)


class ResumedCandles:
    """The trades sink of a partition taken over. Before the first trades of each exchange+symbol,
    its candle builder folds in the stored trades of the pair's newest derived 1m bar at or before
    them, as the previous owner's builder held it: that bar is then re-emitted closed when a later
    minute starts, and its trades count once, as in an undisturbed run."""

    def __init__(self, sink: TradeAnalytics, pool: asyncpg.Pool) -> None:
        self.sink = sink
        self.pool = pool
        self.resumed: set[Pair] = set()

    async def __call__(self, events: Sequence[Event]) -> None:
        first: dict[Pair, int] = {}
        for event in events:
            if isinstance(event, Trade) and (event.exchange, event.symbol) not in self.resumed:
                pair, minute = (event.exchange, event.symbol), bucket_start(event.ts, "1m")
                first[pair] = min(first.get(pair, minute), minute)
        if first:
            await self._resume(first)
        await self.sink(events)

    async def _resume(self, first: dict[Pair, int]) -> None:
        try:
            async with self.pool.acquire() as conn:
                keys = []
                for (exchange, symbol), minute in sorted(first.items()):
                    last = await conn.fetchval(LAST_BAR, exchange, symbol, minute)
                    if last is not None:
                        keys.append((exchange, symbol, int(last)))
                rows = []
                if keys:
                    exchanges, symbols, minutes = (list(column) for column in zip(*keys, strict=True))
                    rows = await conn.fetch(SEED_TRADES, exchanges, symbols, minutes)
        except CONNECTION_ERRORS as exc:
            raise SinkUnavailable(repr(exc)) from exc
        self.sink.builder.fold(Trade(**dict(row)) for row in rows)
        self.resumed.update(first)


def analytics_consumers(settings: Settings, redis: aioredis.Redis, pool: asyncpg.Pool,
                        producer: StreamProducer, partition: int,
                        taken_over: bool = False) -> list[StreamConsumer]:
    """The consumers of one partition of each analysed family, each with its own sink and state.
    `taken_over`: the partition comes from another owner (or an earlier run): see the module doc."""
    name = instance_name(settings)

    def stream(family: str) -> str:
        return partition_stream(settings.streams.prefix, family, settings.streams.partitions, partition)

    trades = TradeAnalytics(pool, producer, settings.analytics)
    others: dict[str, Callable[[], Sink]] = {
        "oi": lambda: OpenInterestSpikes(pool, producer, settings.analytics),
        "candles": lambda: ExchangeCandles(pool),
    }
    batch = settings.analytics.batch_entries
    first = (AfterStoreConsumer(redis, settings, stream("trades"), ANALYTICS_GROUP, name,
                                ResumedCandles(trades, pool), batch_entries=batch) if taken_over
             else StreamConsumer(redis, settings, stream("trades"), ANALYTICS_GROUP, name, trades,
                                 batch_entries=batch))
    return [first, *(StreamConsumer(redis, settings, stream(family), ANALYTICS_GROUP, name, make_sink(),
                                    batch_entries=batch)
                     for family, make_sink in others.items())]


async def run_analytics(settings: Settings, redis: aioredis.Redis, pool: asyncpg.Pool,
                        stop: asyncio.Event) -> None:
    """Every partition, without ownership, until stopped (the processor runs analytics through its
    partitions instead); the producer stops after the consumers, flushing what they published."""
    producer = StreamProducer(redis, settings, source="processor")
    consumers = [consumer for n in range(settings.streams.partitions)
                 for consumer in analytics_consumers(settings, redis, pool, producer, n)]
    log.info("analytics consuming", extra={"streams": ",".join(c.stream for c in consumers)})
    producer_stop = asyncio.Event()
    async with asyncio.TaskGroup() as tasks:
        tasks.create_task(producer.run(producer_stop))
        try:
            async with asyncio.TaskGroup() as consuming:
                for consumer in consumers:
                    consuming.create_task(consumer.run(stop))
        finally:
            producer_stop.set()
