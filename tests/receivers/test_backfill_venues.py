"""REST backfill on OKX, Deribit and Bybit against the simulator: Deribit's trade_seq holes found with
the socket up and healed; an outage healed on all three (OKX by trade id, Bybit by time within its
last 1000 trades, partial beyond them, truthfully)."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from decimal import Decimal
from typing import Any

import asyncpg
import msgspec
import pytest
import redis.asyncio as aioredis

from services.receivers.backfill import Backfill
from services.receivers.connection import FeedConnection
from services.receivers.exchanges.bybit import history as bybit_history
from services.receivers.exchanges.deribit import history as deribit_history
from services.receivers.exchanges.deribit import market as deribit_market
from services.receivers.exchanges.okx import history as okx_history
from services.receivers.exchanges.okx import market as okx_market
from services.simulator import bybit as bybit_sim
from services.simulator import deribit as deribit_sim
from services.simulator import okx as okx_sim
from services.simulator.app import venue_urls
from services.simulator.tape import Tape
from shared.events import Gap, Trade
from tests.receivers.backfilling import backfilled_socket, stored_twice, symbol_gaps
from tests.receivers.sim import FakeProducer, SettingsFactory, Sim, simulator, wait_until

SYMBOLS = {"okx": ["BTC-USDT-SWAP", "ETH-USDT-SWAP"], "deribit": ["BTC-PERPETUAL", "ETH-PERPETUAL"],
           "bybit": ["BTCUSDT", "ETHUSDT"]}
ID_FIELD = {"okx": "tradeId", "deribit": "trade_id", "bybit": "execId"}  # the REST row's trade id
MAKE: dict[str, Callable[[Tape], dict[str, Any]]] = {
    "okx": okx_sim.trade, "deribit": deribit_sim.trade, "bybit": bybit_sim.public_trade}
RECORD = {"okx": okx_sim.record_trade, "deribit": deribit_sim.record_trade, "bybit": bybit_sim.record_trade}


def venue_settings(sim: Sim, venue: str, **overrides: Any) -> dict[str, Any]:
    http = sim.base.replace("ws://", "http://")
    urls = venue_urls(sim.base) | {f"{venue}_rest": f"{http}/{venue}"}
    symbols = {"okx": "okx_instruments", "deribit": "deribit_instruments", "bybit": "bybit_symbols"}[venue]
    return {f"{venue}_channels": ["trades"], symbols: SYMBOLS[venue], "venue_urls": urls,
            "backfill_position_interval_s": 0.1} | overrides


def receiving(sim: Sim, venue: str, redis: aioredis.Redis, producer: FakeProducer,
              **overrides: Any) -> AbstractAsyncContextManager[tuple[FeedConnection, Backfill]]:
    return backfilled_socket(sim, venue, venue_settings(sim, venue, **overrides), redis, producer)


def published(producer: FakeProducer) -> dict[str, list[str]]:
    ids: dict[str, list[str]] = defaultdict(list)
    for event in producer.events:
        if isinstance(event, Trade):
            ids[event.raw_symbol].append(event.trade_id)
    return ids


def sent(sim: Sim, venue: str, producer: FakeProducer) -> dict[str, list[str]]:
    """The trades the venue made since the socket's first one, in order (its REST history)."""
    out = {}
    for symbol, ids in published(producer).items():
        ring = [str(row[ID_FIELD[venue]]) for _, _, row in sim.venue(venue).history.rows[symbol]]
        out[symbol] = ring[ring.index(ids[0]):]
    return out


def complete(sim: Sim, venue: str, producer: FakeProducer) -> bool:
    ids = published(producer)
    return len(ids) == 2 and all(set(want) <= set(ids[s]) for s, want in sent(sim, venue, producer).items())


def trade_off_socket(sim: Sim, venue: str, count: int) -> None:
    """Trades the venue makes while nobody is connected: in its REST history only."""
    state = sim.venue(venue)
    for symbol in SYMBOLS[venue]:
        for _ in range(count):
            RECORD[venue](state.history, MAKE[venue](state.tape(symbol)))




