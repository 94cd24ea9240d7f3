"""The API in-process against the real Redis and PostgreSQL."""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal

import asyncpg
import redis.asyncio as aioredis
from pytest_aiohttp import AiohttpClient

from services.api.app import create_app
from services.processor.store import TRADES, EventStore
from shared.config import Settings
from shared.constants import SERVICES
from shared.events import Trade
from shared.health import beat_forever


async def test_health_is_alive(aiohttp_client: AiohttpClient, settings: Settings) -> None:
    client = await aiohttp_client(create_app(settings))
    response = await client.get("/health")
    assert response.status == 200
    assert (await response.json())["status"] == "ok"


async def test_ready_is_503_until_every_service_beats(
    aiohttp_client: AiohttpClient, settings: Settings, redis: aioredis.Redis, pool: asyncpg.Pool
) -> None:
    client = await aiohttp_client(create_app(settings))
    response = await client.get("/ready")
    body = await response.json()
    assert response.status == 503
    assert body["redis"]["ok"] and body["postgres"]["ok"]
    assert not body["services"]["processor"]["ok"]
    stop = asyncio.Event()
    beats = [asyncio.create_task(beat_forever(redis, settings, name, stop)) for name in SERVICES]
    try:
        await asyncio.sleep(0.2)
        response = await client.get("/ready")
        body = await response.json()
        assert response.status == 200, body
        assert set(body["services"]) == set(SERVICES)
        assert all(0 <= s["age_s"] < 5 for s in body["services"].values())
    finally:
        stop.set()
        await asyncio.gather(*beats)


async def test_trades_newest_first_with_filters_and_cap(
    aiohttp_client: AiohttpClient, make_settings: Callable[..., Settings], pool: asyncpg.Pool
) -> None:
    settings = make_settings(api_max_limit=3)
    t0 = 1_763_000_000_000_000
    trades = [
        Trade(exchange=ex, symbol=sym, raw_symbol="X", trade_id=str(n), price=Decimal("100.5"),
              size=Decimal("0.1"), side="buy", ts=t0 + n, recv_ts=t0 + n)
        for n, (ex, sym) in enumerate([("binance", "BTC-USDT-PERP")] * 5 + [("bybit", "BTC-USDT-PERP")] * 2)
    ]
    await EventStore(pool, {Trade: TRADES})(trades)
    client = await aiohttp_client(create_app(settings))
    params = {"exchange": "binance", "symbol": "BTC-USDT-PERP", "limit": "50"}
    response = await client.get("/api/v1/trades", params=params)
    body = await response.json()
    assert response.status == 200
    assert [t["trade_id"] for t in body["trades"]] == ["4", "3", "2"]  # newest first, capped at 3
    assert body["trades"][0]["price"] == "100.5"
    response = await client.get("/api/v1/trades", params={"exchange": "bybit"})
    assert [t["trade_id"] for t in (await response.json())["trades"]] == ["6", "5"]


async def test_bad_parameters_are_400_with_a_json_error(
    aiohttp_client: AiohttpClient, settings: Settings
) -> None:
    client = await aiohttp_client(create_app(settings))
    for params in ({"limit": "abc"}, {"limit": "0"}, {"limit": "-5"}, {"symbol": "BTC'; DROP TABLE trades"}):
        response = await client.get("/api/v1/trades", params=params)
        assert response.status == 400
        assert "error" in await response.json()
    response = await client.get("/api/v1/nothing-here")
    assert response.status == 404
    assert "error" in await response.json()
