"""Hyperliquid `trades` frames name buyers and sellers from the trader population: a trade the
population made appears with the tid, price and size of its two fills, [buyer, seller]."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import aiohttp
import msgspec

from tests.simulator.conftest import Serve, population


async def trades(ws: aiohttp.ClientWebSocketResponse) -> list[dict[str, Any]]:
    """The trades of the next trades frame (acks and greetings skipped)."""
    while True:
        message = await asyncio.wait_for(ws.receive_str(), 5)
        if message.startswith("{"):
            frame = msgspec.json.decode(message)
            if frame.get("channel") == "trades":
                items: list[dict[str, Any]] = frame["data"]
                return items


async def test_trade_frames_name_population_traders_and_carry_their_fills(serve: Serve) -> None:
    traders = population(size=30, action_s=1e9)
    info = await serve(traders)
    async with info.http.ws_connect(f"{info.url}/ws") as ws:
        await ws.send_json({"method": "subscribe", "subscription": {"type": "trades", "coin": "BTC"}})
        for _ in range(20):  # nobody trades on their own: tape trades between population addresses
            for trade in await trades(ws):
                assert set(trade["users"]) <= set(traders.addresses) and len(set(trade["users"])) == 2
        taker = next(t for t in traders.traders if not t.maker)
        fill = traders.move(taker.address, "BTC", Decimal("-0.75"))
        assert fill is not None
        for _ in range(50):
            shown = [t for t in await trades(ws) if t["tid"] == fill["tid"]]
            if shown:
                break
        else:
            raise AssertionError("the population's trade never reached the trades feed")
    trade = shown[0]
    seller, buyer = taker.address, trade["users"][0]
    assert trade["users"][1] == seller and buyer in {m.address for m in traders.makers}
    assert (trade["side"], trade["px"], trade["sz"], trade["time"]) == ("A", fill["px"], "0.75", fill["time"])
    bought = next(f for f in traders.trader(buyer).fills() if f["tid"] == fill["tid"])
    assert bought["side"] == "B" and not bought["crossed"]
