"""The simulated market trades with time whether or not a socket listens: what a socket sends is what
the market made, the history holds every trade made, a halt stops it, and REST prices follow the
same price paths as the websockets."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import aiohttp
import msgspec
from aiohttp.test_utils import TestServer

from services.simulator.app import STATE, create_app
from services.simulator.market import MAX_BASIS, MAX_SPREAD_BP
from services.simulator.rest_answers import Market
from services.simulator.tape import Tape
from services.simulator.venue import VenueState
from shared.config import Settings

RATE = 100.0
STREAM = "btcusdt@aggTrade"


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[tuple[TestServer, aiohttp.ClientSession]]:
    server = TestServer(create_app(settings), host="127.0.0.1")
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as http:
            yield server, http
    finally:
        await server.close()


def binance(server: TestServer) -> VenueState:
    return server.app[STATE].venues["binance"]


async def listen(http: aiohttp.ClientSession, server: TestServer, seconds: float,
                 stream: str = STREAM) -> list[int]:
    """The aggTrade ids one connection received in `seconds`."""
    ids: list[int] = []
    async with http.ws_connect(f"ws://127.0.0.1:{server.port}/stream?streams={stream}") as ws:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                message = await ws.receive(timeout=left)
            except TimeoutError:
                break
            ids.append(msgspec.json.decode(message.data)["data"]["a"])
    return ids


async def control(http: aiohttp.ClientSession, server: TestServer, **query: str) -> None:
    async with http.post(f"http://127.0.0.1:{server.port}/control", params=query) as response:
        assert response.status == 200


async def stats(http: aiohttp.ClientSession, server: TestServer) -> dict[str, Any]:
    async with http.get(f"http://127.0.0.1:{server.port}/stats") as response:
        body: dict[str, Any] = await response.json()
        return body


async def test_the_market_trades_while_nobody_listens(make_settings: Any) -> None:
    settings = make_settings(simulator_rate=RATE, simulator_symbols=["BTCUSDT"])
    async with running(settings) as (server, http):
        first = await listen(http, server, 0.5)
        await asyncio.sleep(1.0)  # nobody connected
        second = await listen(http, server, 0.5)
        await control(http, server, mode="paused")
        body = await stats(http, server)
    made = body["venues"]["binance"]["made"]
    ring = binance(server).history.ids("BTCUSDT")
    assert ring == list(range(ring[0], ring[0] + len(ring)))  # consecutive: nothing made off the record
    assert len(ring) == made == body["total"]
    assert first == list(range(first[0], first[-1] + 1)) and second == list(range(second[0], second[-1] + 1))
    away = second[0] - first[-1] - 1
    assert away >= RATE * 0.7  # about a second of trades made with no socket open
    assert 1.4 * RATE <= made <= 2.6 * RATE  # the rate, with or without a listener


async def test_every_socket_sends_the_trades_made(make_settings: Any) -> None:
    settings = make_settings(simulator_rate=RATE, simulator_symbols=["BTCUSDT"])
    async with running(settings) as (server, http):
        one, two = await asyncio.gather(listen(http, server, 1.0), listen(http, server, 1.0))
        await control(http, server, mode="paused")
        body = await stats(http, server)
    shared = set(one) & set(two)
    assert len(shared) >= RATE * 0.7  # both heard the same trades, not one share each
    assert set(one) | set(two) <= set(binance(server).history.ids("BTCUSDT"))
    venue = body["venues"]["binance"]
    # sent: to every socket (a few still on the wire when a client left); made: once
    assert len(one) + len(two) <= venue["trades"] <= 2 * venue["made"]
    assert venue["made"] >= max(len(one), len(two))


async def test_a_stream_named_otherwise_gets_the_same_trades(make_settings: Any) -> None:
    settings = make_settings(simulator_rate=RATE, simulator_symbols=["BTC-PERPETUAL"])
    async with running(settings) as (server, http):
        async def trades(channel: str) -> list[tuple[str, int]]:
            got: list[tuple[str, int]] = []
            async with http.ws_connect(f"ws://127.0.0.1:{server.port}/ws/api/v2") as ws:
                await ws.send_json({"jsonrpc": "2.0", "id": 1, "method": "public/subscribe",
                                    "params": {"channels": [channel]}})
                deadline = time.monotonic() + 1.0
                while (left := deadline - time.monotonic()) > 0:
                    try:
                        message = msgspec.json.decode((await ws.receive(timeout=left)).data)
                    except TimeoutError:
                        break
                    if message.get("method") == "subscription":
                        params = message["params"]
                        got += [(params["channel"], t["trade_seq"]) for t in params["data"]]
            return got

        slow, fast = await asyncio.gather(trades("trades.BTC-PERPETUAL.100ms"),
                                          trades("trades.BTC-PERPETUAL.raw"))
    assert {c for c, _ in slow} == {"trades.BTC-PERPETUAL.100ms"}
    assert {c for c, _ in fast} == {"trades.BTC-PERPETUAL.raw"}
    assert len({s for _, s in slow} & {s for _, s in fast}) >= RATE * 0.7


async def test_a_halt_stops_the_market_without_a_backlog(make_settings: Any) -> None:
    settings = make_settings(simulator_rate=RATE, simulator_symbols=["BTCUSDT"])
    async with running(settings) as (server, http):
        await listen(http, server, 0.2)
        await control(http, server, mode="paused")
        halted = (await stats(http, server))["total"]
        await asyncio.sleep(0.5)
        assert (await stats(http, server))["total"] == halted
        await control(http, server, mode="normal")
        await asyncio.sleep(0.3)
        after = (await stats(http, server))["total"]
    assert 0 < after - halted <= RATE * 0.6  # trading resumed at its rate; the halt was not made up


async def test_max_frames_caps_the_trades_made(make_settings: Any) -> None:
    settings = make_settings(simulator_rate=1000.0, simulator_symbols=["BTCUSDT"], simulator_max_frames=150)
    async with running(settings) as (server, http):
        ids = await listen(http, server, 0.6)
        body = await stats(http, server)
    assert body["total"] == len(ids) == 150


def test_rest_prices_are_the_websockets_quotes(make_settings: Any) -> None:
    """The same seed and millisecond: the REST mark is the websocket market's mid, to the tick."""
    settings = make_settings(simulator_seed=11)
    market = Market(settings)
    for venue, symbol, asset in (("binance", "BTCUSDT", "BTC"), ("bybit", "ETHUSDT", "ETH"),
                                 ("okx", "SOL-USDT-SWAP", "SOL"), ("hyperliquid", "BTC", "BTC"),
                                 ("binance_spot", "ETHUSDT", "ETH")):
        rest = market.quote(venue, asset)
        tape = Tape(venue, symbol, 11)
        for ms in (rest.step * 100, rest.step * 100 + 3_600_000):
            rest.update(ms)
            tape.quote.update(ms)
            assert (rest.mid, rest.index) == (tape.quote.mid, tape.quote.index), (venue, ms)


async def test_rest_answers_move_with_the_market(make_settings: Any) -> None:
    settings = make_settings(simulator_rate=RATE, simulator_symbols=["BTCUSDT"])
    async with running(settings) as (server, http):
        assert await listen(http, server, 0.3)
        url = f"http://127.0.0.1:{server.port}/binance/fapi/v1/premiumIndex?symbol=BTCUSDT"
        async with http.get(url) as response:
            premium = await response.json()
    mark, index = Decimal(premium["markPrice"]), Decimal(premium["indexPrice"])
    path_now = binance(server).tape("BTCUSDT").quote.index
    assert abs(mark / index - 1) <= Decimal(MAX_BASIS) + Decimal("0.0001")
    assert abs(index / path_now - 1) < Decimal("0.001")  # the same path, read a few ms apart
    traded = binance(server).tape("BTCUSDT").price
    assert abs(traded / mark - 1) <= Decimal(MAX_BASIS + MAX_SPREAD_BP / 10_000) * 2
