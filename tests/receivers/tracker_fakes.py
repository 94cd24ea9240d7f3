"""A local Hyperliquid info endpoint for the tracker's tests: a few traders' clearinghouseState,
fills (userFillsByTime with its documented caps) and portfolio, every request noted in order."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import msgspec
import redis.asyncio as aioredis
from aiohttp import web
from aiohttp.test_utils import TestServer

from services.receivers.capabilities import client_for
from services.receivers.exchanges.hyperliquid.traders import FILLS_AVAILABLE, FILLS_PER_PAGE
from services.receivers.rest import VenueClient
from shared.config import Settings
from shared.constants import stream_key
from shared.events import batch_decoder
from shared.streams import StreamProducer

T0 = 1_700_000_000_000  # ms


def address(n: int) -> str:
    return f"0x{n:040x}"


class FakeInfo:
    """Traders by address; an address it does not know answers as the venue does: an empty account."""

    def __init__(self) -> None:
        self.states: dict[str, dict[str, Any]] = {}
        self.fills: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.equity: dict[str, list[tuple[int, str, str]]] = defaultdict(list)
        self.refuse: dict[str, int] = {}  # address -> HTTP status it gets
        self.asked: list[tuple[str, str, int | None]] = []  # (type, user, startTime)

    def position(self, user: str, coin: str, size: str, entry: str = "100.0") -> None:
        state = self.states.setdefault(user, _empty(T0))
        state["assetPositions"].append({"type": "oneWay", "position": {
            "coin": coin, "szi": size, "entryPx": entry, "positionValue": "50.0", "unrealizedPnl": "1.5",
            "leverage": {"type": "cross", "value": 5}, "liquidationPx": None, "marginUsed": "10.0"}})

    def add_fills(self, user: str, times: list[int]) -> None:
        for ms in times:
            tid = len(self.fills[user])
            self.fills[user].append({
                "coin": "BTC", "px": "100.0", "sz": "0.1", "side": "B", "time": ms, "startPosition": "0",
                "dir": "Open Long", "closedPnl": "0.0", "oid": tid, "tid": tid, "fee": "0.01",
                "feeToken": "USDC"})

    async def info(self, request: web.Request) -> web.Response:
        body = await request.json()
        kind, user = body["type"], body.get("user", "")
        self.asked.append((kind, user, body.get("startTime")))
        if user in self.refuse:
            return web.Response(status=self.refuse[user], text="refused")
        if kind == "clearinghouseState":
            return _json(self.states.get(user, _empty(T0)))
        if kind == "userFillsByTime":
            served = [f for f in self.fills[user][-FILLS_AVAILABLE:] if f["time"] >= body["startTime"]]
            return _json(served[:FILLS_PER_PAGE])
        if kind == "portfolio":
            points = self.equity[user]
            period = {"accountValueHistory": [[ms, value] for ms, value, _ in points],
                      "pnlHistory": [[ms, pnl] for ms, _, pnl in points], "vlm": "0.0"}
            return _json([["day", period], ["allTime", period]])
        if kind == "meta":
            return _json({"universe": [{"name": "BTC"}, {"name": "ETH"}, {"name": "OLD", "isDelisted": True},
                                       {"name": "SOL"}]})
        return web.Response(status=422, text="Failed to deserialize the JSON body into the target type")

    def asked_for(self, kind: str) -> list[str]:
        return [user for asked_kind, user, _ in self.asked if asked_kind == kind]


def _empty(ms: int) -> dict[str, Any]:
    summary = {"accountValue": "1000.0", "totalNtlPos": "0.0", "totalMarginUsed": "0.0",
               "totalRawUsd": "1000.0"}
    return {"assetPositions": [], "marginSummary": summary, "crossMarginSummary": summary,
            "crossMaintenanceMarginUsed": "0.0", "withdrawable": "1000.0", "time": ms}


def _json(body: Any) -> web.Response:
    return web.Response(body=msgspec.json.encode(body), content_type="application/json")


@asynccontextmanager
async def venue(make_settings: Callable[..., Settings], **overrides: Any
                ) -> AsyncIterator[tuple[FakeInfo, Settings, VenueClient]]:
    """The fake on a free port, settings whose Hyperliquid REST url is it, and an opened client."""
    fake = FakeInfo()
    app = web.Application()
    app.router.add_post("/info", fake.info)
    server = TestServer(app)
    await server.start_server()
    settings = make_settings(traders_enabled=True, venue_urls={"hyperliquid_rest": str(server.make_url(""))},
                             **overrides)
    try:
        async with client_for(settings, "hyperliquid") as client:
            yield fake, settings, client
    finally:
        await server.close()


@asynccontextmanager
async def producing(redis: aioredis.Redis, settings: Settings) -> AsyncIterator[StreamProducer]:
    """A producer flushing on its own, as in the receivers, stopped and flushed on exit."""
    producer = StreamProducer(redis, settings, source="test")
    stop = asyncio.Event()
    task = asyncio.create_task(producer.run(stop))
    try:
        yield producer
    finally:
        stop.set()
        await task


async def positions(redis: aioredis.Redis, settings: Settings) -> list[Any]:
    """Every event on th:positions, in order."""
    entries: Any = await redis.xrange(stream_key(settings.streams.prefix, "positions"))
    return [event for _, fields in entries for event in batch_decoder.decode(fields[b"e"])]
