"""The coordinators against the simulator's eleven venues, in-process, on the real Redis and
PostgreSQL: one venue hangs, others answer 429, and every other venue is still published and stored."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import asyncpg
import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestServer
from prometheus_client import REGISTRY

from services.processor.store import EventStore
from services.processor.tables_market import FUNDING_RATES, OPEN_INTEREST, SPOT_PRICES
from services.receivers.capabilities import CAPABILITIES, REST_VENUES
from services.receivers.pollers import Poller, open_pollers
from shared.config import ConfigError, Settings
from shared.constants import stream_key
from shared.events import FundingRate, OpenInterest, SpotPrice, batch_decoder
from shared.poll_status import read_polls
from shared.streams import StreamProducer

SettingsFactory = Callable[..., Settings]


def against(server: TestServer, make_settings: SettingsFactory, **overrides: Any) -> Settings:
    """Settings whose every venue's REST url is the simulator's /<venue>."""
    urls = {f"{venue}_rest": str(server.make_url(f"/{venue}")) for venue in REST_VENUES}
    return make_settings(venue_urls=urls, **overrides)


async def script(server: TestServer, venue: str, mode: str, **params: Any) -> None:
    query = {"venue": venue, "mode": mode, **{k: str(v) for k, v in params.items()}}
    async with aiohttp.ClientSession() as http:
        async with http.post(server.make_url("/control/rest"), params=query) as response:
            assert response.status == 200, await response.text()


async def published(redis: aioredis.Redis, settings: Settings, family: str) -> list[Any]:
    entries = await redis.xrange(stream_key(settings.streams.prefix, family))
    return [event for _, fields in entries for event in batch_decoder.decode(fields[b"e"])]


def polls(function: str, venue: str, outcome: str) -> float:
    return (
        REGISTRY.get_sample_value(
            "tradehub_polls_total", {"function": function, "venue": venue, "outcome": outcome}
        )
        or 0.0
    )


async def test_one_venue_times_out_another_answers_429_and_the_rest_are_stored(
    simulator: TestServer, make_settings: SettingsFactory, redis: aioredis.Redis, pool: asyncpg.Pool
) -> None:
    settings = against(simulator, make_settings, poll_functions=["funding"], poll_timeout_s=1.0)
    await script(simulator, "okx", "hang", hang_s=5)  # never answers within the poll's timeout
    await script(simulator, "bybit", "429", count=1, retry_after=0.2)  # once, then answers: retried
    await script(simulator, "aster", "429", retry_after=60)  # longer than we wait: given up at once
    timeouts_before = polls("funding", "okx", "timeout")
    producer = StreamProducer(redis, settings, source="test")
    async with open_pollers(settings, producer, redis) as [funding]:
        started = time.monotonic()
        outcomes = await funding.poll_once()
        took = time.monotonic() - started
    await producer.flush()

    venues = set(CAPABILITIES["funding"])
    answered = venues - {"okx", "aster"}
    assert {v: o.outcome for v, o in outcomes.items()} == {
        **dict.fromkeys(answered, "ok"),
        "okx": "timeout",
        "aster": "rate_limited",
    }
    assert 1.0 <= took < 2.0  # the poll lasts as long as its slowest venue's timeout, no longer
    for venue in answered:  # ...and the hang delayed no one: each answered in its own time
        assert outcomes[venue].duration_s < 0.9, (venue, outcomes[venue])
        assert outcomes[venue].events == 2  # BTC and ETH
    assert outcomes["bybit"].duration_s >= 0.2  # it waited out the Retry-After before retrying
    assert polls("funding", "okx", "timeout") == timeouts_before + 1

    async with aiohttp.ClientSession() as http:
        async with http.get(simulator.make_url("/stats/rest")) as response:
            requests = (await response.json())["requests"]
    assert requests["bybit"] == 2 and requests["aster"] == 1  # 429 then the retry; a single 429

    statuses = {s.venue: s for s in await read_polls(redis, settings.streams.prefix)}
    assert set(statuses) == venues
    assert not statuses["okx"].ok and "no answer within 1 s" in statuses["okx"].error
    assert not statuses["aster"].ok and "HTTP 429" in statuses["aster"].error
    assert all(statuses[v].ok and statuses[v].events == 2 and statuses[v].last_ok for v in answered)

    events = await published(redis, settings, "funding")
    assert {e.exchange for e in events} == answered
    await EventStore(pool, {FundingRate: FUNDING_RATES})(events)
    rows = await pool.fetch("SELECT exchange, count(*) AS n FROM funding_rates GROUP BY exchange")
    assert {r["exchange"]: r["n"] for r in rows} == dict.fromkeys(answered, 2)


async def test_every_venue_answers_through_the_simulator(
    simulator: TestServer, make_settings: SettingsFactory, redis: aioredis.Redis, pool: asyncpg.Pool
) -> None:
    settings = against(simulator, make_settings)
    producer = StreamProducer(redis, settings, source="test")
    async with open_pollers(settings, producer, redis) as pollers:
        assert [p.function for p in pollers] == ["funding", "spot", "oi"]
        results = {p.function: await p.poll_once() for p in pollers}
    await producer.flush()
    for function, outcomes in results.items():
        assert set(outcomes) == set(CAPABILITIES[function])
        assert all(o.ok and o.events for o in outcomes.values()), (function, outcomes)
    funding, prices, oi = [await published(redis, settings, f) for f in ("funding", "prices", "oi")]
    assert {e.exchange for e in funding} == set(CAPABILITIES["funding"])
    assert {e.exchange for e in prices} == {"binance", "bybit", "okx", "jupiter", "pyth"}
    assert {e.source for e in prices if e.exchange in ("jupiter", "pyth")} == {"oracle"}
    assert {e.exchange for e in oi} == set(CAPABILITIES["oi"])
    store = EventStore(
        pool, {FundingRate: FUNDING_RATES, SpotPrice: SPOT_PRICES, OpenInterest: OPEN_INTEREST}
    )
    await store(funding + prices + oi)
    await store(funding + prices + oi)  # at-least-once delivery: the second time changes nothing
    counts = [
        await pool.fetchval(f"SELECT count(*) FROM {t}")
        for t in ("funding_rates", "spot_prices", "open_interest")
    ]
    assert counts == [len(funding), len(prices), len(oi)]


async def test_stop_cancels_a_poll_stuck_on_a_hanging_venue(
    simulator: TestServer, make_settings: SettingsFactory, redis: aioredis.Redis
) -> None:
    settings = against(simulator, make_settings, poll_functions=["oi"], poll_timeout_s=30)
    await script(simulator, "okx", "hang", hang_s=30)
    stop = asyncio.Event()
    async with open_pollers(settings, StreamProducer(redis, settings), redis) as [oi]:
        assert isinstance(oi, Poller)
        runner = asyncio.create_task(oi.run(stop))
        await asyncio.sleep(0.5)
        started = time.monotonic()
        stop.set()
        await asyncio.wait_for(runner, 2)
    assert time.monotonic() - started < 1


async def test_unknown_venue_in_the_settings_is_a_config_error(
    make_settings: SettingsFactory, redis: aioredis.Redis
) -> None:
    settings = make_settings(poll_oi_venues=["jupiter"])
    with pytest.raises(ConfigError, match="jupiter cannot answer open interest"):
        async with open_pollers(settings, StreamProducer(redis, settings), redis):
            pass
