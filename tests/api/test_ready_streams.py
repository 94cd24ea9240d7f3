"""/ready's streams section: per stream length, DLQ depth and per group lag and pending;
a backlog at the shedding point makes it 503, dead letters alone do not."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import asyncpg
import redis.asyncio as aioredis
from pytest_aiohttp import AiohttpClient

from services.api.app import create_app
from shared.config import Settings
from shared.constants import PROCESSOR_GROUP, SERVICES, dlq_key, stream_key
from shared.health import beat_forever
from shared.streams import encode_entry
from tests.trades import trade


async def test_ready_shows_lag_and_dlq_and_fails_on_lag_only(
    aiohttp_client: AiohttpClient,
    make_settings: Callable[..., Settings],
    redis: aioredis.Redis,
    pool: asyncpg.Pool,
) -> None:
    settings = make_settings(stream_maxlen=100)
    stream = stream_key(settings.streams.prefix, "trades")
    await redis.xgroup_create(stream, PROCESSOR_GROUP, id="0", mkstream=True)
    for n in range(30):
        await redis.xadd(stream, encode_entry([trade(n)]))
    await redis.xreadgroup(PROCESSOR_GROUP, "c1", {stream: ">"}, count=5)
    await redis.xadd(dlq_key(stream), {b"e": b"x", b"error": b"refused"})
    client = await aiohttp_client(create_app(settings))
    stop = asyncio.Event()
    beats = [asyncio.create_task(beat_forever(redis, settings, name, stop)) for name in SERVICES]
    try:
        await asyncio.sleep(0.2)
        response = await client.get("/ready")
        body = await response.json()
        assert response.status == 200, body  # a DLQ is shown, not a reason to be unready
        figures = body["streams"]["by_stream"][stream]
        assert figures == {
            "length": 30,
            "cap": 100,
            "dlq": 1,
            "lost": 0,
            "groups": {PROCESSOR_GROUP: {"lag": 25, "pending": 5, "consumers": 1, "trimmed_unread": 0}},
        }
        assert body["streams"]["ok"] and body["streams"]["dlq_total"] == 1
        for n in range(30, 90):  # the backlog reaches 0.8 of the cap: producers shed now
            await redis.xadd(stream, encode_entry([trade(n)]))
        response = await client.get("/ready")
        body = await response.json()
        assert response.status == 503
        assert body["streams"]["problems"] == [f"{stream} group {PROCESSOR_GROUP} lags 85 entries (limit 80)"]
    finally:
        stop.set()
        await asyncio.gather(*beats)