async def test_deribit_sequence_holes_are_found_and_healed(make_settings: SettingsFactory,
                                                           redis: aioredis.Redis, pool: asyncpg.Pool) -> None:
    producer = FakeProducer()
    async with simulator(make_settings, simulator_symbols=SYMBOLS["deribit"]) as sim:
        async with receiving(sim, "deribit", redis, producer) as (conn, _):
            await wait_until(lambda: conn.data_frames > 10, what="data")
            await sim.control(venue="deribit", mode="drop")
            await wait_until(lambda: sum(sim.venue("deribit").dropped.values()) >= 12, what="frames dropped")
            await sim.control(venue="deribit", mode="normal")  # a hole shows when a later seq comes
            await asyncio.sleep(0.5)
            await sim.control(venue="deribit", mode="paused")
            await wait_until(lambda: complete(sim, "deribit", producer), timeout=10, what="holes healed")
            await asyncio.sleep(0.3)  # the last gap records
            assert conn.reconnects == 0  # found with the socket up
    gaps = symbol_gaps(producer)
    assert gaps and all(g.status == "healed" and g.reason == "sequence" for g in gaps)
    assert sum(g.recovered for g in gaps) == sum(sim.venue("deribit").dropped.values())
    for gap in gaps:  # the trade_seq missing, and the same recovered
        assert gap.first_missing_id is not None and gap.last_missing_id is not None
        assert gap.recovered == int(gap.last_missing_id) - int(gap.first_missing_id) + 1
        assert (gap.first_recovered_id, gap.last_recovered_id) == (gap.first_missing_id, gap.last_missing_id)
    want = sent(sim, "deribit", producer)
    for symbol, ids in published(producer).items():
        assert sorted(set(ids), key=want[symbol].index) == want[symbol]  # stored == sent
    rows = await stored_twice(pool, producer)
    assert sum(r["n"] for r in rows) == sum(r["ids"] for r in rows) == sum(map(len, want.values()))
    assert await pool.fetchval("SELECT count(*) FROM gaps WHERE status = 'healed'") == len(gaps)


@pytest.mark.parametrize("venue", ["okx", "deribit", "bybit"])
async def test_a_reconnect_gap_is_healed(venue: str, make_settings: SettingsFactory,
                                         redis: aioredis.Redis, pool: asyncpg.Pool) -> None:
    producer = FakeProducer()
    async with simulator(make_settings, simulator_symbols=SYMBOLS[venue]) as sim:
        async with receiving(sim, venue, redis, producer) as (conn, _):
            await wait_until(lambda: conn.data_frames > 10, what="data")
            await sim.control(venue=venue, mode="close")
            await wait_until(lambda: conn.reconnects >= 1, what="disconnected")
            trade_off_socket(sim, venue, 30)
            await sim.control(venue=venue, mode="normal")
            await wait_until(lambda: len(symbol_gaps(producer)) == 2, timeout=10, what="gap records")
            await sim.control(venue=venue, mode="paused")
            await wait_until(lambda: complete(sim, venue, producer), timeout=5, what="stored == sent")
    outage = [e for e in producer.events if isinstance(e, Gap) and not e.symbol]
    assert len(outage) == 1 and outage[0].status == ""
    for gap in symbol_gaps(producer):  # 30 made off the socket, and any frame the close cut off
        assert (gap.status, gap.reason) == ("healed", "closed") and gap.recovered >= 30
        assert gap.from_ts <= outage[0].to_ts <= gap.to_ts
        assert (gap.first_missing_id is None) == (venue == "bybit")  # Bybit's window is by time
    want = sent(sim, venue, producer)
    for symbol, ids in published(producer).items():
        assert sorted(set(ids), key=want[symbol].index) == want[symbol]
    rows = await stored_twice(pool, producer)
    assert sum(r["n"] for r in rows) == sum(r["ids"] for r in rows) == sum(map(len, want.values()))


async def test_a_bybit_outage_beyond_its_last_1000_trades_ends_partial(make_settings: SettingsFactory,
                                                                        redis: aioredis.Redis) -> None:
    producer = FakeProducer()
    async with simulator(make_settings, simulator_symbols=SYMBOLS["bybit"]) as sim:
        async with receiving(sim, "bybit", redis, producer) as (conn, _):
            await wait_until(lambda: conn.data_frames > 10, what="data")
            await sim.control(venue="bybit", mode="close")
            await wait_until(lambda: conn.reconnects >= 1, what="disconnected")
            trade_off_socket(sim, "bybit", 1200)
            await sim.control(venue="bybit", mode="normal")
            await wait_until(lambda: len(symbol_gaps(producer)) == 2, timeout=10, what="gap records")
    for gap in symbol_gaps(producer):
        assert gap.status == "partial" and 900 <= gap.recovered <= 1000  # the newest of the 1200 only
        assert gap.first_missing_id is None and gap.last_recovered_id is not None


