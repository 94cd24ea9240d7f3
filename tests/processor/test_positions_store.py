"""The traders group's sink on th:positions, on the real PostgreSQL and Redis: snapshots diffed
into stored and published changes, the positions and trader rows kept, redeliveries changing
nothing, liquidations marked whichever of fill and snapshot comes first, fills and equity stored
once with their coverage, and watched traders' changes sent as alerts."""
from __future__ import annotations

from decimal import Decimal

import asyncpg
import msgspec
import pytest
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from services.processor.traders import TraderStore
from shared.breaker import SinkUnavailable
from shared.config import Settings
from shared.constants import FIELD_EVENTS, stream_key
from shared.events import (
    Alert,
    EquityPoint,
    Event,
    PositionChange,
    TraderEquity,
    TraderFill,
    TraderPosition,
    TraderState,
    batch_decoder,
)
from shared.streams import StreamProducer

D = Decimal
A, B = "0x" + "a1" * 20, "0x" + "b2" * 20
MIN = 60_000_000
T1 = 1_790_000_000_000_000
T2, T3, T4 = T1 + MIN, T1 + 2 * MIN, T1 + 3 * MIN
BTC, ETH, SOL = "BTC-USD-PERP", "ETH-USD-PERP", "SOL-USD-PERP"


def pos(symbol: str, size: str, entry: str = "100") -> TraderPosition:
    return TraderPosition(symbol=symbol, size=D(size), entry_price=D(entry),
                          position_value=abs(D(size)) * D(entry), unrealized_pnl=D("1.5"), leverage=D(3),
                          liquidation_price=D(50))


def state(ts: int, *positions: TraderPosition, address: str = A) -> TraderState:
    return TraderState(address=address, exchange="hyperliquid", account_value=D("2500.5"), notional=D(1000),
                       positions=positions, ts=ts, recv_ts=ts + 10)


def fill(ts: int, symbol: str = BTC, tid: str = "1", liquidation: bool = False,
         address: str = A) -> TraderFill:
    return TraderFill(address=address, exchange="hyperliquid", symbol=symbol, tid=tid, order_id="7",
                      side="sell",
                      price=D(90), size=D(1), start_position=D(1), direction="Close Long", closed_pnl=D(-10),
                      fee=D("0.02"), fee_asset="USDC", liquidation=liquidation, ts=ts, recv_ts=ts + 10)


async def published(redis: aioredis.Redis, settings: Settings, family: str) -> list[Event]:
    entries = await redis.xrange(stream_key(settings.streams.prefix, family))
    return [event for _, fields in entries for event in batch_decoder.decode(fields[FIELD_EVENTS])]


async def changes_published(redis: aioredis.Redis, settings: Settings) -> list[tuple[str, str, int, bool]]:
    return [(e.symbol, e.change, e.ts, e.liquidated) for e in await published(redis, settings, "positions")
            if isinstance(e, PositionChange)]


async def changes_stored(pool: asyncpg.Pool) -> list[tuple[str, str, int, bool]]:
    rows = await pool.fetch("SELECT symbol, change, ts, liquidated FROM position_changes ORDER BY ts, symbol")
    return [(r["symbol"], r["change"], r["ts"], r["liquidated"]) for r in rows]


@pytest.fixture
def store(pool: asyncpg.Pool, redis: aioredis.Redis, settings: Settings) -> TraderStore:
    return TraderStore(pool, StreamProducer(redis, settings))


async def test_the_first_snapshot_is_a_baseline_then_changes_are_stored_published_and_applied(
    store: TraderStore, pool: asyncpg.Pool, redis: aioredis.Redis, settings: Settings
) -> None:
    await store([state(T1, pos(BTC, "1"), pos(ETH, "-2"))])
    assert await changes_stored(pool) == []
    await store([state(T2, pos(BTC, "1.5", "110"), pos(ETH, "2"), pos(SOL, "10"))])
    expected = [(BTC, "increase", T2, False), (ETH, "flip", T2, False), (SOL, "open", T2, False)]
    assert await changes_stored(pool) == expected
    assert await changes_published(redis, settings) == expected
    rows = await pool.fetch("SELECT symbol, size::text, entry_price::text, ts FROM trader_positions "
                            "ORDER BY 1")
    assert [tuple(r) for r in rows] == [(BTC, "1.5", "110", T2), (ETH, "2", "100", T2),
                                        (SOL, "10", "100", T2)]
    row = await pool.fetchrow("SELECT tracked_since, last_tracked, account_value::text, notional::text, "
                              "trades_seen FROM traders WHERE address = $1", A)
    assert tuple(row) == (T1, T2, "2500.5", "1000", 0)
    stored = await pool.fetchrow("SELECT * FROM position_changes WHERE symbol = $1", BTC)
    assert (stored["old_size"], stored["new_size"], stored["entry_price"], stored["position_value"],
            stored["unrealized_pnl"], stored["leverage"], stored["liquidation_price"]) == (
        D(1), D("1.5"), D(110), D(165), D("1.5"), D(3), D(50))


