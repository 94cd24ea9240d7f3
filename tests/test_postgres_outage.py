"""PostgreSQL unreachable for 20 s while 20k events are produced: the breaker opens, the
consumer stops reading (the stream holds the backlog, at most a batch is pending), probes,
closes and drains everything once the database is back; stored == sent, no duplicates."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import asyncpg
import pytest
import redis.asyncio as aioredis
from prometheus_client import REGISTRY

from services.processor.store import TRADES, EventStore
from shared.config import Settings
from shared.constants import PROCESSOR_GROUP, stream_key
from shared.consumer import StreamConsumer
from shared.db import create_pool
from shared.events import Trade
from shared.streams import StreamProducer
from tests.conftest import DATABASE_URL
from tests.proxy import CuttableProxy
from tests.trades import stored, trade, wait_until

pytestmark = pytest.mark.fault
TOTAL = 20_000
OUTAGE_S = 20.0
PRODUCE_S = 24.0  # production runs from before the cut until after the restore


def sample(name: str, breaker: str) -> float:
    return REGISTRY.get_sample_value(name, {"breaker": breaker}) or 0.0


async def produce_steadily(redis: aioredis.Redis, settings: Settings) -> int:
    """TOTAL trades spread over PRODUCE_S seconds, through a running StreamProducer."""
    producer = StreamProducer(redis, settings, source="test")
    done = asyncio.Event()
    async with asyncio.TaskGroup() as tasks:
        tasks.create_task(producer.run(done))
        ticks, started = 400, time.monotonic()
        for tick in range(ticks):
            for n in range(tick * TOTAL // ticks, (tick + 1) * TOTAL // ticks):
                assert producer.publish(trade(n))
            await asyncio.sleep(max(0.0, started + (tick + 1) * PRODUCE_S / ticks - time.monotonic()))
        done.set()
    return producer.published


async def test_postgres_unreachable_for_20s_loses_nothing_and_the_breaker_recovers(
    redis: aioredis.Redis, make_settings: Callable[..., Settings], pool: asyncpg.Pool
) -> None:
    target = urlsplit(DATABASE_URL)
    async with CuttableProxy(target.hostname or "127.0.0.1", target.port or 5432) as proxy:
        via_proxy = DATABASE_URL.replace(
            f"{target.hostname}:{target.port or 5432}", f"127.0.0.1:{proxy.port}"
        )
        settings = make_settings(
            database_url=via_proxy,
            producer_batch_events=100,
            consumer_batch_entries=8,
            consumer_max_in_flight=8,
            breaker_fail_max=3,
            breaker_reset_s=1.0,
        )
        stream = stream_key(settings.streams.prefix, "trades")
        sink_pool = await create_pool(settings)
        consumer = StreamConsumer(
            redis, settings, stream, PROCESSOR_GROUP, "outage", EventStore(sink_pool, {Trade: TRADES})
        )
        breaker = consumer.breaker.name
        opened_before = sample("tradehub_breaker_opened_total", breaker)
        stop = asyncio.Event()
        seen_open, most_pending, backlog_at_restore = False, 0, 0
        try:
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(consumer.run(stop))
                producing = tasks.create_task(produce_steadily(redis, settings))
                await asyncio.sleep(2)
                await proxy.cut()
                cut_at = time.monotonic()
                while time.monotonic() - cut_at < OUTAGE_S:
                    await asyncio.sleep(0.25)
                    seen_open |= sample("tradehub_breaker_state", breaker) == 2
                    most_pending = max(
                        most_pending, (await redis.xpending(stream, PROCESSOR_GROUP))["pending"]
                    )
                backlog_at_restore = max(int(g["lag"]) for g in await redis.xinfo_groups(stream))
                stored_at_restore, _ = await stored(pool)
                await proxy.restore()
                published = await producing

                async def all_stored() -> bool:
                    return (await stored(pool))[0] >= TOTAL

                await wait_until(all_stored, 40, "all stored after the outage")
                stop.set()
        finally:
            stop.set()
            await sink_pool.close()
    count, distinct = await stored(pool)
    assert published == TOTAL
    assert count == distinct == TOTAL
    assert stored_at_restore < TOTAL * 0.3 < backlog_at_restore * settings.producer.batch_events
    assert 0 < most_pending <= settings.consumer.max_in_flight  # it stopped reading: the stream held the rest
    assert seen_open and sample("tradehub_breaker_opened_total", breaker) > opened_before
    assert sample("tradehub_breaker_state", breaker) == 0 and consumer.breaker.state == "closed"
    assert (await redis.xpending(stream, PROCESSOR_GROUP))["pending"] == 0
