"""The tracker's readers: a due trader's fills read from its cursor and its equity, the cursor saved
in Redis once the events are in the stream (a restart resumes there), the coverage that reaches the
processor; and the whole loop, with its figures for metrics and /ready."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import redis.asyncio as aioredis
from prometheus_client import REGISTRY

from services.receivers.traders.rotation import Cursor, Rotation
from services.receivers.traders.tracker import Tracker
from shared.config import Settings
from shared.constants import tracker_status_key, traders_rotation_key, traders_watch_key
from shared.events import EquityPoint, TraderEquity, TraderFill, TraderState
from tests.receivers.tracker_fakes import T0, address, positions, producing, venue

SettingsFactory = Callable[..., Settings]
DUE = {"traders_fills_interval_s": 60.0, "traders_equity_interval_s": 600.0}


class Clock:
    def __init__(self) -> None:
        self.now = T0 / 1000 + 3600

    def __call__(self) -> float:
        return self.now


async def test_a_due_trader_gets_its_fills_and_equity_read_and_its_cursor_saved(
    redis: aioredis.Redis, make_settings: SettingsFactory
) -> None:
    async with venue(make_settings, **DUE) as (fake, settings, client):
        trader = address(1)
        fake.add_fills(trader, [T0, T0 + 10, T0 + 20])
        fake.equity[trader] = [(T0, "1000.0", "0.0"), (T0 + 60_000, "1100.5", "100.5")]
        clock = Clock()
        rotation = Rotation(redis, settings.streams.prefix)
        async with producing(redis, settings) as producer:
            tracker = Tracker(settings, client, producer, redis, clock=clock)
            first = await tracker.read(trader)
            now = int(clock.now * 1000)
            assert first == Cursor(fills_ms=T0 + 20, fills_complete=True, fills_read_at=now,
                                   equity_read_at=now)
            assert (await rotation.cursors([trader]))[trader] == first
            fake.add_fills(trader, [T0 + 30])
            assert await tracker.read(trader) == first  # neither is due yet: nothing asked
            clock.now += 61
            second = await tracker.read(trader)  # fills due again, equity not
        assert second.fills_ms == T0 + 30 and second.equity_read_at == now
        assert [(kind, start) for kind, _, start in fake.asked] == [
            ("userFillsByTime", 0), ("portfolio", None), ("userFillsByTime", T0 + 20)]
        events = await positions(redis, settings)
        fills = [e for e in events if isinstance(e, TraderFill)]
        assert [f.tid for f in fills] == ["0", "1", "2", "3"]  # the fill at T0 + 20 once
        [equity] = [e for e in events if isinstance(e, TraderEquity)]
        assert equity.points == (EquityPoint(T0 * 1000, Decimal("1000.0"), Decimal("0.0")),
                                 EquityPoint((T0 + 60_000) * 1000, Decimal("1100.5"), Decimal("100.5")))


async def test_a_truncated_history_stays_truncated_and_a_restart_resumes_from_the_cursor(
    redis: aioredis.Redis, make_settings: SettingsFactory
) -> None:
    full = 1.0  # the readers may take the whole share: six full pages (6 x 120) within the minute
    async with venue(make_settings, traders_weight_share=1.0, **DUE) as (fake, settings, client):
        trader = address(2)
        fake.add_fills(trader, [T0 + i for i in range(10_050)])  # the oldest 50 are no longer served
        clock = Clock()
        async with producing(redis, settings) as producer:
            tracker = Tracker(settings, client, producer, redis, clock=clock, reads_share=full)
            first = await tracker.read(trader)
            assert first.fills_complete is False and first.fills_ms == T0 + 10_049
            fake.add_fills(trader, [T0 + 20_000])
            fake.asked.clear()
            clock.now += 61
            restarted = Tracker(settings, client, producer, redis, clock=clock, reads_share=full)
            second = await restarted.read(trader)
        assert fake.asked_for("userFillsByTime") == [trader] and fake.asked[0][2] == T0 + 10_049
        assert second.fills_ms == T0 + 20_000 and second.fills_complete is False  # a lost fill stays lost
        fills = [e for e in await positions(redis, settings) if isinstance(e, TraderFill)]
        assert len(fills) == 10_001


async def test_a_failed_read_leaves_the_cursor_for_the_next_time(
    redis: aioredis.Redis, make_settings: SettingsFactory
) -> None:
    no_retries = {"poll_retries": 0, "poll_breaker_fail_max": 50}
    async with venue(make_settings, **no_retries, **DUE) as (fake, settings, client):
        trader = address(3)
        fake.refuse = {trader: 503}
        async with producing(redis, settings) as producer:
            cursor = await Tracker(settings, client, producer, redis, clock=Clock()).read(trader)
        assert cursor == Cursor()
        assert await redis.hlen(Rotation(redis, settings.streams.prefix).cursors_key) == 0


def gauge(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


async def test_the_loop_reads_states_hands_due_traders_to_the_readers_and_reports(
    redis: aioredis.Redis, make_settings: SettingsFactory
) -> None:
    async with venue(make_settings, traders_batch=4, **DUE) as (fake, settings, client):
        traders = [address(n) for n in range(40, 43)]  # their fills and equity fit the readers' minute
        for trader in traders:
            fake.position(trader, "ETH", "2.0")
            fake.add_fills(trader, [T0 + 1, T0 + 2])
        prefix = settings.streams.prefix
        await redis.zadd(traders_rotation_key(prefix), dict.fromkeys(traders[1:], 0))
        await redis.sadd(traders_watch_key(prefix), traders[0])
        stop = asyncio.Event()
        async with producing(redis, settings) as producer:
            tracker = Tracker(settings, client, producer, redis)
            running = asyncio.create_task(tracker.run(stop))
            for _ in range(100):
                await asyncio.sleep(0.05)
                cursors = await tracker.rotation.cursors(traders)
                if all(c.equity_read_at for c in cursors.values()):
                    break
            stop.set()
            await asyncio.wait_for(running, 2)
        assert await tracker.figures.write() is not None  # as the loop writes them every few seconds
        events = await positions(redis, settings)
        assert {e.address for e in events if isinstance(e, TraderState)} == set(traders)
        assert len([e for e in events if isinstance(e, TraderFill)]) == 2 * len(traders)
        assert {e.address for e in events if isinstance(e, TraderEquity)} == set(traders)
        written: Any = await redis.hgetall(tracker_status_key(prefix))
        status = {k.decode(): v.decode() for k, v in written.items()}
        assert int(status["traders_per_minute"]) == len(traders)
        # 3 states x 2, 3 fills reads x 20 plus 1 for the 2 fills returned, 3 portfolios x 20
        assert float(status["tracker_weight_per_minute"]) == 3 * 2 + 3 * 21 + 3 * 20
        assert float(status["weight_per_minute"]) == float(status["tracker_weight_per_minute"])
        assert float(status["weight_limit"]) == 1200 and float(status["tracker_weight_limit"]) == 600
        assert 0 <= float(status["largest_staleness_s"]) < 5
        assert float(status["staleness_bound_s"]) == 2 * 10  # two others, read in one 10 s cycle
        assert (status["rotation"], status["never_tracked"], status["watched"]) == ("3", "0", "1")
        assert gauge("tradehub_tracker_weight_per_minute", budget="tracker") == 129
        assert gauge("tradehub_tracker_traders_per_minute") == len(traders)
        assert gauge("tradehub_tracker_rotation_traders", kind="watched") == 1
