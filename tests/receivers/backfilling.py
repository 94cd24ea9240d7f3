"""What the backfill tests share: one venue socket with its sequencer and the venue's backfill
worker, the gap records per symbol, and what the processor's store keeps of the published events."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import redis.asyncio as aioredis

from services.processor.sinks import STORED_FAMILIES
from services.processor.store import EventStore
from services.receivers.backfill import Backfill, open_backfill
from services.receivers.connection import FeedConnection
from shared.events import Gap
from tests.receivers.sim import FakeProducer, Sim


@asynccontextmanager
async def backfilled_socket(sim: Sim, venue: str, extra: dict[str, Any], redis: aioredis.Redis,
                            producer: FakeProducer) -> AsyncIterator[tuple[FeedConnection, Backfill]]:
    """One socket of `venue` (receiver settings `extra`, flat names) with its sequencer, and the
    venue's backfill worker, until the block ends."""
    settings, feed = sim.settings(**extra), sim.feed(venue, **extra)
    async with open_backfill(settings, redis, producer, [feed]) as backfill:
        conn = FeedConnection(feed, producer, backoff_max_s=0.3, sequencer=backfill.sequencer(feed))
        stop = asyncio.Event()
        tasks = [asyncio.create_task(conn.run(stop)), asyncio.create_task(backfill.run(stop))]
        try:
            yield conn, backfill
        finally:
            stop.set()
            await asyncio.wait_for(asyncio.gather(*tasks), 5)


def symbol_gaps(producer: FakeProducer) -> list[Gap]:
    return [e for e in producer.events if isinstance(e, Gap) and e.symbol]


async def stored_twice(pool: asyncpg.Pool, producer: FakeProducer) -> list[asyncpg.Record]:
    """The published trades and gaps through the processor's store, twice (a redelivery): per symbol,
    the rows and the distinct trade ids."""
    store = EventStore(pool, STORED_FAMILIES["trades"] | STORED_FAMILIES["gaps"])
    await store(producer.events)
    await store(producer.events)
    return await pool.fetch("SELECT symbol, count(*) AS n, count(DISTINCT trade_id) AS ids FROM trades "
                            "GROUP BY symbol ORDER BY symbol")
