"""FeedConnection against the simulator's scripted misbehaviour, in-process: silence, half-open
sockets, garbage, forced closes, a venue that is down, and the gap each outage leaves."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import asyncpg
import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import REGISTRY

from services.api.app import create_app as create_api
from services.processor.sinks import STORED_FAMILIES
from services.processor.store import EventStore
from services.receivers.connection import FeedConnection
from services.receivers.exchanges import deribit
from services.receivers.feeds import feeds_of
from services.receivers.venue import Keepalive
from services.simulator.app import create_app as create_simulator
from shared.config import Settings
from shared.constants import FIELD_EVENTS, stream_key
from shared.events import Gap, batch_decoder, now_us
from shared.feed_status import FeedStatusReporter, feed_report, read_feed_statuses
from shared.streams import StreamProducer
from tests.receivers.sim import IDLE_S, FakeProducer, SettingsFactory, running, simulator, wait_until
from tests.stack import free_port

pytestmark = pytest.mark.fault
VENUES = ["binance", "binance_spot", "bybit", "bybit_spot", "okx", "hyperliquid", "deribit"]


def connect(feed: Any, producer: Any = None, backoff_max_s: float = 0.3) -> FeedConnection:
    return FeedConnection(feed, producer or FakeProducer(), backoff_max_s=backoff_max_s)


async def first_session(conn: FeedConnection, state: Any) -> list[str]:
    """Data on the first connection and every subscribe message answered: its subscriptions."""
    await wait_until(lambda: conn.data_frames > 3 and len(state.sessions) == 1, what="first session")
    await asyncio.sleep(0.2)
    return sorted(state.sessions[0])


async def test_silent_feed_reconnects_within_idle_timeout_plus_2s(make_settings: SettingsFactory) -> None:
    async with simulator(make_settings) as sim:
        feed = replace(sim.feed("bybit"), ping_interval_s=0.25)  # pongs keep coming during the silence
        conn = connect(feed)
        async with running(conn):
            await wait_until(lambda: conn.data_frames > 10, what="data before the silence")
            opened = sim.venue("bybit").opened
            await sim.control(venue="bybit", mode="silence")
            silent_since = time.monotonic()
            await asyncio.sleep(0.2)  # frames already in flight
            non_data_before = conn.frames - conn.data_frames - conn.bad_frames
            data_before = conn.data_frames
            await wait_until(lambda: sim.venue("bybit").opened > opened, timeout=10, what="reconnect")
            assert time.monotonic() - silent_since <= IDLE_S + 2
            assert conn.reason == "idle"
            assert conn.data_frames == data_before
            assert (
                conn.frames - conn.data_frames - conn.bad_frames >= non_data_before + 2
            )  # pongs did not count
            await sim.control(venue="bybit", mode="normal")
            await wait_until(lambda: conn.data_frames > data_before, what="data after the silence")


async def test_half_open_socket_reconnects(make_settings: SettingsFactory) -> None:
    async with simulator(make_settings) as sim:
        for venue in ("binance", "okx"):  # server-pinged (no application ping) and application-pinged
            conn = connect(replace(sim.feed(venue), ping_interval_s=0.25))
            async with running(conn):
                await wait_until(lambda c=conn: c.data_frames > 5, what=f"{venue} data")
                opened = sim.venue(venue).opened
                await sim.control(venue=venue, mode="halfopen")
                started = time.monotonic()
                await wait_until(
                    lambda v=venue, o=opened: sim.venue(v).opened > o, timeout=10, what="reconnect"
                )
                assert time.monotonic() - started <= IDLE_S + 2, venue
                assert conn.reason == "idle"
                await sim.control(venue=venue, mode="normal")
                data = conn.data_frames
                await wait_until(lambda c=conn, d=data: c.data_frames > d, what=f"{venue} data again")
                # the half-open sessions were dropped by the client: the simulator sees no connection leak
                await wait_until(lambda v=venue: sim.venue(v).connections == 1, what="old sockets gone")


@pytest.mark.parametrize("venue", VENUES)
async def test_garbage_frames_are_counted_and_skipped(venue: str, make_settings: SettingsFactory) -> None:
    async with simulator(make_settings) as sim:
        producer = FakeProducer()
        conn = connect(sim.feed(venue), producer)
        async with running(conn):
            await wait_until(lambda: conn.data_frames > 3, what="data")
            await sim.control(venue=venue, mode="garbage")
            await wait_until(lambda: sim.venue(venue).garbage >= 10, what="garbage sent")
            await sim.control(venue=venue, mode="truncated")
            sent = sim.venue(venue).garbage
            await wait_until(lambda: sim.venue(venue).garbage >= sent + 5, what="truncated frames sent")
            await sim.control(venue=venue, mode="normal")
            data = conn.data_frames
            await wait_until(lambda: conn.data_frames > data + 5, what="data after the garbage")
            assert conn.bad_frames == sim.venue(venue).garbage
            assert conn.reconnects == 0 and conn.connects == 1  # skipped, never a reconnect
            assert all(type(e).__name__ != "Gap" for e in producer.events)


@pytest.mark.parametrize("venue", ["binance", "bybit", "bybit_spot", "okx", "hyperliquid", "deribit"])
async def test_forced_close_restores_every_subscription(venue: str, make_settings: SettingsFactory) -> None:
    async with simulator(make_settings) as sim:
        feed = sim.feed(venue)
        conn = connect(feed)
        state = sim.venue(venue)
        async with running(conn):
            first = await first_session(conn, state)
            await sim.control(venue=venue, mode="close")
            await wait_until(lambda: conn.reconnects >= 1, what="the close noticed")
            await sim.control(venue=venue, mode="normal")
            data = conn.data_frames
            await wait_until(lambda: conn.data_frames > data, what="data after the close")
            await wait_until(
                lambda: sorted(state.sessions[-1]) == first,
                timeout=2,
                what=f"same subscriptions again: {first} vs {sorted(state.sessions[-1])}",
            )
            assert len(first) >= 2 * len(
                feed.channels
            )  # two symbols of every channel (OKX liquidations: one)
            assert len(state.sessions) >= 2 and conn.reason == "closed"


async def test_a_failing_feed_keeps_retrying_and_is_reported(
    make_settings: SettingsFactory,
    redis: aioredis.Redis,
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    port = free_port()  # nothing listens there yet: every connect is refused
    async with simulator(make_settings) as sim:
        sim.base = f"ws://127.0.0.1:{port}"
        conn = connect(sim.feed("bybit"), backoff_max_s=0.2)
    caplog.set_level(logging.WARNING, logger="services.receivers.connection")
    async with running(conn):
        await wait_until(lambda: conn.failures >= 4, what="four failed attempts")
        attempts = [r.attempt for r in caplog.records if r.getMessage() == "feed disconnected, reconnecting"]
        assert attempts[:4] == [1, 2, 3, 4]  # a log line per retry, with its attempt number
        gauge = REGISTRY.get_sample_value("tradehub_feed_consecutive_failures", {"feed": conn.feed.name})
        assert gauge is not None and gauge >= 4
        reporter = FeedStatusReporter(redis, settings.streams.prefix, lambda: [conn.status()], 0.5)
        assert await reporter.write_once()
        [status] = await read_feed_statuses(redis, settings.streams.prefix)
        assert not status.connected and status.failures >= 4 and status.outage_from is not None
        assert feed_report([status], now_us(), 0.5)["not_ok"] == [conn.feed.name]
        # the venue comes back on that port: the same connection recovers by itself
        server = TestServer(create_simulator(make_settings(simulator_rate=50.0)), host="127.0.0.1", port=port)
        await server.start_server()
        try:
            await wait_until(lambda: conn.data_frames > 0, timeout=5, what="recovered")
            assert conn.failures == 0 and conn.status().connected
        finally:
            await server.close()


async def test_disconnection_becomes_a_gap_record(
    make_settings: SettingsFactory,
    settings: Settings,
    redis: aioredis.Redis,
    pool: asyncpg.Pool,
    aiohttp_client: Callable[..., TestClient],
) -> None:
    producer = StreamProducer(redis, settings, source="test")
    flushing = asyncio.Event()
    writer = asyncio.create_task(producer.run(flushing))
    try:
        async with simulator(make_settings) as sim:
            conn = connect(sim.feed("binance"), producer)
            async with running(conn):
                await wait_until(lambda: conn.data_frames > 3, what="data")
                before_close = conn.last_data_ts
                await sim.control(venue="binance", mode="close")
                await wait_until(lambda: conn.reconnects >= 1, what="disconnected")
                await asyncio.sleep(0.3)
                await sim.control(venue="binance", mode="normal")
                await wait_until(
                    lambda: (
                        conn.data_frames > 0
                        and conn.status().outage_from is None
                        and conn.reconnects >= 1
                        and conn.last_data_ts != before_close
                    ),
                    what="data again",
                )
    finally:
        flushing.set()
        await writer
    entries = await redis.xrange(stream_key(settings.streams.prefix, "gaps"))
    gaps = [e for _, fields in entries for e in batch_decoder.decode(fields[FIELD_EVENTS])]
    assert len(gaps) == 1
    gap = gaps[0]
    assert (
        isinstance(gap, Gap)
        and gap.feed == "binance:0"
        and gap.exchange == "binance"
        and gap.reason == "closed"
    )
    assert before_close is not None and before_close <= gap.from_ts < gap.to_ts
    assert gap.to_ts - gap.from_ts >= 300_000  # the 0.3 s the venue refused connections, at least
    await EventStore(pool, STORED_FAMILIES["gaps"])(gaps + gaps)  # a redelivery changes nothing
    client = await aiohttp_client(create_api(settings))
    body = await (await client.get("/api/v1/gaps", params={"feed": "binance:0"})).json()
    assert body["count"] == 1 and body["ongoing"] == []
    row = body["gaps"][0]
    assert (row["feed"], row["exchange"], row["from_ts"], row["to_ts"], row["reason"]) == (
        "binance:0",
        "binance",
        gap.from_ts,
        gap.to_ts,
        "closed",
    )
    assert (await (await client.get("/api/v1/gaps", params={"exchange": "okx"})).json())["count"] == 0


async def test_planned_reconnect_before_the_forced_disconnect_waits_for_nothing(
    make_settings: SettingsFactory,
) -> None:
    async with simulator(make_settings) as sim:
        conn = connect(replace(sim.feed("binance"), max_age_s=0.4))  # Binance: 24 h minus a margin
        async with running(conn):
            await wait_until(lambda: conn.connects >= 3, what="two planned reconnects")
            assert conn.reason == "planned" and conn.failures == 0 and conn.backoff.attempt == 0


async def test_deribit_heartbeat_unanswered_drops_the_socket_and_answered_keeps_it(
    make_settings: SettingsFactory,
) -> None:
    async with simulator(make_settings) as sim:
        settings = sim.settings(deribit_channels=["trades"], ws_idle_timeout_s=5.0)
        quick = replace(deribit.VENUE, keepalive=Keepalive(interval_s=1, reply=deribit.heartbeat_reply))
        answering = connect(feeds_of(quick, settings)[0])
        deaf = connect(replace(feeds_of(quick, settings)[0], name="deribit:deaf", reply=None))
        async with running(answering, deaf):
            await wait_until(lambda: deaf.reconnects >= 1, timeout=5, what="the deaf socket dropped")
            assert deaf.reason == "closed"
            assert answering.reconnects == 0 and answering.connects == 1 and answering.data_frames > 0


@pytest.mark.parametrize("venue", ["binance", "binance_spot", "okx"])
async def test_a_venue_notice_of_a_coming_disconnect_reconnects_at_once(
    venue: str, make_settings: SettingsFactory
) -> None:
    """Binance serverShutdown and OKX 64008: a new connection now, as planned, subscriptions restored."""
    async with simulator(make_settings) as sim:
        feed = sim.feed(venue)
        conn = connect(feed, backoff_max_s=30)  # a backoff delay would show as a slow reconnect
        state = sim.venue(venue)
        async with running(conn):
            first = await first_session(conn, state)
            await sim.control(venue=venue, mode="notice")
            await wait_until(lambda: conn.reconnects >= 1, timeout=2, what="the notice acted on")
            assert conn.reason == "notice" and conn.failures == 0 and conn.backoff.attempt == 0
            data = conn.data_frames
            await wait_until(lambda: conn.data_frames > data, timeout=2, what="data on the new connection")
            restored = lambda: sorted(state.sessions[-1]) == first  # noqa: E731
            await wait_until(restored, timeout=2, what="same subscriptions")
            await asyncio.sleep(0.3)
            assert conn.reconnects == 1 and conn.bad_frames == 0  # told once; the new connection was not