async def test_redelivered_or_older_snapshots_change_nothing_and_republish_what_was_stored(
    store: TraderStore, pool: asyncpg.Pool, redis: aioredis.Redis, settings: Settings
) -> None:
    await store([state(T1, pos(BTC, "1"))])
    batch = [state(T2, pos(BTC, "-1")), state(T3)]  # two snapshots of one trader in one batch: both diffed
    await store(batch)
    assert await changes_stored(pool) == [(BTC, "flip", T2, False), (BTC, "close", T3, False)]
    await store(batch)  # redelivered: nothing new, the stored changes published again (same identities)
    await store([state(T1, pos(BTC, "5"))])  # older than the stored state: a no-op
    assert await changes_stored(pool) == [(BTC, "flip", T2, False), (BTC, "close", T3, False)]
    twice = [(BTC, "flip", T2, False), (BTC, "close", T3, False)] * 2
    assert await changes_published(redis, settings) == twice
    assert await pool.fetchval("SELECT count(*) FROM trader_positions") == 0
    assert await pool.fetchval("SELECT last_tracked FROM traders") == T3


async def test_a_close_after_a_stored_liquidation_fill_is_marked(
    store: TraderStore, pool: asyncpg.Pool
) -> None:
    await store([state(T1, pos(BTC, "1"), pos(ETH, "1"), pos(SOL, "1"))])
    await store([fill(T1 - 1, ETH, "1", liquidation=True),  # before the previous snapshot: not this close
                 fill(T2 - 5, BTC, "2", liquidation=True),
                 fill(T2 - 4, SOL, "3")])  # an ordinary closing fill
    await store([state(T2)])
    assert await changes_stored(pool) == [(BTC, "close", T2, True), (ETH, "close", T2, False),
                                          (SOL, "close", T2, False)]


async def test_a_liquidation_fill_arriving_later_marks_the_close_and_publishes_it_again(
    store: TraderStore, pool: asyncpg.Pool, redis: aioredis.Redis, settings: Settings
) -> None:
    await store([state(T1, pos(BTC, "1"), pos(ETH, "1"))])
    await store([state(T2, pos(ETH, "1"))])  # BTC gone
    await store([state(T3, pos(BTC, "2"))])  # BTC opened again, ETH gone
    liquidations = [fill(T1 + 5, BTC, "9", liquidation=True), fill(T2 + 5, ETH, "10", liquidation=True)]
    await store(liquidations)
    await store(liquidations)  # redelivered: already marked, not news
    assert await changes_stored(pool) == [(BTC, "close", T2, True), (BTC, "open", T3, False),
                                          (ETH, "close", T3, True)]
    assert (await changes_published(redis, settings))[-2:] == [(BTC, "close", T2, True),
                                                               (ETH, "close", T3, True)]
    assert len(await changes_published(redis, settings)) == 5
    # a liquidation fill whose coin changed next by an open is no close's: nothing marked
    await store([fill(T3 - 5, SOL, "11", liquidation=True), fill(T4, BTC, "12", liquidation=True)])
    assert len(await changes_stored(pool)) == 3
    assert sum(liquidated for *_, liquidated in await changes_stored(pool)) == 2


