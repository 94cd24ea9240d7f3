"""Hyperliquid's one weight budget per IP: a rolling minute of 1200, split in lanes, the documented
weights with the extra per 20 fills charged once the answer is read, a cooldown after a 429, and
never more in any rolling minute than the venue allows (judged by the simulator's own meter)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from services.receivers.budget import COOLDOWN_FIRST_S, WINDOW_MARGIN_S, RollingWindow
from services.receivers.capabilities import client_for
from services.receivers.exchanges.hyperliquid import rest, traders
from services.receivers.rest import RateLimited, VenueClient
from services.simulator.info_weight import WeightMeter
from shared.config import Settings

SPAN = 60 + WINDOW_MARGIN_S


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_a_window_spends_its_limit_then_waits_for_the_oldest_charge_to_leave() -> None:
    clock = FakeClock()
    window = RollingWindow(100, clock=clock)
    assert window.reserve(60) == 0
    clock.now += 10
    assert window.reserve(40) == 0
    assert window.used() == 100
    assert window.reserve(30) == pytest.approx(SPAN - 10)  # the 60 must leave first
    assert window.reserve(20) == pytest.approx(SPAN - 10)  # queued behind it, and there is room then
    assert window.reserve(50) == pytest.approx(SPAN)  # the 40 must leave too


async def test_lanes_share_the_root_and_a_spent_lane_holds_back_only_itself() -> None:
    clock = FakeClock()
    root = RollingWindow(1200, clock=clock)
    tracker, pollers = root.lane(600), root.lane(600)
    for _ in range(300):
        assert (await tracker.acquire(2, clock.sleep)).waited == 0
    assert tracker.used() == root.used() == 600
    waits: list[float] = []
    parked = asyncio.Event()

    async def park(seconds: float) -> None:  # the tracker's request sleeps for its lane, for real
        waits.append(seconds)
        await parked.wait()
        clock.now += seconds

    late = asyncio.create_task(tracker.acquire(2, park))
    while not waits:
        await asyncio.sleep(0)
    assert waits == [pytest.approx(SPAN)]  # its lane is spent for the minute
    assert (await pollers.acquire(20, clock.sleep)).waited == 0  # not queued behind it in the root
    parked.set()
    assert (await late).waited == pytest.approx(SPAN)
    assert root.lane(5000).limit == 1200  # a lane is never larger than its parent


async def test_a_heavy_request_is_not_starved_by_light_ones() -> None:
    clock = FakeClock()
    lane = RollingWindow(1200, clock=clock).lane(150)
    await lane.acquire(100, clock.sleep)
    heavy = lane.reserve(120)  # queued first: has to wait for the 100 to leave
    light = lane.reserve(2)  # arrives after: placed after the heavy one, not before it
    assert light >= heavy == pytest.approx(SPAN)


async def test_weight_reserved_beyond_the_answer_is_free_again_at_once() -> None:
    """A fills page reserves its most (120) and weighs 21 once read: the next one need not wait."""
    clock = FakeClock()
    lane = RollingWindow(1200, clock=clock).lane(150)
    never = asyncio.Event()

    async def forever(seconds: float) -> None:  # only a freed window wakes the waiter
        await never.wait()

    first = await lane.acquire(120, forever)
    second = asyncio.create_task(lane.acquire(120, forever))
    for _ in range(5):
        await asyncio.sleep(0)
    assert not second.done()  # 120 + 120 > 150
    first.settle(21)
    assert (await asyncio.wait_for(second, 1)).waited == 0
    assert lane.used() == 21 + 120


async def test_a_charge_is_counted_from_its_answer_however_long_the_request_travelled() -> None:
    """The venue counts a request when it arrives, which may be as late as its answer: a slow
    answer keeps its weight in the window until a minute after it came back, in the lane and the root."""
    clock = FakeClock()
    root = RollingWindow(100, clock=clock)
    lane = root.lane(100)
    slow = await lane.acquire(60, clock.sleep)
    clock.now += 5
    fast = await lane.acquire(40, clock.sleep)
    fast.settle(40)
    clock.now += 20  # the slow one's answer comes back 25 s after it was sent
    slow.settle(60)
    failed = await root.acquire(0, clock.sleep)
    failed.failed()  # no weight, and no harm in re-dating it
    assert lane.reserve(60) == pytest.approx(SPAN)  # sent at 0, but held until 25 + SPAN
    assert root.reserve(0) == pytest.approx(SPAN)  # the root saw the same


async def test_a_soft_lane_admits_by_weight_and_leaves_the_answers_room_to_its_parent() -> None:
    """The readers' lane caps what fills and portfolios cost, without the 100 a fills page may add
    having to fit in it: the tracker's lane above reserves that."""
    clock = FakeClock()
    tracker = RollingWindow(1200, clock=clock).lane(600)
    readers = tracker.lane(150, soft=True)
    for _ in range(3):
        ticket = await readers.acquire(20, clock.sleep, most=100)
        assert ticket.waited == 0 and tracker.used() == readers.used() + 100
        ticket.settle(45)
    assert readers.used() == tracker.used() == 3 * 45
    assert (await readers.acquire(20, clock.sleep, most=100)).waited == pytest.approx(SPAN)  # 135 + 20 > 150


