"""/api/v1/gaps and the feeds section of /ready, from stored gaps and the feeds' states in Redis."""

from __future__ import annotations

import asyncpg
import redis.asyncio as aioredis
from pytest_aiohttp import AiohttpClient

from services.api.app import create_app
from services.processor.store import EventStore
from services.processor.tables_gaps import GAPS
from shared.config import Settings
from shared.events import Gap, now_us
from shared.feed_status import FeedStatus, write_feed_statuses


async def test_stored_and_ongoing_gaps_with_filters(
    aiohttp_client: AiohttpClient, settings: Settings, redis: aioredis.Redis, pool: asyncpg.Pool
) -> None:
    now = now_us()
    gaps = [
        Gap(
            feed=f"{ex}:0",
            exchange=ex,
            from_ts=now - 10_000_000 * n,
            to_ts=now - 10_000_000 * n + 2_000_000,
            reason="idle",
            ts=now,
            recv_ts=now,
        )
        for n, ex in enumerate(["bybit", "okx", "bybit"], start=1)
    ]
    await EventStore(pool, {Gap: GAPS})(gaps)
    down = FeedStatus(
        feed="deribit:0",
        exchange="deribit",
        connected=False,
        at=now,
        outage_from=now - 5_000_000,
        last_data_ts=now - 5_000_000,
        failures=3,
        reason="ConnectionRefusedError",
        idle_timeout_s=30,
    )
    up = FeedStatus(
        feed="bybit:0", exchange="bybit", connected=True, at=now, last_data_ts=now, idle_timeout_s=30
    )
    await write_feed_statuses(redis, settings.streams.prefix, [down, up], ttl_s=60)
    client = await aiohttp_client(create_app(settings))

    body = await (await client.get("/api/v1/gaps")).json()
    assert [g["feed"] for g in body["gaps"]] == ["bybit:0", "okx:0", "bybit:0"]  # newest first
    assert body["gaps"][0]["duration_us"] == 2_000_000
    [ongoing] = body["ongoing"]
    assert ongoing["feed"] == "deribit:0" and ongoing["to_ts"] is None and ongoing["failures"] == 3
    assert not ongoing["stale"]

    bybit = await (await client.get("/api/v1/gaps", params={"exchange": "bybit", "limit": "1"})).json()
    assert bybit["count"] == 1 and bybit["ongoing"] == []
    assert (await client.get("/api/v1/gaps", params={"feed": "bad feed!"})).status == 400

    ready = await (await client.get("/ready")).json()
    assert ready["feeds"]["not_ok"] == ["deribit:0"]
    assert ready["feeds"]["by_feed"]["bybit:0"]["ok"]
