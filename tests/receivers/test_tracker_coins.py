"""Which trades the Hyperliquid feed subscribes to while traders are tracked (traders.coins, or
every listed perpetual from meta with ["all"]), and the one client the pollers and the tracker share."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import msgspec
import pytest
import redis.asyncio as aioredis

from services.receivers.exchanges.hyperliquid import market
from services.receivers.feeds import build_feeds
from services.receivers.main import run_receivers
from services.receivers.pollers import open_pollers
from services.receivers.traders import tracker
from services.receivers.traders.coins import with_trader_coins
from services.simulator.app import venue_urls
from shared.config import Settings
from shared.constants import stream_key, tracker_status_key, traders_rotation_key
from shared.events import Trade, TraderState, batch_decoder
from shared.streams import StreamProducer
from tests.receivers.sim import simulator
from tests.receivers.tracker_fakes import address, positions, venue

SettingsFactory = Callable[..., Settings]


def subscribed(settings: Settings) -> list[tuple[str, str]]:
    """(type, coin) of every subscribe message of the hyperliquid sockets, in order."""
    messages = [m for feed in build_feeds(settings) for m in feed.subscribe]
    decoded = [msgspec.json.decode(m)["subscription"] for m in messages]
    return [(s["type"], s["coin"]) for s in decoded]


def test_the_traders_coins_add_their_trades_to_the_feed(make_settings: SettingsFactory) -> None:
    base = {"feeds": ["hyperliquid"], "hyperliquid_coins": ["BTC"],
            "hyperliquid_channels": ["trades", "candles"]}
    not_tracking = make_settings(**base, traders_coins=["BTC", "ETH"])
    assert subscribed(not_tracking) == [("trades", "BTC"), ("candle", "BTC")]
    tracking = make_settings(**base, traders_enabled=True, traders_coins=["BTC", "ETH", "ETH"])
    assert subscribed(tracking) == [("trades", "BTC"), ("candle", "BTC"), ("trades", "ETH")]
    no_trades = make_settings(**{**base, "hyperliquid_channels": ["candles"]}, traders_enabled=True)
    assert subscribed(no_trades) == [("candle", "BTC"), ("trades", "BTC"), ("trades", "ETH")]
    unresolved = make_settings(**base, traders_enabled=True, traders_coins=["all"])
    assert market.trader_coins(unresolved) == []  # ["all"] is read from meta before the sockets


async def test_all_is_every_listed_perpetual_from_meta(make_settings: SettingsFactory) -> None:
    async with venue(make_settings, traders_coins=["all"], feeds=["hyperliquid"],
                     hyperliquid_coins=["BTC"], hyperliquid_channels=["trades"]) as (fake, settings, client):
        resolved = await with_trader_coins(settings, client, client.lane(600))
        assert resolved.traders.coins == ["BTC", "ETH", "SOL"]  # OLD is delisted
        assert fake.asked_for("meta") == [""]
        assert subscribed(resolved) == [("trades", "BTC"), ("trades", "ETH"), ("trades", "SOL")]
        assert await with_trader_coins(make_settings(), client) == make_settings()  # not tracking: as is


async def test_without_meta_the_feed_keeps_its_own_coins(make_settings: SettingsFactory) -> None:
    async with venue(make_settings, traders_coins=["all"], poll_retries=0, feeds=["hyperliquid"],
                     hyperliquid_coins=["BTC"], hyperliquid_channels=["trades"]) as (fake, settings, client):
        fake.refuse = {"": 500}
        resolved = await with_trader_coins(settings, client)
        assert resolved.traders.coins == []
        assert subscribed(resolved) == [("trades", "BTC")]


async def test_the_pollers_use_the_client_the_tracker_uses(
    make_settings: SettingsFactory, redis: aioredis.Redis
) -> None:
    async with venue(make_settings, poll_functions=["oi"]) as (_, settings, client):
        producer = StreamProducer(redis, settings)
        async with open_pollers(settings, producer, redis, {"hyperliquid": client}) as [oi]:
            assert oi.clients["hyperliquid"] is client
            assert oi.clients["okx"] is not client and oi.clients["okx"].venue == "okx"


async def test_the_receivers_track_traders_beside_the_pollers_against_the_simulator(
    make_settings: SettingsFactory, redis: aioredis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """run_receivers with tracking on: the traders' coins from meta reach the feed, the tracker
    reads the rotation, and the pollers' metaAndAssetCtxs spends from the same window."""
    monkeypatch.setattr(tracker, "STATUS_INTERVAL_S", 0.1)
    async with simulator(make_settings) as sim:
        http = f"http://127.0.0.1:{sim.server.port}"
        settings = sim.settings(
            venue_urls={**venue_urls(sim.base), "hyperliquid_rest": f"{http}/hyperliquid"},
            feeds=["hyperliquid"], hyperliquid_coins=["BTC"], hyperliquid_channels=["candles"],
            traders_enabled=True, traders_coins=["all"], poll_functions=["oi"],
            poll_oi_venues=["hyperliquid"])
        prefix = settings.streams.prefix
        traders = [address(n) for n in range(70, 73)]
        await redis.zadd(traders_rotation_key(prefix), dict.fromkeys(traders, 0))
        stop = asyncio.Event()
        running = asyncio.create_task(run_receivers(settings, redis, stop))
        status: Any = {}
        for _ in range(100):
            await asyncio.sleep(0.1)
            status = await redis.hgetall(tracker_status_key(prefix))
            trades = await redis.xlen(stream_key(prefix, "trades"))
            if status and float(status[b"weight_per_minute"]) >= 166 and trades:
                break
        stop.set()
        await asyncio.wait_for(running, 10)
    # meta, three states, then each trader's first fills read and portfolio (empty accounts)
    assert float(status[b"tracker_weight_per_minute"]) == 20 + 3 * 2 + 3 * (20 + 20)
    assert float(status[b"weight_per_minute"]) == 146 + 20  # and the pollers' metaAndAssetCtxs
    states = [e for e in await positions(redis, settings) if isinstance(e, TraderState)]
    assert {s.address for s in states} == set(traders)
    entries: Any = await redis.xrange(stream_key(prefix, "trades"))
    coins = {e.raw_symbol for _, fields in entries for e in batch_decoder.decode(fields[b"e"])
             if isinstance(e, Trade)}
    assert coins - {"BTC"}  # trades of coins from meta, not only of hyperliquid_coins (candles only)
