"""Processors sharing the partitions by leases (services/processor/ownership.py): two processors on
three partitions both work and store each trade once; a stopped one frees its partitions at once; a
killed one's (SIGKILL) are taken over with its unacked entries; and a partition moved while the
store group lagged analytics leaves the same candle rows as an undisturbed run."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import redis.asyncio as aioredis

from services.processor import main as processor
from services.processor.ownership import PartitionOwnership, fair_share, rebalance, take_order
from services.processor.store import EventStore
from shared import metrics
from shared.config import Settings
from shared.constants import (
    ANALYTICS_GROUP,
    PROCESSOR_GROUP,
    family_streams,
    partition_lease_key,
    processor_members_key,
)
from shared.consumer import StreamConsumer
from shared.db import create_pool
from shared.events import Event, Trade
from shared.streams import StreamProducer
from tests.conftest import DATABASE_URL, REDIS_URL, delete_keys, drop_schema
from tests.stack import Stack
from tests.trades import stored, wait_until

PARTITIONS = 3
LEASES = {"stream_partitions": PARTITIONS, "stream_lease_ttl_s": 1.5, "stream_lease_renew_s": 0.25}
PAIRS = [(ex, f"{base}-USDT-PERP") for ex in ("binance", "bybit") for base in ("BTC", "ETH", "SOL")]
MINUTE_US = 60_000_000
START = 1_763_000_040 * 1_000_000  # a minute boundary
PER_MINUTE = 4  # trades per pair and minute
CANDLE_COLUMNS = ("exchange, symbol, interval, ts, open, high, low, close, volume, trades, buy_volume, "
                  "closed, recv_ts")


def test_fair_share_is_the_ceiling() -> None:
    assert [fair_share(3, live) for live in (1, 2, 3, 4)] == [3, 2, 1, 1]


def test_rebalance_releases_the_highest_or_says_how_many_to_take() -> None:
    assert rebalance({0, 1, 2}, 2) == ([2], 0)
    assert rebalance({1}, 2) == ([], 1)
    assert rebalance({0, 2}, 2) == ([], 0)


def test_take_order_starts_at_the_processors_own_point_and_wraps() -> None:
    assert take_order([0, 1, 3, 4], 2) == [3, 4, 0, 1]
    assert take_order([0, 1], 0) == [0, 1]


async def test_a_lease_lost_to_another_stops_the_partition_and_a_stop_frees_the_rest(
    redis: aioredis.Redis, make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(**{**LEASES, "stream_partitions": 2})
    started: list[int] = []

    def work(n: int) -> list[StreamConsumer]:
        started.append(n)
        return []

    ownership = PartitionOwnership(redis, settings, "pa", work, stop_grace_s=1.0)
    stop = asyncio.Event()
    running = asyncio.create_task(ownership.run(stop))
    try:
        async def owns(partitions: set[int]) -> bool:
            return set(ownership.owned) == partitions

        await wait_until(lambda: owns({0, 1}), 10, "both partitions owned")
        await redis.set(partition_lease_key(settings.streams.prefix, 0), b"pz", px=60_000)
        await wait_until(lambda: owns({1}), 10, "partition 0 given up to pz")
        await redis.delete(partition_lease_key(settings.streams.prefix, 0))
        await wait_until(lambda: owns({0, 1}), 10, "partition 0 taken again")
        assert started[:2] in ([0, 1], [1, 0]) and started[2:] == [0]
    finally:
        stop.set()
        await running
    assert await redis.get(partition_lease_key(settings.streams.prefix, 0)) is None
    assert await redis.get(partition_lease_key(settings.streams.prefix, 1)) is None
    assert await redis.zcard(processor_members_key(settings.streams.prefix)) == 0


def minute_trades(minutes: range) -> list[Trade]:
    """PER_MINUTE trades per pair in each minute, with prices that make every OHLC figure differ."""
    out = []
    for minute in minutes:
        for k in range(PER_MINUTE):
            for index, (exchange, symbol) in enumerate(PAIRS):
                n = (minute * PER_MINUTE + k) * len(PAIRS) + index
                ts = START + minute * MINUTE_US + k * 7_000_000 + index
                out.append(Trade(exchange=exchange, symbol=symbol, raw_symbol=symbol.replace("-", ""),
                                 trade_id=str(n), price=Decimal(f"{100 + (n * 37) % 23}.{n % 10}"),
                                 size=Decimal(f"0.{n % 97 + 1:03d}"), side="buy" if n % 3 else "sell",
                                 ts=ts, recv_ts=ts + 100))
    return out


async def send(redis: aioredis.Redis, settings: Settings, trades: Sequence[Trade]) -> None:
    producer = StreamProducer(redis, settings)
    for trade in trades:
        assert producer.publish(trade)
    assert await producer.flush()


def stored_at_least(pool: asyncpg.Pool, count: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return (await stored(pool))[0] >= count
    return check


def trade_streams(settings: Settings) -> list[str]:
    return family_streams(settings.streams.prefix, "trades", PARTITIONS)


async def holders(redis: aioredis.Redis, settings: Settings) -> list[bytes | None]:
    return [await redis.get(partition_lease_key(settings.streams.prefix, n)) for n in range(PARTITIONS)]


async def analysed(redis: aioredis.Redis, settings: Settings) -> bool:
    """The analytics group read and acked everything on every trades stream."""
    for stream in trade_streams(settings):
        groups = {g["name"]: g for g in await redis.xinfo_groups(stream)}
        group = groups.get(ANALYTICS_GROUP.encode())
        if group is None or group["lag"] != 0 or group["pending"] != 0:
            return False
    return True


class Processors:
    """In-process processors, each with its own instance name and Redis client; `kill` cancels one
    without letting it free its leases (a SIGKILL as far as Redis and PostgreSQL can tell)."""

    def __init__(self, make_settings: Callable[..., Settings], **overrides: Any) -> None:
        self.make_settings, self.overrides = make_settings, overrides
        self.running: dict[str, tuple[asyncio.Task[None], asyncio.Event, aioredis.Redis]] = {}
        self.pools: dict[str, list[asyncpg.Pool]] = {}

    def start(self, name: str) -> None:
        settings = self.make_settings(service_instance=name, **LEASES, **self.overrides)
        client, stop = aioredis.Redis.from_url(REDIS_URL), asyncio.Event()
        task = asyncio.create_task(processor.run_processor(settings, client, stop))
        self.running[name] = (task, stop, client)

    async def create_pool(self, settings: Settings) -> asyncpg.Pool:
        """Stands in for the processor's create_pool, so that kill() can close its connections."""
        pool = await create_pool(settings)
        self.pools.setdefault(settings.service_instance, []).append(pool)
        return pool

    async def kill(self, name: str) -> None:
        """Cancelled, and its PostgreSQL connections closed under it, as the kernel closes a killed
        process's sockets (a connection left open in a transaction would hold its locks)."""
        task, _, client = self.running.pop(name)
        task.cancel()
        for pool in self.pools.pop(name, []):
            pool.terminate()
        while not task.done():  # Python 3.11's wait_for can swallow a cancellation: cancel again
            task.cancel()
            await asyncio.wait([task], timeout=1)
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await client.aclose()

    async def stop(self, name: str) -> None:
        """SIGTERM, as far as the processor can tell: its stop event."""
        task, stop, client = self.running.pop(name)
        stop.set()
        async with asyncio.timeout(15):
            await task
        await client.aclose()

    async def stop_all(self) -> None:
        for _, stop, _ in self.running.values():
            stop.set()
        for name in list(self.running):
            task, _, client = self.running.pop(name)
            async with asyncio.timeout(15):
                await task
            await client.aclose()


