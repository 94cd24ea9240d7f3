"""The processor: consumer groups that validate and store what the receivers publish."""
from __future__ import annotations

import asyncio
import logging

import asyncpg
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from services.processor.accounts import accounts_consumers
from services.processor.analytics import analytics_consumers
from services.processor.leaderboard import run_leaderboard
from services.processor.ownership import PartitionOwnership
from services.processor.rules_group import RELOAD_S as RULES_RELOAD_S
from services.processor.rules_group import (
    RuleBook,
    prepare_rules,
    rules_consumers,
    silence_timer,
    watch_silences,
)
from services.processor.sinks import STORED_FAMILIES
from services.processor.store import EventStore
from services.processor.traders import prepare_traders, traders_consumers
from shared.backoff import sleep_or_stop, until_stopped
from shared.breaker import SinkBreaker
from shared.config import Settings
from shared.constants import PROCESSOR_GROUP, partition_stream
from shared.consumer import StreamConsumer
from shared.db import DB_ERRORS, create_pool, ensure_daily_partitions, migrate
from shared.health import instance_name
from shared.monitor import StreamMonitor
from shared.streams import StreamProducer

log = logging.getLogger(__name__)
PARTITION_CHECK_S = 3600.0
PARTITION_RETRY_S = 60.0  # after a failed check: the database may be back long before the hour


async def prepare_database(settings: Settings) -> None:
    """Migrations, then today's partitions, before any row arrives."""
    pool = await create_pool(settings)
    try:
        async with pool.acquire() as conn:
            await migrate(conn, settings.db_schema)
            await ensure_daily_partitions(conn, "trades")
    finally:
        await pool.close()


async def keep_partitions(pool: asyncpg.Pool, stop: asyncio.Event) -> None:
    """Create tomorrow's partitions well before midnight, every hour. A database outage is logged
    and the check tried again sooner: it never stops the processor (partitions exist days ahead)."""
    failing = False
    while not await sleep_or_stop(stop, PARTITION_RETRY_S if failing else PARTITION_CHECK_S):
        try:
            await until_stopped(check_partitions(pool), stop)
        except DB_ERRORS as exc:
            log.warning("partition check failed, retrying", extra={"table": "trades", "error": repr(exc),
                                                                    "retry_in_s": PARTITION_RETRY_S})
            failing = True
            continue
        if failing:
            log.info("partition check succeeded again", extra={"table": "trades"})
        failing = False

async def check_partitions(pool: asyncpg.Pool) -> None:
    """Today's partition and the next days' exist: the missing ones are created."""
    async with pool.acquire() as conn:
        await ensure_daily_partitions(conn, "trades")


async def first_poll(monitor: StreamMonitor) -> None:
    """Record trimmed-before-read losses before our consumers read past them (reading resets
    what Redis can tell); Redis being away is not fatal here, the consumers wait for it."""
    try:
        await monitor.poll()
    except (RedisError, OSError) as exc:
        log.warning("first stream poll failed", extra={"error": repr(exc)})


def storing_consumers(redis: aioredis.Redis, settings: Settings, stream: str, name: str,
                      store: EventStore) -> list[StreamConsumer]:
    """`consumer_concurrency` consumers of one stream sharing a breaker: while one waits for
    PostgreSQL the next decodes its batch. Names are stable (<name>, <name>-1, ...), so a
    restarted processor finds its own pending entries."""
    breaker = SinkBreaker(f"{PROCESSOR_GROUP}:{stream}", settings)
    return [StreamConsumer(redis, settings, stream, PROCESSOR_GROUP, name if n == 0 else f"{name}-{n}", store,
                           breaker=breaker)
            for n in range(settings.consumer.concurrency)]


class PartitionParts:
    """What the consumers of every partition share in one processor: the pool, the analytics
    producer, the rule book. `consumers(n)` makes partition n's consumers of every group, with
    fresh sinks and state, each time the partition is taken."""

    def __init__(self, settings: Settings, redis: aioredis.Redis, pool: asyncpg.Pool, book: RuleBook) -> None:
        self.settings, self.redis, self.pool, self.book = settings, redis, pool, book
        self.analytics = StreamProducer(redis, settings, source="processor")  # its loop runs beside

    def consumers(self, partition: int) -> list[StreamConsumer]:
        settings, redis, pool = self.settings, self.redis, self.pool
        prefix, partitions = settings.streams.prefix, settings.streams.partitions
        found = [consumer for family, tables in STORED_FAMILIES.items()
                 for consumer in storing_consumers(redis, settings,
                                                   partition_stream(prefix, family, partitions, partition),
                                                   instance_name(settings), EventStore(pool, tables))]
        # its own group: never slows storage; the partition may come from another owner
        found += analytics_consumers(settings, redis, pool, self.analytics, partition, taken_over=True)
        found += rules_consumers(settings, redis, pool, self.book, partition)  # users' alert rules
        if settings.traders.enabled:  # discovery and position changes
            found += traders_consumers(settings, redis, pool, partition)
        if settings.accounts.enabled:  # the user's accounts, stored and reconciled
            found += accounts_consumers(settings, redis, pool, partition)
        return found


async def run_processor(settings: Settings, redis: aioredis.Redis, stop: asyncio.Event) -> None:
    """The groups' consumers run per partition, on the partitions this processor owns
    (services/processor/ownership.py); the rest once per process."""
    await prepare_database(settings)
    pool = await create_pool(settings)
    name = instance_name(settings)
    try:
        monitor = StreamMonitor(redis, settings, source="processor")
        await first_poll(monitor)
        book = await prepare_rules(settings, redis, pool, stop)
        if settings.traders.enabled:
            await prepare_traders(settings, redis, pool, stop)
        parts = PartitionParts(settings, redis, pool, book)
        ownership = PartitionOwnership(redis, settings, name, parts.consumers,
                                       stop_grace_s=settings.shutdown_timeout_s * 0.8)
        log.info("processor starting", extra={"consumer": name, "partitions": settings.streams.partitions})
        producer_stop = asyncio.Event()
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(monitor.run(stop))
            tasks.create_task(keep_partitions(pool, stop))
            tasks.create_task(book.keep_loaded(pool, stop, RULES_RELOAD_S))
            tasks.create_task(watch_silences(silence_timer(settings, redis, pool, book), stop))
            tasks.create_task(parts.analytics.run(producer_stop))
            if settings.traders.enabled:
                tasks.create_task(run_leaderboard(settings, pool, stop))  # a snapshot every interval
            try:
                await ownership.run(stop)
            finally:
                producer_stop.set()  # after the consumers: it flushes what they published
    finally:
        await pool.close()
