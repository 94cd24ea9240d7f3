"""recompute on the real PostgreSQL: trades stored and folded live, candles then broken or deleted,
recomputed, and every derived row equals what the live path made (exact Decimals); twice == once;
rows outside the range are left alone; the progress line has done/total, a rate and an ETA."""

from __future__ import annotations

import io
from decimal import Decimal

import asyncpg
import pytest
import redis.asyncio as aioredis

from services.processor.analytics_sinks import TradeAnalytics
from services.processor.recompute import ProgressBar, Scope, main, minute_range, parse_time, run_recompute
from services.processor.store import TRADES, EventStore
from shared.candles import MINUTE_US
from shared.config import Settings
from shared.events import Trade
from shared.streams import StreamProducer

T0 = 1_704_153_600_000_000 - 7 * MINUTE_US  # 2024-01-01 23:53 UTC: the tape crosses a UTC midnight
S = 1_000_000
ALL = """
SELECT exchange, symbol, interval, ts, raw_symbol, open, high, low, close, volume, trades, buy_volume,
       closed, recv_ts
FROM candles WHERE source = 'derived' ORDER BY exchange, symbol, interval, ts
"""


def tape() -> list[Trade]:
    """Fourteen minutes of trades on two venues, with a quiet minute and odd exact Decimals."""
    trades = []
    for n in range(90):
        if 5 * 60 <= (n * 9) < 6 * 60:
            continue  # minute 5 has no trade
        for exchange in ("binance", "bybit"):
            trades.append(Trade(
                exchange=exchange, symbol="BTC-USDT-PERP", raw_symbol="BTCUSDT", trade_id=str(10_000 + n),
                price=Decimal("42000.5") + Decimal(n * 37 % 101) / 10, size=Decimal("0.001") * (n % 7 + 1),
                side="buy" if n % 3 else "sell", ts=T0 + n * 9 * S + 123, recv_ts=T0 + n * 9 * S + 5_000))
    return trades


async def rows(pool: asyncpg.Pool) -> list[tuple[object, ...]]:
    return [tuple(row) for row in await pool.fetch(ALL)]


async def live(pool: asyncpg.Pool, redis: aioredis.Redis, settings: Settings) -> list[tuple[object, ...]]:
    """Store the tape and fold it as the processor does (in batches, one trade late)."""
    trades = tape()
    late, rest = trades[20], trades[:20] + trades[21:]
    await EventStore(pool, {Trade: TRADES})(trades)
    sink = TradeAnalytics(pool, StreamProducer(redis, settings), settings.analytics)
    for i in range(0, len(rest), 25):
        await sink(rest[i:i + 25])
    await sink([late])
    return await rows(pool)


async def break_candles(pool: asyncpg.Pool) -> None:
    await pool.execute("UPDATE candles SET high = high + 1, volume = 0 WHERE interval = '1m' AND ts = $1",
                       T0 + 2 * MINUTE_US)
    await pool.execute("DELETE FROM candles WHERE interval = '1m' AND ts = $1", T0 + 9 * MINUTE_US)
    await pool.execute("DELETE FROM candles WHERE interval IN ('5m', '1d')")
    await pool.execute("UPDATE candles SET close = 1, closed = false WHERE interval = '1h'")


async def test_recomputed_candles_equal_the_live_ones_and_twice_is_once(
    pool: asyncpg.Pool, redis: aioredis.Redis, settings: Settings
) -> None:
    made = await live(pool, redis, settings)
    assert {row[2] for row in made} == {"1m", "5m", "15m", "1h", "4h", "1d"}
    await break_candles(pool)
    assert await rows(pool) != made
    scope = Scope(*minute_range(T0, T0 + 15 * MINUTE_US))
    out = io.StringIO()
    written = await run_recompute(pool, "candles", scope, out)
    assert await rows(pool) == made
    assert written > 0 and "ETA" in out.getvalue() and "/s" in out.getvalue()
    await run_recompute(pool, "candles", scope, io.StringIO())
    assert await rows(pool) == made


async def test_rollups_are_rebuilt_from_the_stored_bars(
    pool: asyncpg.Pool, redis: aioredis.Redis, settings: Settings
) -> None:
    made = await live(pool, redis, settings)
    await pool.execute("DELETE FROM candles WHERE interval <> '1m'")
    await run_recompute(pool, "rollups", Scope(*minute_range(T0, T0 + 15 * MINUTE_US)), io.StringIO())
    assert await rows(pool) == made


