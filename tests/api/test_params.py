"""Query parameters checked by one msgspec Struct per endpoint: each bad parameter is a 400 whose
error names it, says what it must be and echoes what was sent; empty optional filters and unknown
parameters are ignored, as before."""

from __future__ import annotations

import asyncpg
import pytest
from pytest_aiohttp import AiohttpClient

from services.api.app import create_app
from services.api.params import moment_of, name_list_of, usd_amount_of
from shared.config import Settings

NAME = "1 to 64 letters, digits, '-', '_' or '.'"
WHEN = "microseconds since the epoch or ISO-8601"
INTERVALS = "one of 1m, 5m, 15m, 1h, 4h, 1d"
CANDLES = "/api/v1/candles/binance/BTC-USDT-PERP/1m"
MULTI = "/api/v1/candles/multi/BTC-USDT-PERP/1m"
SPREAD = "/api/v1/funding/spread"
USD = "a finite decimal number >= 0"

MAX_AGE = "a positive integer of at most 10 years in seconds"  # a larger one overflowed: 500


@pytest.mark.parametrize(
    ("path", "params", "error"),
    [
        ("/api/v1/trades", {"limit": "abc"}, "limit must be a positive integer, got abc"),
        ("/api/v1/trades", {"limit": "0"}, "limit must be a positive integer, got 0"),
        ("/api/v1/trades", {"limit": ""}, "limit must be a positive integer, got "),
        ("/api/v1/trades", {"exchange": "bin ance"}, f"exchange must be {NAME}, got bin ance"),
        ("/api/v1/trades", {"symbol": "BTC\n"}, f"symbol must be {NAME}, got BTC\n"),
        ("/api/v1/trades", {"symbol": "X" * 65}, f"symbol must be {NAME}, got {'X' * 64}"),
        ("/api/v1/stats", {"since": "soon"}, "since must be microseconds since the epoch, got soon"),
        ("/api/v1/stats", {"since": "-1"}, "since must be microseconds since the epoch, got -1"),
        ("/api/v1/funding", {"limit": "-5"}, "limit must be a positive integer, got -5"),
        (SPREAD, {}, "symbol is required (an asset such as BTC, or a symbol such as BTC-USDT-PERP)"),
        (SPREAD, {"symbol": "BTC", "max_age_s": "0"}, f"max_age_s must be {MAX_AGE}, got 0"),
        (SPREAD, {"symbol": "BTC", "max_age_s": ""}, f"max_age_s must be {MAX_AGE}, got "),
        (SPREAD, {"symbol": "BTC", "max_age_s": "315360001"}, f"max_age_s must be {MAX_AGE}, got 315360001"),
        ("/api/v1/prices", {"source": "dex"}, "source must be one of exchange, oracle, got dex"),
        ("/api/v1/open-interest", {"exchange": "okx;"}, f"exchange must be {NAME}, got okx;"),
        ("/api/v1/candles/binance/BTC-USDT-PERP/2m", {}, f"interval must be {INTERVALS}, got 2m"),
        ("/api/v1/candles/binance/BTC$USDT/1m", {}, f"symbol must be {NAME}, got BTC$USDT"),
        (CANDLES, {"source": "mine"}, "source must be one of derived, exchange, got mine"),
        (CANDLES, {"from": "yesterday"}, f"from must be {WHEN}, got yesterday"),
        (CANDLES, {"from": "10", "to": "10"}, "from must be before to"),
        (MULTI, {"exchanges": ",,"}, "exchanges must be names separated by commas, got ,,"),
        (MULTI, {"exchanges": "okx,b b"}, "exchanges must be names separated by commas, got okx,b b"),
        ("/api/v1/candles/multi/BTC-USDT-PERP/3h", {}, f"interval must be {INTERVALS}, got 3h"),
        ("/api/v1/liquidations", {"min_usd": "lots"}, f"min_usd must be {USD}, got lots"),
        ("/api/v1/liquidations", {"min_usd": "-1"}, f"min_usd must be {USD}, got -1"),
        ("/api/v1/liquidations", {"min_usd": "Infinity"}, f"min_usd must be {USD}, got Infinity"),
        ("/api/v1/liquidations", {"side": "long"}, "side must be one of buy, sell, got long"),
        ("/api/v1/large-trades", {"to": "2024-13-01"}, f"to must be {WHEN}, got 2024-13-01"),
        ("/api/v1/large-trades", {"from": "2024-01-02", "to": "2024-01-01T00:00Z"}, "from must be before to"),
        ("/api/v1/spikes", {"metric": "price"}, "metric must be one of oi, volume, got price"),
        ("/api/v1/spikes", {"interval": "7m"}, f"interval must be {INTERVALS}, got 7m"),
        ("/api/v1/gaps", {"feed": "bad!"}, "feed must be a feed name such as okx:business:0, got bad!"),
        ("/api/v1/gaps", {"since": "soon"}, "since must be microseconds since the epoch, got soon"),
        ("/api/v1/gaps", {"limit": "1.5"}, "limit must be a positive integer, got 1.5"),
    ],
)
async def test_a_bad_parameter_is_named_with_what_it_must_be(
    aiohttp_client: AiohttpClient, settings: Settings, path: str, params: dict[str, str], error: str
) -> None:
    client = await aiohttp_client(create_app(settings))
    response = await client.get(path, params=params)
    assert response.status == 400
    assert await response.json() == {"error": error}


async def test_empty_filters_unknown_parameters_and_huge_limits_are_answered(
    aiohttp_client: AiohttpClient, settings: Settings, pool: asyncpg.Pool
) -> None:
    client = await aiohttp_client(create_app(settings))
    for path, params in [
        ("/api/v1/trades", {"exchange": "", "symbol": "", "colour": "blue"}),
        ("/api/v1/trades", {"limit": "9" * 30}),  # cut to api_max_limit, not refused
        ("/api/v1/prices", {"source": ""}),
        (CANDLES, {"source": "", "from": "", "to": ""}),
        (MULTI, {"exchanges": ""}),
        ("/api/v1/liquidations", {"side": "", "min_usd": ""}),
        ("/api/v1/gaps", {"feed": "", "since": ""}),
    ]:
        response = await client.get(path, params=params)
        assert response.status == 200, (path, await response.text())


def test_text_parsers() -> None:
    assert moment_of("2024-01-01T00:00:00Z") == moment_of("2024-01-01") == 1_704_067_200_000_000
    assert moment_of("2024-01-01T01:00:00+01:00") == 1_704_067_200_000_000
    assert moment_of("-5") == -5
    assert name_list_of("okx,,bybit,") == ("okx", "bybit")
    assert str(usd_amount_of("250000.50")) == "250000.50"
    for parse, bad in [(moment_of, "2024-13-01"), (moment_of, "9" * 30), (name_list_of, ","),
                       (usd_amount_of, "NaN"), (usd_amount_of, "-0.01")]:
        with pytest.raises(ValueError):
            parse(bad)
