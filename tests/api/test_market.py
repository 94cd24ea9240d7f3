"""/api/v1/funding, /funding/spread, /prices, /open-interest and the pollers in /ready, in-process
against the real Redis and PostgreSQL."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import asyncpg
import redis.asyncio as aioredis
from pytest_aiohttp import AiohttpClient

from services.api.app import create_app
from services.processor.store import EventStore
from services.processor.tables_market import FUNDING_RATES, OPEN_INTEREST, SPOT_PRICES
from shared.config import Settings
from shared.constants import SERVICES
from shared.events import FundingRate, OpenInterest, SpotPrice, now_us
from shared.health import beat_forever
from shared.poll_status import PollStatus, record_poll

MINUTE_US = 60_000_000


def funding(
    exchange: str, symbol: str, rate: str, hours: int, annualized: str, ago_us: int = 0
) -> FundingRate:
    ts = now_us() - ago_us
    return FundingRate(
        exchange=exchange,
        symbol=symbol,
        raw_symbol=symbol,
        rate=Decimal(rate),
        interval_hours=Decimal(hours),
        annualized=Decimal(annualized),
        next_funding_ts=None,
        ts=ts,
        recv_ts=ts,
    )


# The hand-checked example. annualized = rate * (24 / interval hours) * 365:
#   binance      BTC-USDT-PERP  0.0001    per 8 h: 0.0001   * 1095 =  0.1095
#   bybit        BTC-USDT-PERP -0.00005   per 8 h: -0.00005 * 1095 = -0.05475
#   hyperliquid  BTC-USD-PERP   0.00002   per 1 h: 0.00002  * 8760 =  0.1752   <- highest: short here
#   backpack     BTC-USDC-PERP -0.00001   per 1 h: -0.00001 * 8760 = -0.0876   <- lowest: long here
# spread = 0.1752 - (-0.0876) = 0.2628
# Not counted: binance's older row (superseded by its latest), okx's row from 2 hours ago (stale:
# older than the default 3 x 300 s), and ETH.
ROWS = [
    funding("binance", "BTC-USDT-PERP", "0.0003", 8, "0.3285", ago_us=5 * MINUTE_US),
    funding("binance", "BTC-USDT-PERP", "0.0001", 8, "0.1095"),
    funding("bybit", "BTC-USDT-PERP", "-0.00005", 8, "-0.05475"),
    funding("hyperliquid", "BTC-USD-PERP", "0.00002", 1, "0.1752"),
    funding("backpack", "BTC-USDC-PERP", "-0.00001", 1, "-0.0876"),
    funding("okx", "BTC-USDT-PERP", "0.01", 8, "10.95", ago_us=120 * MINUTE_US),
    funding("binance", "ETH-USDT-PERP", "0.002", 8, "2.19"),
]


async def store_rows(pool: asyncpg.Pool) -> None:
    await EventStore(pool, {FundingRate: FUNDING_RATES})(ROWS)


async def test_funding_spread_on_a_hand_checked_example(
    aiohttp_client: AiohttpClient, settings: Settings, pool: asyncpg.Pool
) -> None:
    await store_rows(pool)
    client = await aiohttp_client(create_app(settings))
    response = await client.get("/api/v1/funding/spread", params={"symbol": "btc"})
    assert response.status == 200
    body = await response.json()
    assert body["symbol"] == "BTC" and body["count"] == 4
    assert [(v["exchange"], v["annualized"]) for v in body["venues"]] == [  # lowest first
        ("backpack", "-0.0876"),
        ("bybit", "-0.05475"),
        ("binance", "0.1095"),
        ("hyperliquid", "0.1752"),
    ]
    assert body["long"] == {"exchange": "backpack", "symbol": "BTC-USDC-PERP", "annualized": "-0.0876"}
    assert body["short"] == {"exchange": "hyperliquid", "symbol": "BTC-USD-PERP", "annualized": "0.1752"}
    assert body["spread"] == "0.2628"


async def test_spread_of_one_exact_symbol_and_of_older_rows(
    aiohttp_client: AiohttpClient, settings: Settings, pool: asyncpg.Pool
) -> None:
    await store_rows(pool)
    client = await aiohttp_client(create_app(settings))
    body = await (await client.get("/api/v1/funding/spread", params={"symbol": "BTC-USDT-PERP"})).json()
    # binance 0.1095 - bybit -0.05475 = 0.16425
    assert (body["long"]["exchange"], body["short"]["exchange"], body["spread"]) == (
        "bybit",
        "binance",
        "0.16425",
    )
    # with a 3-hour window okx's stale row counts: 10.95 - (-0.05475) = 11.00475
    body = await (
        await client.get("/api/v1/funding/spread", params={"symbol": "BTC-USDT-PERP", "max_age_s": "10800"})
    ).json()
    assert (body["short"]["exchange"], body["spread"]) == ("okx", "11.00475")


async def test_spread_errors(aiohttp_client: AiohttpClient, settings: Settings, pool: asyncpg.Pool) -> None:
    await store_rows(pool)
    client = await aiohttp_client(create_app(settings))
    assert (await client.get("/api/v1/funding/spread")).status == 400
    assert (
        await client.get("/api/v1/funding/spread", params={"symbol": "BTC", "max_age_s": "-1"})
    ).status == 400
    missing = await client.get("/api/v1/funding/spread", params={"symbol": "DOGE"})
    assert missing.status == 404 and "DOGE" in (await missing.json())["error"]
    single = await (await client.get("/api/v1/funding/spread", params={"symbol": "ETH"})).json()
    assert single["count"] == 1 and single["spread"] is None and single["long"] is None


async def test_funding_is_the_latest_per_venue_and_symbol(
    aiohttp_client: AiohttpClient, settings: Settings, pool: asyncpg.Pool
) -> None:
    await store_rows(pool)
    client = await aiohttp_client(create_app(settings))
    body = await (await client.get("/api/v1/funding", params={"symbol": "BTC"})).json()
    assert [(r["exchange"], r["symbol"], r["rate"]) for r in body["funding"]] == [
        ("hyperliquid", "BTC-USD-PERP", "0.00002"),
        ("backpack", "BTC-USDC-PERP", "-0.00001"),
        ("binance", "BTC-USDT-PERP", "0.0001"),
        ("bybit", "BTC-USDT-PERP", "-0.00005"),
        ("okx", "BTC-USDT-PERP", "0.01"),
    ]
    row = body["funding"][0]
    assert set(row) == {
        "exchange",
        "symbol",
        "raw_symbol",
        "rate",
        "interval_hours",
        "annualized",
        "next_funding_ts",
        "ts",
        "recv_ts",
    }
    body = await (await client.get("/api/v1/funding", params={"exchange": "binance"})).json()
    assert [r["symbol"] for r in body["funding"]] == ["BTC-USDT-PERP", "ETH-USDT-PERP"]


async def test_prices_and_open_interest_latest(
    aiohttp_client: AiohttpClient, settings: Settings, pool: asyncpg.Pool
) -> None:
    t = now_us()
    prices = [
        SpotPrice(
            exchange="bybit",
            symbol="BTC-USDT",
            raw_symbol="BTCUSDT",
            price=Decimal("64000.5"),
            ts=t - MINUTE_US,
            recv_ts=t,
        ),
        SpotPrice(
            exchange="bybit",
            symbol="BTC-USDT",
            raw_symbol="BTCUSDT",
            price=Decimal("64010.25"),
            ts=t,
            recv_ts=t,
        ),
        SpotPrice(
            exchange="pyth",
            symbol="BTC-USD",
            raw_symbol="e62d",
            price=Decimal("64005.12345678"),
            source="oracle",
            ts=t,
            recv_ts=t,
        ),
    ]
    interest = [
        OpenInterest(
            exchange="okx",
            symbol="BTC-USDT-PERP",
            raw_symbol="BTC-USDT-SWAP",
            contracts=Decimal("5000"),
            base=Decimal("50"),
            usd=Decimal("3200000"),
            ts=t,
            recv_ts=t,
        )
    ]
    await EventStore(pool, {SpotPrice: SPOT_PRICES, OpenInterest: OPEN_INTEREST})([*prices, *interest])
    client = await aiohttp_client(create_app(settings))
    body = await (await client.get("/api/v1/prices", params={"symbol": "BTC"})).json()
    assert [(r["exchange"], r["source"], r["price"]) for r in body["prices"]] == [
        ("pyth", "oracle", "64005.12345678"),
        ("bybit", "exchange", "64010.25"),
    ]
    body = await (await client.get("/api/v1/prices", params={"source": "oracle"})).json()
    assert [r["exchange"] for r in body["prices"]] == ["pyth"]
    assert (await client.get("/api/v1/prices", params={"source": "dex"})).status == 400
    body = await (await client.get("/api/v1/open-interest", params={"symbol": "BTC-USDT-PERP"})).json()
    assert body["open_interest"] == [
        {
            "exchange": "okx",
            "symbol": "BTC-USDT-PERP",
            "raw_symbol": "BTC-USDT-SWAP",
            "contracts": "5000",
            "base": "50",
            "usd": "3200000",
            "ts": t,
            "recv_ts": t,
        }
    ]


async def test_ready_shows_a_failing_venue_without_failing_readiness(
    aiohttp_client: AiohttpClient, settings: Settings, redis: aioredis.Redis, pool: asyncpg.Pool
) -> None:
    t = now_us()
    await record_poll(
        redis,
        settings.streams.prefix,
        PollStatus(function="funding", venue="okx", ok=False, at=t, error="no answer within 20 s"),
        600,
    )
    await record_poll(
        redis,
        settings.streams.prefix,
        PollStatus(function="funding", venue="bybit", ok=True, at=t, events=2, duration_ms=120),
        600,
    )
    stop = asyncio.Event()
    beats = [asyncio.create_task(beat_forever(redis, settings, name, stop)) for name in SERVICES]
    try:
        await asyncio.sleep(0.2)
        client = await aiohttp_client(create_app(settings))
        response = await client.get("/ready")
        body = await response.json()
    finally:
        stop.set()
        await asyncio.gather(*beats)
    assert response.status == 200, body
    okx, bybit = body["pollers"]["funding"]["okx"], body["pollers"]["funding"]["bybit"]
    assert (okx["ok"], okx["error"], okx["last_ok_age_s"]) == (False, "no answer within 20 s", None)
    assert (bybit["ok"], bybit["events"], bybit["duration_ms"], bybit["error"]) == (True, 2, 120, None)
