"""The traders group end to end on the real Redis and PostgreSQL: trades discovered from
th:trades, snapshots diffed from th:positions, its own PositionChanges left alone, everything
acked, and the watch set restored from PostgreSQL at start; the processor starts the group only
when traders_enabled."""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal

import asyncpg
import pytest
import redis.asyncio as aioredis

from services.processor.main import run_processor
from services.processor.traders import run_traders
from shared.config import Settings
from shared.constants import (
    PROCESSOR_GROUP,
    TRADERS_GROUP,
    dlq_key,
    stream_key,
    traders_rotation_key,
    traders_watch_key,
)
from shared.events import PositionChange, Trade
from shared.streams import StreamProducer
from tests.processor.test_positions_store import BTC, T1, T2, A, B, pos, published, state
from tests.trades import wait_until

D = Decimal


async def test_the_group_discovers_diffs_and_never_rediffs_its_own_output(
    pool: asyncpg.Pool, redis: aioredis.Redis, settings: Settings
) -> None:
    await pool.execute("INSERT INTO traders (address, first_seen, last_seen, watched) "
                       "VALUES ($1, 0, 0, true)", B)
    trades = stream_key(settings.streams.prefix, "trades")
    producer = StreamProducer(redis, settings)
    producer.publish(Trade(exchange="hyperliquid", symbol=BTC, raw_symbol="BTC", trade_id="76", price=D(100),
                           size=D(1), side="buy", buyer=B, seller=A, ts=T1, recv_ts=T1))
    assert await producer.flush()  # before the group: discovery starts at the end of th:trades
    stop = asyncio.Event()
    task = asyncio.create_task(run_traders(settings, redis, pool, stop))

    async def joined() -> bool:
        return bool(await redis.xinfo_groups(trades))

    async def flipped() -> bool:
        return bool(await pool.fetchval("SELECT count(*) FROM position_changes"))

    try:
        await wait_until(joined, 10, "joined th:trades")
        producer.publish(Trade(exchange="hyperliquid", symbol=BTC, raw_symbol="BTC", trade_id="77",
                               price=D(100), size=D(1), side="buy", buyer=A, seller=B, ts=T1, recv_ts=T1))
        producer.publish(state(T1, pos(BTC, "1")))
        producer.publish(state(T2, pos(BTC, "-1")))
        assert await producer.flush()
        await wait_until(flipped, 10, "diffed")
        await asyncio.sleep(0.5)  # time enough to read its own PositionChange back
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    changes = [e for e in await published(redis, settings, "positions") if isinstance(e, PositionChange)]
    assert [(c.account, c.change, c.ts) for c in changes] == [(A, "flip", T2)]
    assert await pool.fetchval("SELECT count(*) FROM position_changes") == 1
    assert await pool.fetchval("SELECT trades_seen FROM traders WHERE address = $1", A) == 1
    assert set(await redis.zrange(traders_rotation_key(settings.streams.prefix), 0, -1)) == {A.encode(),
                                                                                             B.encode()}
    assert await redis.smembers(traders_watch_key(settings.streams.prefix)) == {B.encode()}
    for family in ("trades", "positions"):
        stream = stream_key(settings.streams.prefix, family)
        groups = await redis.xinfo_groups(stream)
        assert [(g["name"], g["pending"]) for g in groups] == [(TRADERS_GROUP.encode(), 0)]
        assert await redis.xlen(dlq_key(stream)) == 0


@pytest.mark.parametrize("enabled", [True, False])
async def test_the_processor_runs_the_traders_group_only_when_enabled(
    pool: asyncpg.Pool, redis: aioredis.Redis, make_settings: Callable[..., Settings], enabled: bool
) -> None:
    settings = make_settings(traders_enabled=enabled)
    stop = asyncio.Event()
    running = asyncio.create_task(run_processor(settings, redis, stop))
    trades = stream_key(settings.streams.prefix, "trades")

    async def groups() -> set[bytes]:
        return {g["name"] for g in await redis.xinfo_groups(trades)} if await redis.exists(trades) else set()

    async def storing() -> bool:
        return PROCESSOR_GROUP.encode() in await groups()

    try:
        await wait_until(storing, 20, "storing trades")
        await asyncio.sleep(0.3)
    finally:
        stop.set()
        await asyncio.wait_for(running, 10)
    assert (TRADERS_GROUP.encode() in await groups()) is enabled
    positions = stream_key(settings.streams.prefix, "positions")  # other groups may read it (rules)
    position_groups = {g["name"] for g in await redis.xinfo_groups(positions)} if await redis.exists(
        positions) else set()
    assert (TRADERS_GROUP.encode() in position_groups) is enabled
