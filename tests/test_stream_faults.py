"""Consumer faults on the real Redis and PostgreSQL: a processor killed mid-batch, one stopped
with SIGTERM, consumers sharing a group, poison entries; stored == sent and nothing twice."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

import asyncpg
import pytest
import redis.asyncio as aioredis

from shared import metrics
from shared.config import Settings
from shared.constants import FIELD_EVENTS, FIELD_VERSION, PROCESSOR_GROUP, dlq_key, stream_key
from shared.consumer import StreamConsumer
from shared.streams import StreamProducer
from tests.conftest import REDIS_URL
from tests.stack import ROOT, Stack
from tests.trades import CountingStore, produce, stored, trade, wait_until

pytestmark = pytest.mark.fault
VICTIM = "e2e"  # the consumer name tests/stack.py gives the processor process (and e2e-1, ...)


async def pending_of(redis: aioredis.Redis, stream: str, consumer: str) -> int:
    """Entries pending with a processor's consumers (<name>, <name>-1, ... with consumer_concurrency)."""
    summary = await redis.xpending(stream, PROCESSOR_GROUP)
    return sum(
        int(c["pending"]) for c in summary["consumers"] if c["name"].decode().split("-")[0] == consumer
    )


async def drain_with(
    consumers: list[StreamConsumer], pool: asyncpg.Pool, total: int, seconds: float = 30
) -> None:
    """Run the consumers until `total` rows are stored, then stop them."""
    stop = asyncio.Event()

    async def all_stored() -> bool:
        return (await stored(pool))[0] >= total

    async with asyncio.TaskGroup() as tasks:
        for consumer in consumers:
            tasks.create_task(consumer.run(stop))
        try:
            await wait_until(all_stored, seconds, f"{total} stored")
        finally:
            stop.set()


async def start_processor_until_busy(
    stack: Stack, redis: aioredis.Redis, stream: str, pool: asyncpg.Pool
) -> None:
    """Start the processor and return once it has stored something and holds a batch."""

    async def busy() -> bool:
        return (await stored(pool))[0] > 0 and await pending_of(redis, stream, VICTIM) > 0

    stack.start("processor")
    await wait_until(busy, 30, "processor storing")


async def test_consumer_sigkill_mid_batch_is_reclaimed(
    tag: str,
    tmp_path: Path,
    redis: aioredis.Redis,
    make_settings: Callable[..., Settings],
    pool: asyncpg.Pool,
) -> None:
    settings = make_settings(producer_batch_events=100, consumer_batch_entries=4, consumer_claim_idle_ms=300)
    stream = stream_key(settings.streams.prefix, "trades")
    total = 40_000
    await produce(redis, settings, total)
    stack = Stack(tag, tmp_path, consumer_batch_entries=4, consumer_claim_idle_ms=300)
    try:
        for _ in range(3):  # the kill must land while a batch is read but not acked
            await start_processor_until_busy(stack, redis, stream, pool)
            stack.kill("processor")
            if await pending_of(redis, stream, VICTIM) > 0:
                break
        left_pending = await pending_of(redis, stream, VICTIM)
        stored_at_kill, _ = await stored(pool)
    finally:
        stack.stop_all()
    assert left_pending > 0 and stored_at_kill < total, stack.logs()
    reclaimed = metrics.ENTRIES_RECLAIMED.labels(stream, PROCESSOR_GROUP)._value.get()
    await asyncio.sleep(0.4)  # past the claim idle time
    survivor = StreamConsumer(redis, settings, stream, PROCESSOR_GROUP, "survivor", CountingStore(pool))
    await drain_with([survivor], pool, total)
    assert metrics.ENTRIES_RECLAIMED.labels(stream, PROCESSOR_GROUP)._value.get() - reclaimed >= left_pending
    assert await stored(pool) == (total, total)
    assert (await redis.xpending(stream, PROCESSOR_GROUP))["pending"] == 0


@pytest.mark.parametrize("consumers", [2, 3])
async def test_two_and_three_consumers_split_work_without_duplicates(
    redis: aioredis.Redis, make_settings: Callable[..., Settings], pool: asyncpg.Pool, consumers: int
) -> None:
    settings = make_settings(producer_batch_events=100, consumer_batch_entries=5)
    stream = stream_key(settings.streams.prefix, "trades")
    total = 30_000
    await produce(redis, settings, total)
    sinks = [CountingStore(pool) for _ in range(consumers)]
    group = [
        StreamConsumer(redis, settings, stream, PROCESSOR_GROUP, f"c{n}", sink)
        for n, sink in enumerate(sinks)
    ]
    await group[0].ensure_group()
    await drain_with(group, pool, total)
    shares = [sink.events for sink in sinks]
    assert all(share > 0 for share in shares), shares  # every consumer took part
    assert sum(shares) == total  # no entry went to two consumers
    assert await stored(pool) == (total, total)
    assert (await redis.xpending(stream, PROCESSOR_GROUP))["pending"] == 0