@contextlib.asynccontextmanager
async def processors(make_settings: Callable[..., Settings], **overrides: Any) -> AsyncIterator[Processors]:
    running = Processors(make_settings, **overrides)
    try:
        yield running
    finally:
        await running.stop_all()


async def both_own_partitions(redis: aioredis.Redis, settings: Settings) -> None:
    async def shared() -> bool:
        return set(await holders(redis, settings)) == {b"pa", b"pb"}

    await wait_until(shared, 20, "both processors owning partitions")


async def start_pa_and_pb(running: Processors, redis: aioredis.Redis, settings: Settings) -> None:
    running.start("pa")
    running.start("pb")
    await both_own_partitions(redis, settings)


async def alone_owning(redis: aioredis.Redis, settings: Settings, name: bytes) -> None:
    """Until `name` owns every partition."""
    async def alone() -> bool:
        return await holders(redis, settings) == [name] * PARTITIONS

    await wait_until(alone, 20, f"{name.decode()} owning every partition")


async def test_two_processors_share_three_partitions_and_store_each_trade_once(
    redis: aioredis.Redis, make_settings: Callable[..., Settings], pool: asyncpg.Pool,
) -> None:
    settings = make_settings(**LEASES)
    async with processors(make_settings) as running:
        await start_pa_and_pb(running, redis, settings)
        owners = await holders(redis, settings)
        trades = minute_trades(range(3))
        await send(redis, settings, trades)
        await wait_until(stored_at_least(pool, len(trades)), 20, "every trade stored")
        assert await stored(pool) == (len(trades), len(trades))
        assert await holders(redis, settings) == owners  # no move: each stream was read by its owner alone
        work: dict[bytes | None, float] = {}
        for stream, owner in zip(trade_streams(settings), owners, strict=True):
            # entries delivered to the store group's consumers of this stream, in this process's metrics
            work[owner] = work.get(owner, 0) + metrics.DELIVERIES.labels(stream, PROCESSOR_GROUP)._value.get()
        assert set(work) == {b"pa", b"pb"} and all(work.values()), work


