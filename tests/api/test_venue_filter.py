"""?exchange= answers all of a venue, spot and perpetual alike, for Binance as for Bybit: events are
stored under their venue's name and told apart by symbol; gaps of a spot socket are the venue's too."""
from __future__ import annotations

import asyncpg
from aiohttp.pytest_plugin import AiohttpClient

from services.api.app import create_app
from services.processor.store import TRADES, EventStore
from services.processor.tables_gaps import GAPS
from services.receivers.exchanges import bybit
from services.receivers.exchanges.binance import market
from shared.config import Settings
from shared.events import Gap, Trade
from tests.fixtures import frame

RECV_TS = 1_700_000_000_000_000


async def test_exchange_filter_returns_both_markets_of_each_venue(
    aiohttp_client: AiohttpClient, settings: Settings, pool: asyncpg.Pool
) -> None:
    events = [
        *market.parse_frame_spot(frame("binance_spot", "trade"), RECV_TS),
        *market.parse_frame(frame("binance", "aggTrade"), RECV_TS),
        *bybit.parse_frame_spot(frame("bybit", "publicTrade"), RECV_TS),
        *bybit.parse_frame(frame("bybit", "publicTrade"), RECV_TS),
    ]
    trades = [e for e in events if isinstance(e, Trade)]
    assert len(trades) == 4
    gaps = [
        Gap(feed=feed, exchange="binance", from_ts=RECV_TS, to_ts=RECV_TS + 1, ts=RECV_TS, recv_ts=RECV_TS)
        for feed in ("binance:0", "binance_spot:0")
    ]
    await EventStore(pool, {Trade: TRADES, Gap: GAPS})([*trades, *gaps])
    client = await aiohttp_client(create_app(settings))

    async def symbols_of(exchange: str) -> set[str]:
        body = await (await client.get("/api/v1/trades", params={"exchange": exchange})).json()
        return {t["symbol"] for t in body["trades"]}

    assert await symbols_of("binance") == {"BNB-BTC", "BTC-USDT-PERP"}
    assert await symbols_of("bybit") == {"BTC-USDT", "BTC-USDT-PERP"}
    assert await symbols_of("binance_spot") == set()  # a feed's name, not an exchange
    body = await (await client.get("/api/v1/gaps", params={"exchange": "binance"})).json()
    assert sorted(g["feed"] for g in body["gaps"]) == ["binance:0", "binance_spot:0"]
