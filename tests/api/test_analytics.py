"""REST analytics in-process on the real PostgreSQL: candles per exchange and multi-exchange,
liquidations, large trades and spikes with time ranges, filters and limits; bad
parameters answered 400 with a JSON error."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient

from services.api.app import create_app
from services.processor.store import EventStore
from services.processor.tables_analytics import CANDLES, LARGE_TRADES, LIQUIDATIONS, SPIKES
from shared.candles import MINUTE_US
from shared.config import Settings
from shared.events import Candle, LargeTrade, Liquidation, Side, Spike

ApiClient = TestClient[web.Request, web.Application]

D = Decimal
T0 = 1_704_067_200_000_000  # 2024-01-01T00:00:00Z
METRICS: tuple[Literal["oi", "volume"], ...] = ("volume", "oi")


def bar(
    exchange: str, minute: int, open_: str, close: str, volume: str,
    source: Literal["exchange", "derived"] = "derived",
) -> Candle:
    return Candle(
        exchange=exchange,
        symbol="BTC-USDT-PERP",
        raw_symbol="BTCUSDT",
        interval="1m",
        open=D(open_),
        high=D(open_) + 5,
        low=D(close) - 5,
        close=D(close),
        volume=D(volume),
        trades=3,
        buy_volume=D(volume) / 2,
        closed=False,
        source=source,
        ts=T0 + minute * MINUTE_US,
        recv_ts=T0,
    )


def liquidation(n: int, usd: str, side: Side = "sell", exchange: str = "binance") -> Liquidation:
    return Liquidation(
        exchange=exchange,
        symbol="BTC-USDT-PERP",
        raw_symbol="BTCUSDT",
        side=side,
        price=D(100),
        size=D(usd) / 100,
        usd_value=D(usd),
        ts=T0 + n * 1_000_000,
        recv_ts=T0,
    )


@pytest.fixture
async def client(
    aiohttp_client: AiohttpClient, settings: Settings, pool: asyncpg.Pool
) -> ApiClient:
    bars = [bar("binance", m, "100", "101", "3") for m in range(5)] + [
        bar("bybit", 0, "102", "99", "1"),
        bar("bybit", 0, "1", "1", "9", "exchange"),
    ]
    large = [
        LargeTrade(
            exchange="okx",
            symbol="ETH-USDT-PERP",
            trade_id=str(n),
            price=D(3000),
            size=D(n * 10),
            side="buy",
            usd_value=D(n * 30_000),
            threshold=D(100_000),
            ts=T0 + n,
            recv_ts=T0,
        )
        for n in range(4, 7)
    ]
    spikes = [
        Spike(
            exchange="bybit",
            symbol="BTC-USDT-PERP",
            metric=metric,
            interval="5m",
            value=D(50),
            mean=D(2),
            stdev=D(1),
            z=D(48),
            threshold=D(3),
            ts=T0 + n * 300_000_000,
            recv_ts=T0,
        )
        for n, metric in enumerate(METRICS)
    ]
    await EventStore(pool, {Candle: CANDLES})(bars)
    await EventStore(pool, {Liquidation: LIQUIDATIONS})(
        [liquidation(1, "5000"), liquidation(2, "250000", "buy"), liquidation(3, "1000000", exchange="okx")]
    )
    await EventStore(pool, {LargeTrade: LARGE_TRADES, Spike: SPIKES})([*large, *spikes])
    return await aiohttp_client(create_app(settings))


async def get(client: ApiClient, path: str, **params: str) -> tuple[int, dict[str, Any]]:
    response = await client.get(path, params=params)
    return response.status, await response.json()


async def test_candles_oldest_first_with_range_and_limit(client: ApiClient) -> None:
    status, body = await get(client, "/api/v1/candles/binance/BTC-USDT-PERP/1m")
    assert status == 200
    assert [c["ts"] for c in body["candles"]] == [T0 + m * MINUTE_US for m in range(5)]
    first = body["candles"][0]
    assert (first["open"], first["close"], first["volume"], first["buy_volume"], first["trades"]) == (
        "100",
        "101",
        "3",
        "1.5",
        3,
    )
    assert first["closed"] is True  # its minute is long over
    _, body = await get(client, "/api/v1/candles/binance/BTC-USDT-PERP/1m", limit="2")
    assert [c["ts"] for c in body["candles"]] == [T0 + 3 * MINUTE_US, T0 + 4 * MINUTE_US]  # the newest two
    _, body = await get(
        client,
        "/api/v1/candles/binance/BTC-USDT-PERP/1m",
        **{"from": str(T0 + MINUTE_US), "to": "2024-01-01T00:03:00Z"},
    )
    # from inclusive, to not
    assert [c["ts"] for c in body["candles"]] == [
        T0 + MINUTE_US,
        T0 + 2 * MINUTE_US,
    ]
    _, body = await get(client, "/api/v1/candles/bybit/BTC-USDT-PERP/1m", source="exchange")
    assert [(c["source"], c["volume"]) for c in body["candles"]] == [("exchange", "9")]


async def test_multi_exchange_candles_are_volume_weighted(client: ApiClient) -> None:
    status, body = await get(client, "/api/v1/candles/multi/BTC-USDT-PERP/1m", limit="2")
    assert status == 200
    assert [c["ts"] for c in body["candles"]] == [T0 + 3 * MINUTE_US, T0 + 4 * MINUTE_US]
    _, body = await get(client, "/api/v1/candles/multi/BTC-USDT-PERP/1m", to=str(T0 + MINUTE_US))
    [first] = body["candles"]
    # (100*3 + 102*1)/4 and (101*3 + 99*1)/4; the exchange's own kline is not mixed in
    assert (first["open"], first["close"], first["volume"], first["exchanges"]) == (
        "100.5",
        "100.5",
        "4",
        ["binance", "bybit"],
    )
    assert (first["high"], first["low"]) == ("107", "94")
    _, body = await get(client, "/api/v1/candles/multi/BTC-USDT-PERP/1m", exchanges="bybit")
    assert [(c["open"], c["exchanges"]) for c in body["candles"]] == [("102", ["bybit"])]


async def test_liquidations_large_trades_and_spikes(client: ApiClient) -> None:
    _, body = await get(client, "/api/v1/liquidations")
    # newest first
    assert [(q["exchange"], q["usd_value"]) for q in body["liquidations"]] == [
        ("okx", "1000000"),
        ("binance", "250000"),
        ("binance", "5000"),
    ]
    _, body = await get(client, "/api/v1/liquidations", min_usd="200000", exchange="binance")
    assert [(q["side"], q["size"]) for q in body["liquidations"]] == [("buy", "2500")]
    _, body = await get(client, "/api/v1/liquidations", side="sell", to=str(T0 + 3_000_000))
    assert [q["usd_value"] for q in body["liquidations"]] == ["5000"]
    _, body = await get(client, "/api/v1/large-trades", symbol="ETH-USDT-PERP", limit="2")
    assert [(t["trade_id"], t["usd_value"]) for t in body["large_trades"]] == [
        ("6", "180000"),
        ("5", "150000"),
    ]
    _, body = await get(client, "/api/v1/large-trades", min_usd="160000")
    assert body["count"] == 1
    _, body = await get(client, "/api/v1/spikes", metric="oi")
    assert [(s["metric"], s["z"], s["interval"]) for s in body["spikes"]] == [("oi", "48", "5m")]
    _, body = await get(client, "/api/v1/spikes", **{"from": "2024-01-01T00:05:00+00:00"})
    assert [s["metric"] for s in body["spikes"]] == ["oi"]


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/v1/candles/binance/BTC-USDT-PERP/2m", {}),
        ("/api/v1/candles/binance/BTC$USDT/1m", {}),
        ("/api/v1/candles/binance/BTC-USDT-PERP/1m", {"source": "mine"}),
        ("/api/v1/candles/binance/BTC-USDT-PERP/1m", {"from": "yesterday"}),
        ("/api/v1/candles/binance/BTC-USDT-PERP/1m", {"from": str(T0), "to": str(T0)}),
        ("/api/v1/candles/binance/BTC-USDT-PERP/1m", {"limit": "0"}),
        ("/api/v1/candles/multi/BTC-USDT-PERP/1m", {"exchanges": ",,"}),
        ("/api/v1/candles/multi/BTC-USDT-PERP/3h", {}),
        ("/api/v1/liquidations", {"min_usd": "lots"}),
        ("/api/v1/liquidations", {"min_usd": "-1"}),
        ("/api/v1/liquidations", {"min_usd": "NaN"}),
        ("/api/v1/liquidations", {"side": "long"}),
        ("/api/v1/large-trades", {"to": "2024-13-01"}),
        ("/api/v1/large-trades", {"symbol": "ETH'; DROP TABLE large_trades"}),
        ("/api/v1/spikes", {"metric": "price"}),
        ("/api/v1/spikes", {"interval": "7m"}),
    ],
)
async def test_bad_parameters_are_400_with_a_json_error(
    client: ApiClient, path: str, params: dict[str, str]
) -> None:
    status, body = await get(client, path, **params)
    assert status == 400
    assert isinstance(body["error"], str) and body["error"]