async def test_processor_sigkill_its_partitions_and_unacked_entries_are_taken_over(
    redis: aioredis.Redis, make_settings: Callable[..., Settings], pool: asyncpg.Pool, tag: str,
    tmp_path: Path,
) -> None:
    settings = make_settings(**LEASES)
    stack = Stack(tag, tmp_path, service_instance="pa", consumer_block_ms=100, producer_flush_ms=10,
                  **{key: value for key, value in LEASES.items()})
    try:
        async with processors(make_settings) as running:
            stack.start("processor")  # pa: a process of its own, for the SIGKILL
            running.start("pb")
            await both_own_partitions(redis, settings)
            first = minute_trades(range(2))
            await send(redis, settings, first)

            await wait_until(stored_at_least(pool, len(first)), 20, "the first trades stored")
            owners = await holders(redis, settings)
            await asyncio.to_thread(stack.kill, "processor")
            later = minute_trades(range(2, 4))
            await send(redis, settings, later)
            # what pa had read but not acked when it died: its own entries on its partitions
            taken = 0
            for stream, owner in zip(trade_streams(settings), owners, strict=True):
                if owner == b"pa":
                    for group in (PROCESSOR_GROUP, ANALYTICS_GROUP):
                        reply = await redis.xreadgroup(group, "pa", {stream: ">"}, count=2)
                        taken += len(reply[0][1]) if reply else 0
            assert taken, "pa owned no partition with new trades"

            await alone_owning(redis, settings, b"pb")
            await wait_until(stored_at_least(pool, len(first) + len(later)), 20, "every trade stored")
            await wait_until(lambda: analysed(redis, settings), 20, "every trade analysed")
            assert await stored(pool) == (len(first) + len(later),) * 2
            for stream in trade_streams(settings):
                for group in (PROCESSOR_GROUP, ANALYTICS_GROUP):
                    assert (await redis.xpending(stream, group))["pending"] == 0
    finally:
        stack.stop_all()