async def test_no_rolling_minute_ever_holds_more_than_the_limit() -> None:
    """Random weights (states, fills pages with a random number of fills, portfolio, meta) through
    the lanes: every request, at the time it is sent, is accepted by the simulator's meter, both
    for the whole IP (1200) and for the tracker's share (600, its soft readers' lane inside)."""
    clock, rng = FakeClock(), random.Random(7)
    root = RollingWindow(1200, clock=clock)
    tracker = root.lane(600)
    lanes = [tracker, tracker.lane(150, soft=True), root.lane(900)]
    meter = WeightMeter(clock, limit=1200)
    share = WeightMeter(clock, limit=600)
    for _ in range(3000):
        weight, most = rng.choice([(2, 0), (2, 0), (2, 0), (20, 0), (20, 100)])
        lane = rng.choice(lanes)
        ticket = await lane.acquire(weight, clock.sleep, most)
        actual = weight + rng.randint(0, int(most))
        ticket.settle(actual)
        assert meter.spend("ip", actual), (clock.now, meter.used("ip"))
        assert lane is lanes[2] or share.spend("tracker", actual), (clock.now, share.used("tracker"))
        clock.now += rng.choice([0.0, 0.0, 0.01, 0.5])
    assert int(str(meter.stats()["highest"])) > 1100  # and the budget was used, not just respected


def test_a_429_cools_the_root_down_longer_each_time_until_an_answer() -> None:
    clock = FakeClock()
    root = RollingWindow(1200, clock=clock)
    lane = root.lane(600)
    lane.block(0)  # no Retry-After: the cooldown
    assert root.reserve(0) == pytest.approx(COOLDOWN_FIRST_S)
    root.block(1)
    assert root.reserve(0) == pytest.approx(2 * COOLDOWN_FIRST_S)
    root.block(30)  # a Retry-After longer than the cooldown wins
    assert lane.reserve(0) == pytest.approx(30)


async def test_an_answer_resets_the_cooldown() -> None:
    clock = FakeClock()
    root = RollingWindow(1200, clock=clock)
    root.block(0)
    root.block(0)
    (await root.acquire(2, clock.sleep)).settle(2)
    root.block(0)
    assert root.reserve(0) == pytest.approx(COOLDOWN_FIRST_S)


InfoServer = Callable[[list[web.Response]], TestServer]


@pytest.fixture
async def info() -> AsyncIterator[InfoServer]:
    """An info endpoint answering a scripted list of responses, then empty fills."""
    servers: list[TestServer] = []

    def make(script: list[web.Response]) -> TestServer:
        async def handler(request: web.Request) -> web.Response:
            return script.pop(0) if script else web.json_response([])

        app = web.Application()
        app.router.add_post("/info", handler)
        server = TestServer(app)
        servers.append(server)
        return server

    yield make
    for server in servers:
        await server.close()


