"""Sequence gaps and REST backfill against the simulator: frames the venue dropped with the socket
up, an outage, a restart and a gap longer than backfill_max_trades, on Binance USD-M and spot."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from contextlib import AbstractAsyncContextManager
from typing import Any

import asyncpg
import pytest
import redis.asyncio as aioredis

from services.receivers.backfill import Backfill
from services.receivers.backfill_positions import read_positions
from services.receivers.connection import FeedConnection
from services.simulator.app import venue_urls
from services.simulator.binance import agg_trade, record_trade, spot_trade
from shared.events import Gap, Trade
from tests.receivers.backfilling import backfilled_socket, stored_twice, symbol_gaps
from tests.receivers.sim import FakeProducer, SettingsFactory, Sim, simulator, wait_until

SYMBOLS = ["BTCUSDT", "ETHUSDT"]


def sim_settings(sim: Sim, **overrides: Any) -> dict[str, Any]:
    """Receiver settings (flat names): Binance trades, REST at the simulator's history."""
    http = sim.base.replace("ws://", "http://")
    rest = {"binance_rest": f"{http}/binance", "binance_spot_rest": f"{http}/binance_spot"}
    urls = venue_urls(sim.base) | rest
    return {"binance_channels": ["trades"], "binance_symbols": SYMBOLS, "binance_spot_symbols": SYMBOLS,
            "backfill_position_interval_s": 0.1, "venue_urls": urls} | overrides


def receiving(sim: Sim, venue: str, redis: aioredis.Redis, producer: FakeProducer,
              **overrides: Any) -> AbstractAsyncContextManager[tuple[FeedConnection, Backfill]]:
    return backfilled_socket(sim, venue, sim_settings(sim, **overrides), redis, producer)


def trade_ids(producer: FakeProducer) -> dict[str, list[int]]:
    ids: dict[str, list[int]] = defaultdict(list)
    for event in producer.events:
        if isinstance(event, Trade):
            ids[event.raw_symbol].append(int(event.trade_id))
    return ids


def complete(sim: Sim, venue: str, producer: FakeProducer) -> bool:
    """Every trade the venue made since the socket's first one was published."""
    ids = trade_ids(producer)
    ring = sim.venue(venue).history
    return all(ids.get(s) and {i for i in ring.ids(s) if i >= min(ids[s])} <= set(ids[s]) for s in SYMBOLS)


def trade_off_socket(sim: Sim, venue: str, count: int) -> None:
    """Trades the venue makes while nobody is connected (they are in its REST history only)."""
    state = sim.venue(venue)
    for symbol in SYMBOLS:
        for _ in range(count):
            tape = state.tape(symbol)
            record_trade(state.history, spot_trade(tape) if venue == "binance_spot" else agg_trade(tape))


@pytest.mark.parametrize("venue", ["binance", "binance_spot"])
async def test_dropped_frames_are_found_and_healed(venue: str, make_settings: SettingsFactory,
                                                   redis: aioredis.Redis, pool: asyncpg.Pool) -> None:
    producer = FakeProducer()
    async with simulator(make_settings, simulator_symbols=SYMBOLS) as sim:
        async with receiving(sim, venue, redis, producer) as (conn, _):
            await wait_until(lambda: conn.data_frames > 10, what="data")
            await sim.control(venue=venue, mode="drop")
            await wait_until(lambda: sum(sim.venue(venue).dropped.values()) >= 12, what="frames dropped")
            await sim.control(venue=venue, mode="normal")  # a hole shows when a later id comes
            await asyncio.sleep(0.5)
            await sim.control(venue=venue, mode="paused")
            await wait_until(lambda: complete(sim, venue, producer), timeout=10, what="holes healed")
            await asyncio.sleep(0.3)  # the last gap records
            assert conn.reconnects == 0  # found with the socket up
    gaps = symbol_gaps(producer)
    dropped = sum(sim.venue(venue).dropped.values())
    assert gaps and all(g.status == "healed" and g.reason == "sequence" for g in gaps)
    assert sum(g.recovered for g in gaps) == dropped
    for gap in gaps:
        assert gap.first_missing_id is not None and gap.last_missing_id is not None
        missing = int(gap.last_missing_id) - int(gap.first_missing_id) + 1
        assert gap.recovered == missing
        assert (gap.first_recovered_id, gap.last_recovered_id) == (gap.first_missing_id, gap.last_missing_id)
    ring = sim.venue(venue).history
    for symbol, ids in trade_ids(producer).items():
        assert sorted(set(ids)) == [i for i in ring.ids(symbol) if i >= min(ids)]  # stored == sent
    rows = await stored_twice(pool, producer)
    sent = {sym: len([i for i in ring.ids(sym) if i >= min(ids)]) for sym, ids in trade_ids(producer).items()}
    assert sum(r["n"] for r in rows) == sum(r["ids"] for r in rows) == sum(sent.values())  # no duplicate
    assert await pool.fetchval("SELECT count(*) FROM gaps WHERE status = 'healed'") == len(gaps)


