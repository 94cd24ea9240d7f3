"""The processor: consumer groups that validate and store what the receivers publish."""
from __future__ import annotations

import asyncio
import logging

import asyncpg
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from services.processor.accounts import run_accounts
from services.processor.analytics import run_analytics
from services.processor.leaderboard import run_leaderboard
from services.processor.rules_group import run_rules
from services.processor.sinks import STORED_FAMILIES
from services.processor.store import EventStore
from services.processor.traders import run_traders
from shared.backoff import sleep_or_stop, until_stopped
from shared.breaker import SinkBreaker
from shared.config import Settings
from shared.constants import PROCESSOR_GROUP, family_streams
from shared.consumer import StreamConsumer
from shared.db import DB_ERRORS, create_pool, ensure_daily_partitions, migrate
from shared.health import instance_name
from shared.monitor import StreamMonitor

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


async def cancel_late(stop: asyncio.Event, work: list[asyncio.Task[None]], grace_s: float) -> None:
    """A graceful stop has a limit: what still runs `grace_s` after stop is cancelled (its entries
    stay pending, for the next start or another consumer)."""
    await stop.wait()
    _, late = await asyncio.wait(work, timeout=grace_s)
    for task in late:
        log.warning("consumer still busy at the stop deadline: cancelled, its batch stays pending")
        task.cancel()


def storing_consumers(redis: aioredis.Redis, settings: Settings, stream: str, name: str,
                      store: EventStore) -> list[StreamConsumer]:
    """`consumer_concurrency` consumers of one stream sharing a breaker: while one waits for
    PostgreSQL the next decodes its batch. Names are stable (<name>, <name>-1, ...), so a
    restarted processor finds its own pending entries."""
    breaker = SinkBreaker(f"{PROCESSOR_GROUP}:{stream}", settings)
    return [StreamConsumer(redis, settings, stream, PROCESSOR_GROUP, name if n == 0 else f"{name}-{n}", store,
                           breaker=breaker)
            for n in range(settings.consumer.concurrency)]


async def run_processor(settings: Settings, redis: aioredis.Redis, stop: asyncio.Event) -> None:
    await prepare_database(settings)
    pool = await create_pool(settings)
    consumer_name = instance_name(settings)
    try:
        consumers = [
            consumer
            for family, tables in STORED_FAMILIES.items()
            for stream in family_streams(settings.streams.prefix, family, settings.streams.partitions)
            for consumer in storing_consumers(redis, settings, stream, consumer_name,
                                              EventStore(pool, tables))
        ]
        streams = ",".join(c.stream for c in consumers)
        log.info("consuming", extra={"streams": streams, "consumer": consumer_name})
        monitor = StreamMonitor(redis, settings, source="processor")
        await first_poll(monitor)
        async with asyncio.TaskGroup() as tasks:
            consuming = [tasks.create_task(consumer.run(stop)) for consumer in consumers]
            tasks.create_task(cancel_late(stop, consuming, settings.shutdown_timeout_s * 0.8))
            tasks.create_task(monitor.run(stop))
            tasks.create_task(keep_partitions(pool, stop))
            # its own group: never slows storage
            tasks.create_task(run_analytics(settings, redis, pool, stop))
            tasks.create_task(run_rules(settings, redis, pool, stop))  # users' alert rules: a group too
            if settings.traders.enabled:  # its own group too: discovery and position changes
                tasks.create_task(run_traders(settings, redis, pool, stop))
                tasks.create_task(run_leaderboard(settings, pool, stop))  # a snapshot every interval
            if settings.accounts.enabled:  # its own group: the user's accounts, stored and reconciled
                tasks.create_task(run_accounts(settings, redis, pool, stop))
    finally:
        await pool.close()