def fills(n: int, start_ms: int = 1_700_000_000_000) -> list[dict[str, object]]:
    return [{"coin": "BTC", "px": "1", "sz": "1", "side": "B", "time": start_ms + i, "startPosition": "0",
             "dir": "Open Long", "closedPnl": "0", "oid": i, "tid": i, "fee": "0"} for i in range(n)]


def hyperliquid(server: TestServer, settings: Settings, clock: FakeClock) -> VenueClient:
    root = RollingWindow(rest.WEIGHT_PER_MINUTE, clock=clock)
    return VenueClient("hyperliquid", str(server.make_url("")), rest.WEIGHT_PER_MINUTE, settings.rest,
                       clock=clock, sleep=clock.sleep, budget=root.lane(1200 * settings.rest.weight_fraction))


@pytest.mark.parametrize(("n", "weight"), [(0, 20), (1, 21), (19, 21), (20, 21), (21, 22), (2000, 120)])
async def test_fills_weigh_20_plus_one_per_20_returned_charged_after_the_answer(
    info: InfoServer, settings: Settings, n: int, weight: int
) -> None:
    server = info([web.json_response(fills(n))])
    await server.start_server()
    clock = FakeClock()
    async with hyperliquid(server, settings, clock) as client:
        lane = client.lane(600)
        await client.post("/info", {"type": "userFillsByTime", "user": "0x0", "startTime": 0},
                          weight=traders.FILLS_WEIGHT, budget=lane, answer=traders.FILLS_ANSWER)
        assert lane.parent is not None and lane.used() == lane.parent.used() == weight
        assert client.bucket.reserve(0) == 0  # the pollers' lane spent nothing


async def test_weights_of_state_portfolio_and_meta(info: InfoServer, settings: Settings) -> None:
    state = {"assetPositions": [], "marginSummary": {"accountValue": "1", "totalNtlPos": "0"}, "time": 1}
    portfolio = [["allTime", {"accountValueHistory": [], "pnlHistory": []}]]
    meta = {"universe": [{"name": "BTC"}]}
    server = info([web.json_response(state), web.json_response(portfolio), web.json_response(meta)])
    await server.start_server()
    clock = FakeClock()
    async with hyperliquid(server, settings, clock) as client:
        lane = client.lane(600)
        await traders.fetch_state(client, "0xabc", lane)
        assert lane.used() == 2
        await traders.fetch_equity(client, "0xabc", lane)
        assert lane.used() == 22
        assert await rest.fetch_perp_coins(client, lane) == ["BTC"]
        assert lane.used() == 42


async def test_a_429_without_retry_after_is_retried_after_the_cooldown(
    info: InfoServer, make_settings: Callable[..., Settings]
) -> None:
    server = info([web.Response(status=429), web.json_response(fills(1))])
    await server.start_server()
    clock = FakeClock()
    async with hyperliquid(server, make_settings(poll_retries=1, poll_retry_max_wait_s=10), clock) as client:
        started = clock.now
        read = await traders.read_fills(client, "0xabc", 0, client.lane(600))
        assert len(read.fills) == 1
        assert clock.now - started == pytest.approx(COOLDOWN_FIRST_S)


async def test_429s_past_the_retries_are_rate_limited(
    info: InfoServer, make_settings: Callable[..., Settings]
) -> None:
    server = info([web.Response(status=429), web.Response(status=429)])
    await server.start_server()
    clock = FakeClock()
    async with hyperliquid(server, make_settings(poll_retries=1, poll_breaker_fail_max=9), clock) as client:
        with pytest.raises(RateLimited):
            await traders.fetch_state(client, "0xabc")
        assert client.bucket.reserve(0) == pytest.approx(2 * COOLDOWN_FIRST_S)  # still cooling down


def test_the_hyperliquid_client_spends_from_one_window_per_ip(settings: Settings) -> None:
    client = client_for(settings, "hyperliquid")
    assert isinstance(client.bucket, RollingWindow)
    assert client.bucket.root.limit == 1200 and client.bucket.limit == 1200 * settings.rest.weight_fraction
    assert client.lane(600).root is client.bucket.root
    with pytest.raises(TypeError, match="no rolling window"):
        client_for(settings, "okx").lane(100)
