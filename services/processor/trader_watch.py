"""The watchlist: traders.watched and watch_min_usd in PostgreSQL (the source of truth), mirrored
in the Redis set traders_watch_key that the tracker reads to track watched traders every cycle."""
from __future__ import annotations

from decimal import Decimal

import asyncpg
import redis.asyncio as aioredis

from shared.events import now_us

# $1 address, $2 now (first and last seen of an address no trade named yet), $3 min USD or NULL (kept)
WATCH = """
INSERT INTO traders AS t (address, first_seen, last_seen, watched, watch_min_usd)
VALUES ($1, $2, $2, true, COALESCE($3::numeric, 0))
ON CONFLICT (address) DO UPDATE SET watched = true, watch_min_usd = COALESCE($3::numeric, t.watch_min_usd)
RETURNING watch_min_usd
"""
UNWATCH = "UPDATE traders SET watched = false WHERE address = $1 AND watched RETURNING address"
WATCHED = """
SELECT address, watch_min_usd, last_tracked FROM traders WHERE watched ORDER BY address
"""


async def watch(conn: asyncpg.Connection, address: str, min_usd: Decimal | None) -> Decimal:
    """Watch a trader (known or not); `min_usd` None keeps its threshold. Returns the threshold."""
    threshold: Decimal = await conn.fetchval(WATCH, address, now_us(), min_usd)
    return threshold


async def unwatch(conn: asyncpg.Connection, address: str) -> bool:
    """Stop watching; False when it was not watched."""
    return await conn.fetchval(UNWATCH, address) is not None


async def watched(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(WATCHED)
    return rows


async def sync_watch_set(conn: asyncpg.Connection, redis: aioredis.Redis, key: str) -> set[str]:
    """Replace the Redis set with the watched addresses, atomically (MULTI): the tracker never
    reads a half-written set. Returns the addresses."""
    addresses = {row["address"] for row in await watched(conn)}
    async with redis.pipeline(transaction=True) as pipe:
        pipe.delete(key)
        if addresses:
            pipe.sadd(key, *addresses)
        await pipe.execute()
    return addresses