async def dlq_cli(settings: Settings, *args: str) -> str:
    env = dict(os.environ, TRADEHUB_REDIS_URL=REDIS_URL, TRADEHUB_STREAM_PREFIX=settings.streams.prefix)
    env.pop("TRADEHUB_CONFIG", None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.processor",
        "dlq",
        *args,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    return out.decode()


async def test_poison_entries_go_to_dlq_and_replay_stores_them(
    redis: aioredis.Redis, make_settings: Callable[..., Settings], pool: asyncpg.Pool
) -> None:
    settings = make_settings(producer_batch_events=10, consumer_max_deliveries=3, consumer_claim_idle_ms=50)
    stream = stream_key(settings.streams.prefix, "trades")
    poison = {13, 77, 150}  # PostgreSQL refuses these rows (negative price, a CHECK the test adds)
    await pool.execute("ALTER TABLE trades ADD CONSTRAINT trades_price_positive CHECK (price > 0)")
    producer = StreamProducer(redis, settings)
    for n in range(200):
        assert producer.publish(trade(n, price="-1" if n in poison else "65000.5"))
    assert await producer.flush()
    garbage_id = await redis.xadd(stream, {FIELD_VERSION: b"1", FIELD_EVENTS: b"\xc1 not msgpack"})
    stream_ids = {entry_id.decode() for entry_id, _ in await redis.xrange(stream)}
    consumer = StreamConsumer(redis, settings, stream, PROCESSOR_GROUP, "c1", CountingStore(pool))
    stop = asyncio.Event()

    async def dead_lettered() -> bool:
        return (
            await redis.xlen(dlq_key(stream)) == len(poison) + 1
            and (await redis.xpending(stream, PROCESSOR_GROUP))["pending"] == 0
        )

    async with asyncio.TaskGroup() as tasks:
        tasks.create_task(consumer.run(stop))
        try:
            await wait_until(dead_lettered, 20, "poison dead-lettered")
            assert await stored(pool) == (200 - len(poison),) * 2  # every good event stored
            dead = [json.loads(line) for line in (await dlq_cli(settings, "list", stream)).splitlines()]
            assert {d["orig_id"] for d in dead} <= stream_ids and garbage_id.decode() in {
                d["orig_id"] for d in dead
            }
            assert {d["consumer"] for d in dead} == {"c1"}
            refused = [d for d in dead if "trades_price_positive" in d["error"]]
            assert len(refused) == len(poison)
            assert "undecodable" in (
                await dlq_cli(
                    settings,
                    "show",
                    stream,
                    next(d["id"] for d in dead if d["orig_id"] == garbage_id.decode()),
                )
            )
            await pool.execute("ALTER TABLE trades DROP CONSTRAINT trades_price_positive")  # the fix
            assert "replayed 3" in await dlq_cli(settings, "replay", stream, *(d["id"] for d in refused))

            async def all_stored() -> bool:
                return (await stored(pool))[0] == 200

            await wait_until(all_stored, 10, "replayed entries stored")
        finally:
            stop.set()
    assert await stored(pool) == (200, 200)
    assert "purged 1" in await dlq_cli(settings, "purge", stream)  # only the undecodable entry was left
    assert await redis.xlen(dlq_key(stream)) == 0


async def test_sigterm_finishes_and_acks_the_batch_within_10s(
    tag: str,
    tmp_path: Path,
    redis: aioredis.Redis,
    make_settings: Callable[..., Settings],
    pool: asyncpg.Pool,
) -> None:
    settings = make_settings(producer_batch_events=100)
    stream = stream_key(settings.streams.prefix, "trades")
    total = 60_000
    await produce(redis, settings, total)
    stack = Stack(tag, tmp_path, consumer_batch_entries=20)
    try:
        await start_processor_until_busy(stack, redis, stream, pool)
        started = time.monotonic()
        stack.procs["processor"].send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(stack.procs["processor"].wait, 15)
        took = time.monotonic() - started
    finally:
        stack.stop_all()
    assert code == 0 and took < 10, (code, took, stack.logs())
    assert await pending_of(redis, stream, VICTIM) == 0  # it finished and acked what it had read
    group = next(g for g in await redis.xinfo_groups(stream) if g["name"] == PROCESSOR_GROUP.encode())
    count, distinct = await stored(pool)
    assert count == distinct == int(group["entries-read"]) * 100 < total  # stored == acked, read no more
    survivor = StreamConsumer(redis, settings, stream, PROCESSOR_GROUP, "after", CountingStore(pool))
    await drain_with([survivor], pool, total)
    assert await stored(pool) == (total, total)
