"""Trader figures for `make bench`: discovery, from Hyperliquid trade frames to traders stored.

Frames come from the simulator (buyers and sellers drawn from its 5,000 traders), are parsed
by the receivers' own parse and handed to the processor's discovery sink in batches of 256 events,
as the traders group reads them, into a scratch schema. The rate is frames per second from the
first parse to the last commit, and distinct addresses stored per second.
"""
from __future__ import annotations

import asyncio
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import redis.asyncio as aioredis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from receivers import TRADE_SUBS  # noqa: E402  (bench/receivers.py, beside this file)

from services.processor.trader_discovery import TraderDiscovery  # noqa: E402
from services.receivers.exchanges import parse_of  # noqa: E402
from services.simulator.app import VENUES  # noqa: E402
from services.simulator.hyperliquid_info import build_population  # noqa: E402
from services.simulator.venue import Session, Sub, VenueState  # noqa: E402
from shared.config import Settings, load_settings  # noqa: E402
from shared.constants import traders_rotation_key  # noqa: E402
from shared.db import create_pool, migrate  # noqa: E402
from shared.events import AnyEvent  # noqa: E402

FRAMES = 50_000
BATCH = 256  # events a consumer batch hands the sink (producer_batch_events)


def say(*parts: object) -> None:
    print("bench/traders:", *parts, file=sys.stderr, flush=True)


def population_frames(count: int, settings: Settings) -> list[bytes]:
    """`count` Hyperliquid trade frames as the simulator sends them, buyers and sellers drawn
    from its trader population (simulator.traders addresses)."""
    state = VenueState("hyperliquid", settings)
    population = build_population(settings)
    state.population = lambda: population
    session = Session(state, 1)
    symbols, key_of = TRADE_SUBS["hyperliquid"]
    subs = [Sub("trades", symbol, key_of(symbol)) for symbol in symbols]
    protocol = VENUES["hyperliquid"][0]
    return [protocol.frame(subs[n % len(subs)], session)[0].encode() for n in range(count)]


async def discovery() -> dict[str, Any]:
    tag = "bench" + uuid.uuid4().hex[:8]
    settings = load_settings(stream_prefix=tag, db_schema=tag, simulator_seed=7)
    say(f"building {FRAMES} Hyperliquid trade frames from the simulator's population")
    frames = population_frames(FRAMES, settings)
    parse = parse_of("hyperliquid")
    conn = await asyncpg.connect(settings.database_url)
    try:
        await migrate(conn, tag)
    finally:
        await conn.close()
    pool = await create_pool(settings)
    redis = aioredis.Redis.from_url(settings.redis_url)
    try:
        sink = TraderDiscovery(pool, redis, traders_rotation_key(tag), ["all"])
        started = time.perf_counter()
        batch: list[AnyEvent] = []
        for n, raw in enumerate(frames):
            batch += parse(raw, n)
            if len(batch) >= BATCH:
                await sink(batch)
                batch = []
        if batch:
            await sink(batch)
        seconds = time.perf_counter() - started
        addresses = await pool.fetchval("SELECT count(*) FROM traders")
        trades = await pool.fetchval("SELECT coalesce(sum(trades_seen), 0) FROM traders")
        rotation = await redis.zcard(traders_rotation_key(tag))
    finally:
        await redis.delete(traders_rotation_key(tag))
        await redis.aclose()
        await pool.close()
        conn = await asyncpg.connect(settings.database_url)
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{tag}" CASCADE')
        finally:
            await conn.close()
    result = {
        "frames": len(frames),
        "seconds": round(seconds, 3),
        "frames_per_s": round(len(frames) / seconds),
        "distinct_addresses": addresses,
        "addresses_per_s": round(addresses / seconds),
        "party_counts_stored": int(trades),
        "rotation_members": rotation,
    }
    say("discovery", result["frames_per_s"], "frames/s,", addresses, "distinct addresses")
    return result


def run() -> dict[str, Any]:
    return {"traders": {"discovery": asyncio.run(discovery()), "tracker": asyncio.run(tracker_capacity())}}


async def tracker_capacity(seconds: float = 30.0, speed: float = 20.0, share: float = 0.5) -> dict[str, Any]:
    """Traders tracked per hour inside the tracker's share, against the simulator's 5,000 traders,
    time compressed `speed` times on both sides (the simulator's minute and the tracker's budget
    window, its margin and its cycle), beside the budget's own maximum: 1200 x share / 2 per minute."""
    from aiohttp.test_utils import TestServer

    from services.receivers import budget
    from services.receivers.budget import RollingWindow
    from services.receivers.exchanges.hyperliquid.rest import WEIGHT_PER_MINUTE
    from services.receivers.exchanges.hyperliquid.traders import STATE_WEIGHT
    from services.receivers.rest import VenueClient
    from services.receivers.traders import tracker as tracking
    from services.simulator.app import create_app
    from services.simulator.clock import SimClock
    from services.simulator.hyperliquid_info import INFO_DESK
    from shared.streams import StreamProducer

    tag = "bench" + uuid.uuid4().hex[:8]
    settings = load_settings(stream_prefix=tag, traders_enabled=True, traders_weight_share=share,
                             traders_batch=50, traders_fills_interval_s=1e9, traders_equity_interval_s=1e9)
    population = build_population(settings, SimClock(speed=speed))
    tracking.CYCLE_S = tracking.CYCLE_S / speed
    server = TestServer(create_app(settings, population))
    await server.start_server()
    redis = aioredis.Redis.from_url(settings.redis_url)
    rotation = traders_rotation_key(tag)
    await redis.zadd(rotation, dict.fromkeys(population.addresses, 0))
    url = str(server.make_url("/hyperliquid"))
    # the venue's minute compressed; the margin covers a request's travel, which is not compressed
    window = RollingWindow(WEIGHT_PER_MINUTE, 60.0 / speed, margin_s=budget.WINDOW_MARGIN_S / 2)
    client = VenueClient("hyperliquid", url, WEIGHT_PER_MINUTE, settings.rest, budget=window)
    producer = StreamProducer(redis, settings, source="bench")
    stop = asyncio.Event()
    say(f"tracker: {len(population.addresses)} simulator traders for {seconds:g} s at {speed:g}x")
    try:
        async with client, asyncio.TaskGroup() as tasks:
            tasks.create_task(producer.run(stop))
            tracker = tracking.Tracker(settings, client, producer, redis)
            tasks.create_task(tracker.run(stop))
            started = time.time()
            await asyncio.sleep(seconds)
            tracked = await redis.zcount(rotation, int(started * 1000), "+inf")
            stop.set()
        weight = server.app[INFO_DESK].stats()["weight"]
    finally:
        tracking.CYCLE_S = tracking.CYCLE_S * speed
        keys = [key async for key in redis.scan_iter(match=f"{tag}:*", count=1000)]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()
        await server.close()
    hours = seconds * speed / 3600  # simulated
    result = {
        "traders": len(population.addresses), "weight_share": share, "compression": speed,
        "traders_tracked": tracked, "traders_per_hour": round(tracked / hours),
        "theoretical_per_hour": round(WEIGHT_PER_MINUTE * share / STATE_WEIGHT * 60),
        "highest_minute_weight": weight["highest"],
        "refused": sum(c["refused"] for c in weight["clients"].values()),
    }
    say("tracker", result["traders_per_hour"], "traders/h of", result["theoretical_per_hour"])
    return result
