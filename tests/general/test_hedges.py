"""The hedge monitor on the real PostgreSQL and Redis: short positions written straight into
account_positions, the JLP pool read from the hand-computed fixture; required, held and drift exact,
snapshots stored, one alert past the threshold across two runs, a recovery when it is back; and
GET /api/v1/hedges (401 without a key, 200 with account:read)."""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal

import aiohttp
import asyncpg
import pytest
import redis.asyncio as aioredis
from aiohttp import web
from pytest_aiohttp import AiohttpClient
from pytest_aiohttp.plugin import AiohttpServer

from services.api.api_keys import create_key
from services.api.app import create_app
from services.general.hedges import HedgeMonitor, hedge_schedule
from services.general.pools import PoolExposure, PoolSourceError, jlp
from services.simulator.rest_venues import add_rest_venues
from shared.config import Settings
from shared.constants import stream_key
from shared.events import Alert, batch_decoder
from shared.settings import HedgePool, VenueSettings
from shared.streams import StreamProducer
from tests.fixtures import frame

D = Decimal
T0 = 1_763_000_000_000_000
ACCOUNT_INSERT = """
INSERT INTO accounts (id, exchange, scope, address, sealed, alerts, created_at, updated_at)
VALUES ($1, $2, 'read', NULL, $3, '{}', $4, $4)
"""
POSITION_INSERT = """
INSERT INTO account_positions (exchange, account, symbol, size, entry_price, mark_price, unrealized_pnl,
                               leverage, ts)
VALUES ($1, $2, $3, $4, NULL, $5, NULL, NULL, $6)
ON CONFLICT (exchange, account, symbol) DO UPDATE SET size = EXCLUDED.size, ts = EXCLUDED.ts
"""
POOLS = {"jlp": {"source": "jlp", "held": "10000", "accounts": ["main", "alt"], "assets": {"BTC": "BTC"}}}


async def fixture_pool(session: aiohttp.ClientSession, venues: VenueSettings,
                       pool: HedgePool) -> PoolExposure:
    return jlp.parse_jlp_info(frame("jlp", "jlp-info"), pool.decimals)


async def broken_pool(session: aiohttp.ClientSession, venues: VenueSettings,
                      pool: HedgePool) -> PoolExposure:
    raise PoolSourceError("jlp-info: HTTP 503")


@pytest.fixture
def hedge_settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(hedge_pools=POOLS, hedge_drift_alert_pct=5.0)


@pytest.fixture
async def shorts(pool: asyncpg.Pool) -> asyncpg.Pool:
    """10,000 JLP require 225 SOL, 4 ETH and 0.19 BTC short (0.0225, 0.0004, 0.000019 per JLP).
    Held: SOL 225 (Binance), ETH 3.5 (12.5 % short of 4: past 5 %), BTC 0.1 + 0.09 on two venues;
    `other`'s BTC short and a long ETH do not count."""
    for account, exchange in (("main", "binance"), ("alt", "okx"), ("other", "bybit")):
        await pool.execute(ACCOUNT_INSERT, account, exchange, b"x" * 40, T0)
    for exchange, account, symbol, size, mark in (
            ("binance", "main", "SOL-USDT-PERP", D("-225"), D("150.5")),
            ("binance", "main", "ETH-USDT-PERP", D("-3.5"), D("2500")),
            ("binance", "main", "BTC-USDT-PERP", D("-0.1"), None),
            ("okx", "alt", "BTC-USDT-PERP", D("-0.09"), D("60000.25")),
            ("okx", "alt", "ETH-USD-PERP", D("1"), D("2501")),
            ("bybit", "other", "BTC-USDT-PERP", D("-5"), D("59000"))):
        await pool.execute(POSITION_INSERT, exchange, account, symbol, size, mark, T0)
    return pool


async def alerts_of(redis: aioredis.Redis, settings: Settings) -> list[Alert]:
    entries = await redis.xrange(stream_key(settings.streams.prefix, "alerts"))
    events = [event for _, fields in entries for event in batch_decoder.decode(fields[b"e"])]
    return [e for e in events if isinstance(e, Alert) and e.source == "hedges"]