async def test_fills_and_equity_are_stored_once_with_their_coverage(
    store: TraderStore, pool: asyncpg.Pool
) -> None:
    fills = [fill(T2, BTC, "1"), fill(T1, BTC, "2"), fill(T3, ETH, "3")]
    await store(fills)
    await store([*fills, fill(T4, ETH, "4")])
    assert await pool.fetchval("SELECT count(*) FROM trader_fills") == 4
    row = await pool.fetchrow("SELECT * FROM trader_fills WHERE tid = '3'")
    assert (row["side"], row["price"], row["start_position"], row["direction"], row["closed_pnl"],
            row["fee"], row["fee_asset"], row["liquidation"]) == (
        "sell", D(90), D(1), "Close Long", D(-10), D("0.02"), "USDC", False)
    curve = TraderEquity(address=A, exchange="hyperliquid", ts=T3, recv_ts=T3, points=(
        EquityPoint(T1, D(1000), D(0)), EquityPoint(T2, D(1100), D(100))))
    newer = TraderEquity(address=A, exchange="hyperliquid", ts=T4, recv_ts=T4, points=(
        EquityPoint(T2, D(1150), D(150)), EquityPoint(T3, D(900), D(-100))))
    await store([curve, newer])
    await store([newer])
    points = await pool.fetch("SELECT ts, account_value::text, pnl::text FROM trader_equity ORDER BY ts")
    assert [tuple(p) for p in points] == [(T1, "1000", "0"), (T2, "1150", "150"), (T3, "900", "-100")]
    row = await pool.fetchrow("SELECT fills_from, fills_until, fills_complete, equity_until, tracked_since "
                              "FROM traders WHERE address = $1", A)
    assert tuple(row) == (T1, T4, False, T3, None)


async def test_watched_traders_changes_over_their_minimum_become_alerts(
    store: TraderStore, pool: asyncpg.Pool, redis: aioredis.Redis, settings: Settings
) -> None:
    await store([state(T1), state(T1, address=B)])
    await pool.execute("UPDATE traders SET watched = true, watch_min_usd = 1000 WHERE address = $1", A)
    await store([state(T2, pos(BTC, "50", "100"), pos(ETH, "5", "100")),  # 5000 USD and 500 USD
                 state(T2, pos(BTC, "50", "100"), address=B)])  # not watched
    await store([fill(T2 + 1, BTC, "5", liquidation=True)])
    await store([state(T3, pos(ETH, "5", "100"))])  # BTC liquidated
    alerts = [e for e in await published(redis, settings, "alerts") if isinstance(e, Alert)]
    assert [(a.source, a.severity, a.key, a.title) for a in alerts] == [
        ("traders", "info", f"trader:{A}:{BTC}:{T2}", "0xa1a1…a1a1 opened long BTC-USD-PERP"),
        ("traders", "warning", f"trader:{A}:{BTC}:{T3}", "0xa1a1…a1a1 was liquidated on long BTC-USD-PERP"),
    ]
    assert A in alerts[0].text and "value $5000" in alerts[0].text and "entry 100" in alerts[0].text


async def test_addresses_are_stored_in_lower_case(store: TraderStore, pool: asyncpg.Pool) -> None:
    await store([state(T1, pos(BTC, "1"), address=A.upper().replace("0X", "0x"))])
    assert await pool.fetchval("SELECT address FROM trader_positions") == A


async def test_a_publication_lost_to_redis_is_made_by_the_retried_batch(
    pool: asyncpg.Pool, redis: aioredis.Redis, settings: Settings
) -> None:
    away = aioredis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))
    try:
        cut_off = TraderStore(pool, StreamProducer(away, settings))
        await cut_off([state(T1, pos(BTC, "1"))])  # a baseline publishes nothing: no Redis needed
        batch = [state(T2, pos(BTC, "2"))]
        with pytest.raises(SinkUnavailable):
            await cut_off(batch)  # committed, not published: the entry is not acked
    finally:
        await away.aclose()
    assert await changes_stored(pool) == [(BTC, "increase", T2, False)]
    await TraderStore(pool, StreamProducer(redis, settings))(batch)  # the batch redelivered
    assert await changes_published(redis, settings) == [(BTC, "increase", T2, False)]
    assert await changes_stored(pool) == [(BTC, "increase", T2, False)]


async def test_the_trackers_word_on_fill_coverage_is_kept_until_it_says_otherwise(
    store: TraderStore, pool: asyncpg.Pool
) -> None:
    async def complete() -> bool:
        return bool(await pool.fetchval("SELECT fills_complete FROM traders WHERE address = $1", A))

    await store([state(T1, pos(BTC, "1"))])
    assert not await complete()  # never read: not presented as complete
    await store([msgspec.structs.replace(state(T2, pos(BTC, "1")), fills_complete=True)])
    assert await complete()
    await store([state(T3, pos(BTC, "1"))])  # this snapshot has no word: the stored one stays
    assert await complete()
    await store([msgspec.structs.replace(state(T3 + 1, pos(BTC, "1")), fills_complete=False)])
    assert not await complete()  # truncated