async def test_rows_outside_the_range_are_left_alone(
    pool: asyncpg.Pool, redis: aioredis.Redis, settings: Settings
) -> None:
    made = await live(pool, redis, settings)
    await break_candles(pool)
    broken = await rows(pool)
    scope = Scope(*minute_range(T0 + 8 * MINUTE_US, T0 + 10 * MINUTE_US), exchange="bybit")
    await run_recompute(pool, "candles", scope, io.StringIO())
    after = {row[:4]: row for row in await rows(pool)}
    before = {row[:4]: row for row in broken}
    wanted = {row[:4]: row for row in made}
    fixed = ("bybit", "BTC-USDT-PERP", "1m", T0 + 9 * MINUTE_US)
    assert fixed not in before and after[fixed] == wanted[fixed]
    for key in [("bybit", "BTC-USDT-PERP", "1m", T0 + 2 * MINUTE_US),  # before the range: still broken
                ("binance", "BTC-USDT-PERP", "1m", T0 + 2 * MINUTE_US)]:
        assert after[key] == before[key] != wanted[key]
    assert ("binance", "BTC-USDT-PERP", "1m", T0 + 9 * MINUTE_US) not in after  # other exchange
    five = ("bybit", "BTC-USDT-PERP", "5m", T0 + 7 * MINUTE_US)  # 23:55..00:00 meets the range
    assert after[five] == wanted[five]
    assert ("bybit", "BTC-USDT-PERP", "5m", T0 + 2 * MINUTE_US) not in after  # 23:50 bucket: outside


HEDGE_INSERT = """
INSERT INTO hedge_snapshots (pool, asset, ts, source, pool_asset, held_units, per_unit, required, hedge,
                             drift, drift_pct, price, drift_usd)
VALUES ($1, $2, $3, 'jlp', $4, $5, $6, 0, $7, 0, NULL, $8, NULL)
"""
HEDGE_FIGURES = "SELECT asset, ts, required, drift, drift_pct, drift_usd FROM hedge_snapshots ORDER BY ts"


async def test_hedge_snapshots_get_their_drift_again_from_their_stored_inputs(pool: asyncpg.Pool) -> None:
    D = Decimal
    await pool.executemany(HEDGE_INSERT, [
        ("jlp", "BTC", T0, "WBTC", D("100"), D("0.0123"), D("1.2"), D("150")),
        ("jlp", "SOL", T0 + S, "SOL", D("100"), D("0"), D("2"), None),
        ("jlp", "ETH", T0 + MINUTE_US, "ETH", D("100"), D("0.5"), D("50"), D("3000")),  # outside the range
    ])
    scope = Scope(*minute_range(T0, T0 + MINUTE_US))
    out = io.StringIO()
    assert await run_recompute(pool, "hedges", scope, out) == 2
    once = [tuple(row) for row in await pool.fetch(HEDGE_FIGURES)]
    assert once == [
        ("BTC", T0, D("1.2300"), D("-0.0300"), D("-2.4390"), D("-4.50000")),
        ("SOL", T0 + S, D("0"), D("2"), None, None),
        ("ETH", T0 + MINUTE_US, D("0"), D("0"), None, None),  # left as stored
    ]
    assert "2/2 snapshots" in out.getvalue() and "ETA" in out.getvalue()
    await run_recompute(pool, "hedges", scope, io.StringIO())
    assert [tuple(row) for row in await pool.fetch(HEDGE_FIGURES)] == once


def test_the_progress_line_has_done_total_rate_and_eta() -> None:
    clock = iter([100.0, 102.0, 104.0, 106.0])
    out = io.StringIO()
    bar = ProgressBar("1m candles", 10, "pair-days", out, width=10, now=lambda: next(clock))
    bar.advance()
    bar.advance(3)
    bar.finish()
    text = out.getvalue()
    assert text.startswith("\r") and text.endswith("\n") and text.count("\n") == 1  # rewritten in place
    assert "1/10 pair-days 0.5 pair-days/s ETA 0:00:18" in text
    assert "[####......] 4/10 pair-days 0.7 pair-days/s ETA 0:00:09" in text


def test_times_and_ranges() -> None:
    assert parse_time("2024-01-01T00:00:00") == 1_704_067_200_000_000
    assert parse_time("2024-01-01T01:00:00+01:00") == 1_704_067_200_000_000
    assert parse_time("1704067200000000") == 1_704_067_200_000_000
    assert minute_range(T0 + 5, T0 + MINUTE_US + 1) == (T0, T0 + 2 * MINUTE_US)


@pytest.mark.parametrize(("argv", "message"), [
    (["candles", "--from", "2024-01-02", "--to", "2024-01-01"], "must be after --from"),
    (["candles", "--from", "yesterday", "--to", "2024-01-01"], "neither"),
    (["hedges", "--from", "2024-01-01", "--to", "2024-01-02", "--symbol", "SOL"], "do not apply"),
    (["leaderboard", "--from", "2024-01-01", "--to", "2024-01-02", "--exchange", "okx"], "do not apply"),
    (["candels", "--from", "2024-01-01", "--to", "2024-01-02"], "unknown name"),
])
def test_a_bad_range_or_name_is_a_clear_error(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    assert message in capsys.readouterr().err