def test_okx_history_rows_parse_as_the_stream_does() -> None:
    raw = (b'{"code":"0","msg":"","data":[{"instId":"BTC-USDT","side":"sell","sz":"0.00001","px":"29963.2",'
           b'"tradeId":"242720720","ts":"1654161646974"}]}')
    [row] = okx_history.parse_history_trades(raw)
    trade = okx_market.trade_of(row, 7, okx_market.CT_VAL)
    assert (trade.symbol, trade.trade_id, trade.size, trade.side, trade.ts) == (
        "BTC-USDT", "242720720", Decimal("0.00001"), "sell", 1_654_161_646_974_000)
    swap = okx_market.trade_of(msgspec.structs.replace(row, instId="BTC-USDT-SWAP", sz=Decimal(3)), 7,
                               okx_market.CT_VAL)
    assert (swap.size, swap.raw_size) == (Decimal("0.03"), Decimal(3))  # contracts x ctVal, as pushed


def test_deribit_history_page_parses_as_the_stream_does() -> None:
    raw = (b'{"jsonrpc":"2.0","id":9267,"result":{"trades":[{"trade_seq":30289442,"trade_id":"48079269",'
           b'"timestamp":1590484512188,"tick_direction":2,"price":8950,"mark_price":8948.9,'
           b'"instrument_name":"BTC-PERPETUAL","index_price":8955.88,"direction":"sell","amount":10}],'
           b'"has_more":true}}')
    [(seq, row)], more = deribit_history.parse_trades_page(raw, 7)
    trade = deribit_market.trade_of(row, 7)
    assert (seq, more, trade.seq, trade.trade_id) == (30289442, True, 30289442, "48079269")
    assert (trade.size, trade.raw_size) == (Decimal("0.001117318435754190"), Decimal(10))  # USD / price


def test_bybit_recent_trades_parse_oldest_first() -> None:
    raw = (b'{"retCode":0,"retMsg":"OK","result":{"category":"spot","list":[{"execId":"2100000000007764263",'
           b'"symbol":"BTCUSDT","price":"16618.49","size":"0.00012","side":"Buy","time":"1672052955758",'
           b'"isBlockTrade":false}]},"retExtInfo":{},"time":1672053054358}')
    [(ms, trade)] = bybit_history.parse_recent_trades(raw, "spot", 7)
    assert (ms, trade.symbol, trade.trade_id, trade.side, trade.size) == (
        1672052955758, "BTC-USDT", "2100000000007764263", "buy", Decimal("0.00012"))


@pytest.mark.parametrize("venue", ["okx", "bybit"])
async def test_a_restart_window_is_healed(venue: str, make_settings: SettingsFactory,
                                          redis: aioredis.Redis) -> None:
    first, second = FakeProducer(), FakeProducer()
    async with simulator(make_settings, simulator_symbols=SYMBOLS[venue]) as sim:
        async with receiving(sim, venue, redis, first) as (conn, _):
            await wait_until(lambda: conn.data_frames > 10, what="data")
            await sim.control(venue=venue, mode="paused")
            await asyncio.sleep(0.3)  # positions written
        trade_off_socket(sim, venue, 20)
        await sim.control(venue=venue, mode="normal")
        async with receiving(sim, venue, redis, second):
            await wait_until(lambda: len(symbol_gaps(second)) == 2, timeout=10, what="restart gaps")
    for gap in symbol_gaps(second):  # the 20 made off the socket, and any frame the pause cut off
        assert (gap.status, gap.reason) == ("healed", "restart") and gap.recovered >= 20
    before, after = published(first), published(second)
    for symbol in SYMBOLS[venue]:  # nothing lost, nothing twice, between the two processes
        ring = [str(row[ID_FIELD[venue]]) for _, _, row in sim.venue(venue).history.rows[symbol]]
        both = before[symbol] + after[symbol]
        assert len(both) == len(set(both))
        places = sorted(map(ring.index, both))
        assert places == list(range(places[0], places[-1] + 1))
