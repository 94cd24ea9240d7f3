"""Market analytics in the processor: its own consumer group ("analytics") on th:trades,
th:oi and th:candles, so candles, large trades and spikes never slow trade storage.

  th:trades  -> derived 1m candles + rollups, large trades, volume spikes
  th:oi      -> open interest spikes
  th:candles -> the exchanges' klines stored beside the derived candles
Results are published (th:candles, th:large_trades, th:alerts) for the API's push.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import asyncpg
import redis.asyncio as aioredis

from services.processor.analytics_sinks import ExchangeCandles, OpenInterestSpikes, TradeAnalytics
from shared.config import Settings
from shared.constants import ANALYTICS_GROUP, family_streams
from shared.consumer import Sink, StreamConsumer
from shared.health import instance_name
from shared.streams import StreamProducer

log = logging.getLogger(__name__)


def analytics_consumers(settings: Settings, redis: aioredis.Redis, pool: asyncpg.Pool,
                        producer: StreamProducer) -> list[StreamConsumer]:
    """One consumer (with its own sink and state) per stream partition of each analysed family."""
    sinks: dict[str, Callable[[], Sink]] = {
        "trades": lambda: TradeAnalytics(pool, producer, settings.analytics),
        "oi": lambda: OpenInterestSpikes(pool, producer, settings.analytics),
        "candles": lambda: ExchangeCandles(pool),
    }
    name = instance_name(settings)
    return [
        StreamConsumer(redis, settings, stream, ANALYTICS_GROUP, name, make_sink())
        for family, make_sink in sinks.items()
        for stream in family_streams(settings.streams.prefix, family, settings.streams.partitions)
    ]


async def run_analytics(settings: Settings, redis: aioredis.Redis, pool: asyncpg.Pool,
                        stop: asyncio.Event) -> None:
    """Consume until stopped; the producer stops after the consumers, flushing what they published."""
    producer = StreamProducer(redis, settings, source="processor")
    consumers = analytics_consumers(settings, redis, pool, producer)
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