async def test_required_held_and_drift_are_exact_and_one_alert_is_raised(
        hedge_settings: Settings, redis: aioredis.Redis, shorts: asyncpg.Pool) -> None:
    producer = StreamProducer(redis, hedge_settings, source="general")
    async with aiohttp.ClientSession() as session:
        monitor = HedgeMonitor(hedge_settings, redis, producer, session, {"jlp": fixture_pool})
        async with shorts.acquire() as conn:
            lines = await monitor.run_once(conn)
            await monitor.run_once(conn)  # the drift still stands: no second alert
        got = {ln.asset: (ln.required, ln.hedge, ln.drift, ln.drift_pct, ln.price, ln.drift_usd)
               for ln in lines}
        assert got == {
            "SOL": (D("225.0000"), D("225"), D("0.0000"), D("0"), D("150.5"), D("0.00000")),
            "ETH": (D("4.0000"), D("3.5"), D("-0.5000"), D("-12.5"), D("2500"), D("-1250.0000")),
            "BTC": (D("0.190000"), D("0.19"), D("0.000000"), D("0"), D("60000.25"), D("0.00000000")),
        }
        assert await producer.flush()
        [alert] = await alerts_of(redis, hedge_settings)
        assert (alert.key, alert.severity) == ("hedge:jlp:ETH", "warning")
        assert "under-hedged" in alert.title and "-0.5000" in alert.text
        stored = await shorts.fetch("SELECT asset, required, hedge, drift, drift_pct FROM hedge_snapshots "
                                    "WHERE asset = 'ETH' ORDER BY ts")
        assert [tuple(r) for r in stored] == [("ETH", D(4), D("3.5"), D("-0.5"), D("-12.5"))] * 2
        # the hedge is topped up: one recovery, then nothing
        await shorts.execute(POSITION_INSERT, "binance", "main", "ETH-USDT-PERP", D("-4"), D("2500"), T0 + 1)
        async with shorts.acquire() as conn:
            await monitor.run_once(conn)
            await monitor.run_once(conn)
        assert await producer.flush()
        assert [(a.key, a.severity) for a in await alerts_of(redis, hedge_settings)] == [
            ("hedge:jlp:ETH", "warning"), ("hedge:jlp:ETH", "info")]


async def test_a_pool_source_failure_stores_nothing_and_raises_nothing(
        hedge_settings: Settings, redis: aioredis.Redis, shorts: asyncpg.Pool) -> None:
    producer = StreamProducer(redis, hedge_settings, source="general")
    async with aiohttp.ClientSession() as session:
        monitor = HedgeMonitor(hedge_settings, redis, producer, session, {"jlp": broken_pool})
        async with shorts.acquire() as conn:
            assert await monitor.run_once(conn) == []
    assert await shorts.fetchval("SELECT count(*) FROM hedge_snapshots") == 0


async def test_api_hedges_needs_account_read_and_answers_the_latest_run(
        aiohttp_client: AiohttpClient, hedge_settings: Settings, redis: aioredis.Redis,
        shorts: asyncpg.Pool) -> None:
    producer = StreamProducer(redis, hedge_settings, source="general")
    async with aiohttp.ClientSession() as session:
        monitor = HedgeMonitor(hedge_settings, redis, producer, session, {"jlp": fixture_pool})
        async with shorts.acquire() as conn:
            await monitor.run_once(conn)
    async with shorts.acquire() as conn:
        market_key = (await create_key(conn, ["market"]))[1]
        read_key = (await create_key(conn, ["account:read"]))[1]
    client = await aiohttp_client(create_app(hedge_settings))
    assert (await client.get("/api/v1/hedges")).status == 401
    assert (await client.get("/api/v1/hedges", headers={"X-API-Key": market_key})).status == 403
    response = await client.get("/api/v1/hedges", headers={"Authorization": f"Bearer {read_key}"})
    assert response.status == 200
    body = await response.json()
    rows = {row["asset"]: row for row in body["hedges"]}
    assert body["count"] == 3 and set(rows) == {"SOL", "ETH", "BTC"}
    eth = rows["ETH"]
    assert (eth["pool"], eth["required"], eth["held"], eth["drift"], eth["drift_pct"], eth["drift_usd"]) == (
        "jlp", "4.0000", "3.5", "-0.5000", "-12.5000", "-1250.0000")
    history = await client.get("/api/v1/hedges/history?asset=BTC", headers={"X-API-Key": read_key})
    assert [row["held"] for row in (await history.json())["hedges"]] == ["0.19"]


async def test_the_schedule_reads_the_simulated_pool_and_stops(
        aiohttp_server: AiohttpServer, make_settings: Callable[..., Settings], redis: aioredis.Redis,
        pool: asyncpg.Pool) -> None:
    """The general service's schedule, against the simulator's jlp-info: 1,000 JLP require 12 SOL."""
    sim = web.Application()
    add_rest_venues(sim, make_settings())
    server = await aiohttp_server(sim)
    settings = make_settings(hedge_pools={"jlp": {"source": "jlp", "held": "1000"}}, hedge_interval_s=60.0,
                             venue_urls={"jupiter_perps_rest": str(server.make_url("/jupiter/perps/v1"))})
    producer, stop = StreamProducer(redis, settings, source="general"), asyncio.Event()
    async with aiohttp.ClientSession() as session:
        task = asyncio.create_task(hedge_schedule(settings, redis, producer, session, stop))
        for _ in range(100):
            if await pool.fetchval("SELECT count(*) FROM hedge_snapshots"):
                break
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(task, 5)
    required = await pool.fetchval("SELECT required FROM hedge_snapshots WHERE asset = 'SOL'")
    assert required == D(12)
