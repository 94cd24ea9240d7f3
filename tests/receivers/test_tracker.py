"""The tracker's cycles on the real Redis against a local info endpoint: never-tracked traders first,
then the least recently tracked, watched traders every cycle ahead of them, the order kept across a
restart because it lives in Redis; each state published with the venue's time."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
import redis.asyncio as aioredis
from prometheus_client import REGISTRY

from services.receivers.budget import WINDOW_MARGIN_S
from services.receivers.capabilities import client_for
from services.receivers.traders.rotation import Cursor, Rotation
from services.receivers.traders.tracker import Tracker
from shared.config import Settings
from shared.constants import traders_rotation_key, traders_watch_key
from shared.events import TraderPosition, TraderState
from shared.streams import StreamProducer
from tests.receivers.tracker_fakes import T0, address, positions, producing, venue

SettingsFactory = Callable[..., Settings]
# a share of 12 weight a minute: states_per_cycle = batch = 2, so a cycle is the watched + 2 others
SMALL = {"traders_batch": 2, "traders_weight_share": 0.01, "traders_fills_interval_s": 1e9,
         "traders_equity_interval_s": 1e9}


class Clock:
    def __init__(self) -> None:
        self.now = T0 / 1000

    def __call__(self) -> float:
        return self.now


async def rotation_of(redis: aioredis.Redis, settings: Settings) -> dict[str, float]:
    members: Any = await redis.zrange(traders_rotation_key(settings.streams.prefix), 0, -1, withscores=True)
    return {m.decode(): float(score) for m, score in members}


async def test_the_rotation_gives_never_tracked_first_then_the_least_recently_tracked(
    redis: aioredis.Redis, settings: Settings
) -> None:
    rotation = Rotation(redis, settings.streams.prefix)
    a, b, c, d = (address(n) for n in (1, 2, 3, 4))
    await redis.zadd(traders_rotation_key(settings.streams.prefix), {b: T0 + 500, c: T0 + 100, a: 0, d: 0})
    assert await rotation.next(4) == [a, d, c, b]
    assert await rotation.next(2, skip=[a]) == [d, c]
    await rotation.rescore({a: T0 + 900, c: T0})  # c's newer time stays: a rescore never goes back
    assert await rotation.next(4) == [d, c, b, a]
    assert await rotation.oldest_tracked_ms() == T0 + 100
    assert await rotation.sizes() == {"all": 4, "never_tracked": 1, "watched": 0}


async def test_a_cycle_reads_the_watched_then_the_rotation_publishes_and_rescores(
    redis: aioredis.Redis, make_settings: SettingsFactory
) -> None:
    async with venue(make_settings, **SMALL) as (fake, settings, client):
        watched, *others = (address(n) for n in range(1, 7))
        fake.position(others[0], "BTC", "-0.5", "60000.5")
        await redis.zadd(traders_rotation_key(settings.streams.prefix), dict.fromkeys(others, 0))
        await redis.sadd(traders_watch_key(settings.streams.prefix), watched)
        clock = Clock()
        async with producing(redis, settings) as producer:
            tracker = Tracker(settings, client, producer, redis, clock=clock)
            assert tracker.states_per_cycle == 2
            assert await tracker.cycle() == 3
            first = set(fake.asked_for("clearinghouseState"))
            clock.now += 10
            assert await tracker.cycle() == 3
        assert first == {watched, others[0], others[1]}
        assert fake.asked_for("clearinghouseState")[3:].count(watched) == 1  # every cycle
        assert set(fake.asked_for("clearinghouseState")[3:]) == {watched, others[2], others[3]}
        scores = await rotation_of(redis, settings)
        assert scores[others[4]] == 0  # not yet: first in the next cycle
        assert scores[others[0]] == scores[others[1]] == T0
        assert scores[others[2]] == scores[others[3]] == scores[watched] == T0 + 10_000
        events = await positions(redis, settings)
        assert len(events) == 6 and all(isinstance(e, TraderState) for e in events)
        [short] = [e for e in events if e.address == others[0]]
        assert short.positions == (TraderPosition(
            symbol="BTC-USD-PERP", size=Decimal("-0.5"), entry_price=Decimal("60000.5"),
            position_value=Decimal("50.0"), unrealized_pnl=Decimal("1.5"), leverage=Decimal(5)),)
        assert short.ts == T0 * 1000 and short.exchange == "hyperliquid" and short.fills_complete is None


async def test_the_rotation_survives_a_restart(redis: aioredis.Redis, make_settings: SettingsFactory) -> None:
    async with venue(make_settings, **SMALL) as (fake, settings, client):
        traders = [address(n) for n in range(10, 15)]
        await redis.zadd(traders_rotation_key(settings.streams.prefix), dict.fromkeys(traders, 0))
        clock = Clock()
        async with producing(redis, settings) as producer:
            await Tracker(settings, client, producer, redis, clock=clock).cycle()
            clock.now += 10
            await Tracker(settings, client, producer, redis, clock=clock).cycle()  # a new process
            clock.now += 10
            await Tracker(settings, client, producer, redis, clock=clock).cycle()
        read = fake.asked_for("clearinghouseState")
        cycles = [set(read[:2]), set(read[2:4]), set(read[4:])]
        # never tracked first, across the restarts; then the one tracked longest ago
        assert cycles == [{traders[0], traders[1]}, {traders[2], traders[3]}, {traders[4], traders[0]}]


async def test_states_carry_the_fills_coverage_of_the_cursor(
    redis: aioredis.Redis, make_settings: SettingsFactory
) -> None:
    async with venue(make_settings, **SMALL) as (_, settings, client):
        truncated, unread = address(20), address(21)
        await redis.zadd(traders_rotation_key(settings.streams.prefix), {truncated: 0, unread: 0})
        rotation = Rotation(redis, settings.streams.prefix)
        await rotation.save_cursor(truncated, Cursor(fills_ms=T0, fills_complete=False, fills_read_at=T0,
                                                     equity_read_at=T0))
        async with producing(redis, settings) as producer:
            await Tracker(settings, client, producer, redis, clock=Clock()).cycle()
        coverage = {e.address: e.fills_complete for e in await positions(redis, settings)}
        assert coverage == {truncated: False, unread: None}


def requests(request: str, outcome: str) -> float:
    labels = {"request": request, "outcome": outcome}
    return REGISTRY.get_sample_value("tradehub_tracker_requests_total", labels) or 0.0


async def test_a_refused_address_moves_back_a_venue_outage_keeps_its_place(
    redis: aioredis.Redis, make_settings: SettingsFactory
) -> None:
    no_retries = {"poll_retries": 0, "poll_breaker_fail_max": 50}
    async with venue(make_settings, **no_retries, **SMALL) as (fake, settings, client):
        refused, failing = address(30), address(31)
        fake.refuse = {refused: 422, failing: 500}
        await redis.zadd(traders_rotation_key(settings.streams.prefix), {refused: 0, failing: 0})
        bad, unavailable = requests("state", "bad_response"), requests("state", "unavailable")
        async with producing(redis, settings) as producer:
            assert await Tracker(settings, client, producer, redis, clock=Clock()).cycle() == 0
        assert await rotation_of(redis, settings) == {refused: T0, failing: 0}
        assert requests("state", "bad_response") == bad + 1
        assert requests("state", "unavailable") == unavailable + 1
        assert await positions(redis, settings) == []


def test_the_staleness_bound_that_follows_from_the_budget(
    make_settings: SettingsFactory, redis: aioredis.Redis
) -> None:
    """5000 traders, share 0.5 (600 weight a minute: 300 states), batch 20: cycles of 50 states."""
    settings = make_settings()
    client, producer = client_for(settings, "hyperliquid"), StreamProducer(redis, settings)
    alone = Tracker(settings, client, producer, redis, reads_share=0)
    assert alone.states_per_cycle == 50
    minute = 60 + WINDOW_MARGIN_S  # the window we keep: the venue's minute and our margin
    # N x 2 / (1200 x 0.5) minutes, and the cycle it waits in: (5000 + 50) x 2 / 600 minutes
    assert alone.staleness_bound_s(5000) == pytest.approx((5000 + 50) * 2 / 600 * minute)
    assert alone.staleness_bound_s(5000) / 60 == pytest.approx(17.1, abs=0.05)
    # the reader's quarter (150) and a full page's extra (100) taken from the share: 350 for states
    busy = Tracker(settings, client, producer, redis)
    assert busy.staleness_bound_s(5000) == pytest.approx((5000 + 50) * 2 / 350 * minute)
    assert busy.staleness_bound_s(5000) / 60 == pytest.approx(29.3, abs=0.05)
    # ten watched: every cycle reads them and 40 others
    assert alone.staleness_bound_s(5000, watched=10) == pytest.approx((125 + 1) * 50 * 2 / 600 * minute)
    assert alone.staleness_bound_s(3) == 20 and alone.staleness_bound_s(0) == 10  # cycles last 10 s at least
    tiny = Tracker(make_settings(traders_weight_share=0.1), client, producer, redis)
    assert tiny.staleness_bound_s(10) == float("inf")  # 120 a minute: one full fills page takes it all