async def test_a_reconnect_gap_is_healed(make_settings: SettingsFactory, redis: aioredis.Redis) -> None:
    producer = FakeProducer()
    async with simulator(make_settings, simulator_symbols=SYMBOLS) as sim:
        async with receiving(sim, "binance", redis, producer) as (conn, _):
            await wait_until(lambda: conn.data_frames > 10, what="data")
            await sim.control(venue="binance", mode="close")
            await wait_until(lambda: conn.reconnects >= 1, what="disconnected")
            trade_off_socket(sim, "binance", 30)
            await sim.control(venue="binance", mode="normal")
            await wait_until(lambda: len(symbol_gaps(producer)) == 2, timeout=10, what="gap records")
    outage = [e for e in producer.events if isinstance(e, Gap) and not e.symbol]
    assert len(outage) == 1 and outage[0].status == ""
    for gap in symbol_gaps(producer):
        assert (gap.status, gap.reason) == ("healed", "closed")
        assert gap.first_missing_id is not None and gap.last_missing_id is not None
        # the 30 made here, and any the market made on its own while the socket was down
        assert gap.recovered >= 30
        assert gap.recovered == int(gap.last_missing_id) - int(gap.first_missing_id) + 1
        assert gap.from_ts <= outage[0].to_ts <= gap.to_ts


async def test_a_restart_resumes_where_the_feed_stopped(make_settings: SettingsFactory,
                                                        redis: aioredis.Redis) -> None:
    first, second = FakeProducer(), FakeProducer()
    async with simulator(make_settings, simulator_symbols=SYMBOLS) as sim:
        async with receiving(sim, "binance", redis, first) as (conn, _):
            await wait_until(lambda: conn.data_frames > 10, what="data")
            await asyncio.sleep(0.3)  # positions written
        settings = sim.settings()
        positions = (await read_positions(redis, settings.streams.prefix, ["binance"]))["binance"]
        assert set(positions) == {"BTC-USDT-PERP", "ETH-USDT-PERP"}
        trade_off_socket(sim, "binance", 20)
        async with receiving(sim, "binance", redis, second):
            await wait_until(lambda: len(symbol_gaps(second)) == 2, timeout=10, what="restart gaps")
    before, after = trade_ids(first), trade_ids(second)
    for gap in symbol_gaps(second):
        assert gap.status == "healed" and gap.reason == "restart" and gap.recovered >= 20
    for symbol in SYMBOLS:  # nothing lost between the two processes
        ids = set(before[symbol]) | set(after[symbol])
        assert ids == set(range(min(ids), max(ids) + 1))


async def test_a_gap_longer_than_the_limit_ends_partial(make_settings: SettingsFactory,
                                                        redis: aioredis.Redis) -> None:
    producer = FakeProducer()
    async with simulator(make_settings, simulator_symbols=SYMBOLS) as sim:
        async with receiving(sim, "binance", redis, producer, backfill_max_trades=10) as (conn, _):
            await wait_until(lambda: conn.data_frames > 10, what="data")
            await sim.control(venue="binance", mode="close")
            await wait_until(lambda: conn.reconnects >= 1, what="disconnected")
            trade_off_socket(sim, "binance", 30)
            await sim.control(venue="binance", mode="normal")
            await wait_until(lambda: len(symbol_gaps(producer)) == 2, timeout=10, what="gap records")
    for gap in symbol_gaps(producer):
        assert (gap.status, gap.recovered) == ("partial", 10)
        assert gap.first_recovered_id == gap.first_missing_id
        assert gap.last_missing_id is not None and gap.first_missing_id is not None
        assert int(gap.last_missing_id) - int(gap.first_missing_id) + 1 == 30


async def test_backfill_off_records_the_jump_unrecoverable(make_settings: SettingsFactory,
                                                           redis: aioredis.Redis) -> None:
    producer = FakeProducer()
    async with simulator(make_settings, simulator_symbols=SYMBOLS) as sim:
        async with receiving(sim, "binance", redis, producer, backfill_enabled=False) as (conn, _):
            await wait_until(lambda: conn.data_frames > 10, what="data")
            await sim.control(venue="binance", mode="drop")
            await wait_until(lambda: len(symbol_gaps(producer)) >= 2, timeout=10, what="gap records")
    assert all(g.status == "unrecoverable" and g.recovered == 0 for g in symbol_gaps(producer))