async def test_a_stopped_processor_frees_its_partitions_for_the_other(
    redis: aioredis.Redis, make_settings: Callable[..., Settings], pool: asyncpg.Pool,
) -> None:
    settings = make_settings(**LEASES)
    async with processors(make_settings) as running:
        await start_pa_and_pb(running, redis, settings)
        first = minute_trades(range(2))
        await send(redis, settings, first)
        await running.stop("pa")
        assert b"pa" not in await holders(redis, settings)  # freed at its stop, not left to lapse
        assert await redis.zscore(processor_members_key(settings.streams.prefix), "pa") is None
        later = minute_trades(range(2, 4))
        await send(redis, settings, later)

        await alone_owning(redis, settings, b"pb")
        await wait_until(stored_at_least(pool, len(first) + len(later)), 20, "every trade stored")
        await wait_until(lambda: analysed(redis, settings), 20, "every trade analysed")
        assert await stored(pool) == (len(first) + len(later),) * 2


class GatedStore(EventStore):
    """The real store, held while `gate` is closed: the store group falls behind analytics."""

    gate = asyncio.Event()

    async def __call__(self, events: Sequence[Event]) -> None:
        await self.gate.wait()
        await super().__call__(events)


async def candle_rows(pool: asyncpg.Pool) -> list[tuple[Any, ...]]:
    rows = await pool.fetch(f"SELECT {CANDLE_COLUMNS} FROM candles WHERE source = 'derived' "
                            "ORDER BY exchange, symbol, interval, ts")
    return [tuple(row) for row in rows]


@contextlib.asynccontextmanager
async def scratch_schema(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    """A second schema and prefix for the undisturbed run, removed afterwards."""
    pool = await asyncpg.create_pool(DATABASE_URL, server_settings={"search_path": settings.db_schema})
    try:
        yield pool
    finally:
        await pool.close()
        await drop_schema(settings.db_schema)
        client = aioredis.Redis.from_url(REDIS_URL)
        await delete_keys(client, settings.streams.prefix)
        await client.aclose()


async def test_candles_of_a_moved_partition_equal_an_undisturbed_run(
    redis: aioredis.Redis, make_settings: Callable[..., Settings], pool: asyncpg.Pool, tag: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(processor, "EventStore", GatedStore)
    GatedStore.gate = asyncio.Event()
    GatedStore.gate.set()
    early, middle, late = minute_trades(range(3)), minute_trades(range(3, 4)), minute_trades(range(4, 7))
    total = len(early) + len(middle) + len(late)
    settings = make_settings(**LEASES)
    async with processors(make_settings) as running:
        monkeypatch.setattr(processor, "create_pool", running.create_pool)
        await start_pa_and_pb(running, redis, settings)
        await send(redis, settings, early)
        await wait_until(lambda: analysed(redis, settings), 20, "the early trades analysed")
        GatedStore.gate.clear()  # storage stalls; analytics goes on, ahead of it
        await send(redis, settings, middle)
        await wait_until(lambda: analysed(redis, settings), 20, "the middle trades analysed")
        await running.kill("pa")  # its store consumers die with their batches unstored

        await alone_owning(redis, settings, b"pb")
        await send(redis, settings, late)
        GatedStore.gate.set()

        async def done() -> bool:
            return (await stored(pool))[0] >= total and await analysed(redis, settings)

        await wait_until(done, 30, "every trade stored and analysed")
        moved = await candle_rows(pool)

    calm = make_settings(**LEASES, db_schema=f"{tag}_calm", stream_prefix=f"{tag}calm")
    async with scratch_schema(calm) as calm_pool, processors(make_settings, db_schema=calm.db_schema,
                                                            stream_prefix=calm.streams.prefix) as undisturbed:
        undisturbed.start("pc")

        await alone_owning(redis, calm, b"pc")
        await send(redis, calm, [*early, *middle, *late])

        async def calm_done() -> bool:
            return (await stored(calm_pool))[0] >= total and await analysed(redis, calm)

        await wait_until(calm_done, 30, "every trade stored and analysed")
        expected = await candle_rows(calm_pool)
    assert await stored(pool) == (total, total)
    assert len(expected) > len(PAIRS) * 7
    assert moved == expected

