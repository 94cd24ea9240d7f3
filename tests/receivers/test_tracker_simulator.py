"""The tracker against the simulator's 5,000 traders, time compressed 20 times on both sides (the
simulator's clock, so its weight meter's minute, lasts three seconds; the tracker's budget window, its
margin and its cycle shrink alike): every trader is tracked within the bound the budget gives, the
venue counts no minute above the tracker's share and never answers 429."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestServer

from services.receivers.budget import RollingWindow
from services.receivers.exchanges.hyperliquid.rest import WEIGHT_PER_MINUTE
from services.receivers.exchanges.hyperliquid.traders import STATE_WEIGHT
from services.receivers.rest import VenueClient
from services.receivers.traders import tracker as tracking
from services.receivers.traders.tracker import READS_SHARE, Tracker
from services.simulator.app import INFO_DESK, create_app
from services.simulator.clock import SimClock
from services.simulator.hyperliquid_info import build_population
from shared.config import Settings
from shared.constants import traders_rotation_key
from tests.receivers.tracker_fakes import producing

pytestmark = pytest.mark.fault
SPEED = 20.0  # a simulated minute in three real seconds
TRADERS = 5000
SHARE = 0.5
# a request's travel and the event loop's lag are real time, not compressed: the budget's margin
# (budget.WINDOW_MARGIN_S, a second) is kept in real seconds too
MARGIN_S = 1.0


async def test_the_tracker_cycles_5000_traders_inside_its_share_without_a_429(
    redis: aioredis.Redis, make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = SimClock(speed=SPEED)
    settings = make_settings(traders_enabled=True, traders_weight_share=SHARE, traders_batch=50,
                             simulator_traders=TRADERS, traders_fills_interval_s=1e9,
                             traders_equity_interval_s=1e9)
    population = build_population(settings, clock)
    # the tracker's cycle (a real sleep) shrinks with the clock: 10 simulated seconds
    monkeypatch.setattr(tracking, "CYCLE_S", tracking.CYCLE_S / SPEED)
    server = TestServer(create_app(settings, population))
    await server.start_server()
    rotation = traders_rotation_key(settings.streams.prefix)
    await redis.zadd(rotation, dict.fromkeys(population.addresses, 0))  # as discovery leaves them
    window = RollingWindow(WEIGHT_PER_MINUTE, 60.0 / SPEED, margin_s=MARGIN_S)  # a compressed minute
    client = VenueClient("hyperliquid", str(server.make_url("/hyperliquid")), WEIGHT_PER_MINUTE,
                         settings.rest, budget=window)
    # each trader read at least every N x 2 / (1200 x share x (1 - READS_SHARE)) windows of the budget
    # (a compressed minute and the margin)
    windows = TRADERS * STATE_WEIGHT / (WEIGHT_PER_MINUTE * SHARE * (1 - READS_SHARE))
    bound_s = windows * (60 / SPEED + MARGIN_S)
    stop = asyncio.Event()
    try:
        async with client, producing(redis, settings) as producer:
            tracker = Tracker(settings, client, producer, redis)
            started_ms = int(time.time() * 1000)
            running = asyncio.create_task(tracker.run(stop))
            deadline = time.monotonic() + bound_s * 1.5
            while time.monotonic() < deadline:
                never = await redis.zcount(rotation, "-inf", started_ms - 1)
                if never == 0:
                    break
                await asyncio.sleep(0.5)
            cycled_s = time.monotonic() - (deadline - bound_s * 1.5)
            stop.set()
            await asyncio.wait_for(running, 10)
        scores = await redis.zrange(rotation, 0, -1, withscores=True)
        untracked = [a for a, score in scores if score < started_ms]
        weight = server.app[INFO_DESK].stats()["weight"]
        assert not untracked, (f"{len(untracked)} of {TRADERS} never tracked in {cycled_s:.1f} s",
                               tracker.figures.cycles, tracker.states_per_cycle, weight)
        # the bound is the budget's arithmetic; compressed 20 times, each request's latency and each
        # cycle's pause weigh 20 times more against the window: 20 % is left for them
        assert cycled_s <= bound_s * 1.2, (cycled_s, bound_s)
        weight = server.app[INFO_DESK].stats()["weight"]
        # the venue counts no minute above the tracker's share, and never refuses
        assert weight["highest"] <= WEIGHT_PER_MINUTE * SHARE, weight
        assert all(c["refused"] == 0 for c in weight["clients"].values()), weight
    finally:
        stop.set()
        await redis.delete(rotation)
        await server.close()
