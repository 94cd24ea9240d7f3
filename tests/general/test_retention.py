"""Retention on the real PostgreSQL: daily trade partitions older than N days are dropped, newer
ones kept; 1m candles past M days are rolled up into hourly candles before they go."""
from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import asyncpg
import pytest

from services.general.retention import HOUR_US, apply_retention, expired_partitions
from shared.config import Settings
from shared.db import day_start_us, ensure_daily_partitions

MINUTE_US = 60_000_000
# candles comes from migration 020 (the processor's): identity (exchange, symbol, interval, source, ts)
INSERT_CANDLE = """
INSERT INTO candles (exchange, symbol, raw_symbol, interval, ts, recv_ts, open, high, low, close, volume,
                     trades, buy_volume, source, closed)
VALUES ('binance', 'BTC-USDT', 'BTCUSDT', $1, $2, $2, $3, $4, $5, $6, $7, $8, $9, $10, true)
"""


def _day_us(day: date) -> int:
    return day_start_us(datetime(day.year, day.month, day.day, tzinfo=UTC))


def test_expired_partitions_are_the_days_before_the_cutoff() -> None:
    names = ["trades_default", "trades_p20240101", "trades_p20240102", "trades_p20240103", "trades_pbad"]
    assert expired_partitions(names, date(2024, 1, 2)) == ["trades_p20240101"]


async def test_old_trade_partitions_dropped_newer_kept(
        pool: asyncpg.Pool, make_settings: Callable[..., Settings], tag: str) -> None:
    today = datetime.now(UTC).date()
    async with pool.acquire() as conn:
        await ensure_daily_partitions(conn, "trades", days_back=10, days_ahead=1)
        for back in range(-1, 11):
            ts = _day_us(today - timedelta(days=back)) + 5
            await conn.execute(
                "INSERT INTO trades (exchange, symbol, trade_id, raw_symbol, price, size, side, ts, recv_ts) "
                "VALUES ('binance', 'BTC-USDT', $1, 'BTCUSDT', 1, 1, 'buy', $2, $2)", f"t{back}", ts)
        stray = _day_us(today - timedelta(days=40))  # no partition that far back: trades_default holds it
        await conn.execute(
            "INSERT INTO trades (exchange, symbol, trade_id, raw_symbol, price, size, side, ts, recv_ts) "
            "VALUES ('binance', 'BTC-USDT', 'stray', 'BTCUSDT', 1, 1, 'buy', $1, $1)", stray)
        lines: list[str] = []
        report = await apply_retention(conn, make_settings(retention_trades_days=3), progress=lines.append)
        names = {r["relname"] for r in await conn.fetch(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind = 'r'", tag)}
        left = await conn.fetch("SELECT trade_id FROM trades ORDER BY ts")
    # the pool fixture made partitions 3 days ahead too
    kept_days = {f"trades_p{today - timedelta(days=back):%Y%m%d}" for back in range(-3, 4)}
    dropped = {f"trades_p{today - timedelta(days=back):%Y%m%d}" for back in range(4, 11)}
    assert names == kept_days | {"trades_default"}
    assert set(report.dropped_partitions) == dropped
    assert [r["trade_id"] for r in left] == ["t3", "t2", "t1", "t0", "t-1"]
    assert report.default_rows_deleted == 1
    assert sum(line.startswith("trades: dropped") for line in lines) == 7  # one progress line each
    assert "(7/7" in lines[6]


async def test_candles_rolled_up_before_1m_deleted(
        pool: asyncpg.Pool, make_settings: Callable[..., Settings]) -> None:
    today = datetime.now(UTC).date()
    old_day = _day_us(today - timedelta(days=10))
    recent = _day_us(today - timedelta(days=1))
    async with pool.acquire() as conn:
        # two old hours of 1m candles: the first already has an exchange 1h candle, the second none
        for minute in range(60):
            ts = old_day + minute * MINUTE_US
            await conn.execute(INSERT_CANDLE, "1m", ts, Decimal(100 + minute), Decimal(101 + minute),
                               Decimal(99 + minute), Decimal(100.5 + minute), Decimal(1), 3, Decimal("0.5"),
                               "exchange")
        for minute in range(30):  # half an hour only (a gap): rolled up as it is
            ts = old_day + HOUR_US + minute * MINUTE_US
            await conn.execute(INSERT_CANDLE, "1m", ts, Decimal(200 + minute), Decimal(210),
                               Decimal(190 - minute), Decimal(205 + minute), Decimal(2), 1, Decimal(1),
                               "exchange")
        await conn.execute(INSERT_CANDLE, "1h", old_day, Decimal(1), Decimal(2), Decimal(0), Decimal(1),
                           Decimal(7), 7, Decimal(7), "exchange")
        for minute in range(5):  # recent 1m candles stay
            await conn.execute(INSERT_CANDLE, "1m", recent + minute * MINUTE_US, Decimal(1), Decimal(1),
                               Decimal(1), Decimal(1), Decimal(1), 1, Decimal(1), "exchange")
        lines: list[str] = []
        settings = make_settings(retention_candles_1m_days=7)
        report = await apply_retention(conn, settings, progress=lines.append)
        rows = await conn.fetch("SELECT interval, ts, open, high, low, close, volume, trades, buy_volume, "
                                "source FROM candles WHERE interval = '1h' ORDER BY ts")
        left_1m = await conn.fetchval("SELECT count(*) FROM candles WHERE interval = '1m'")
    assert report.candles_deleted == 90 and report.hours_rolled_up == 1
    assert left_1m == 5
    first, second = rows
    assert (first["volume"], first["trades"]) == (Decimal(7), 7)  # the existing hourly candle untouched
    assert second["ts"] == old_day + HOUR_US and second["source"] == "exchange"
    assert (second["open"], second["close"]) == (Decimal(200), Decimal(234))
    assert (second["high"], second["low"]) == (Decimal(210), Decimal(161))
    assert (second["volume"], second["trades"], second["buy_volume"]) == (Decimal(60), 30, Decimal(30))
    assert any("rolled up 1 hourly, deleted 90 1m" in line for line in lines)


async def test_1m_candles_without_an_hourly_candle_are_kept(
        pool: asyncpg.Pool, make_settings: Callable[..., Settings]) -> None:
    """A candles table that cannot take a rollup (an unknown NOT NULL column) keeps its 1m history."""
    old_day = _day_us(datetime.now(UTC).date() - timedelta(days=10))
    async with pool.acquire() as conn:
        await conn.execute("ALTER TABLE candles ADD COLUMN vwap numeric NOT NULL DEFAULT 0")
        await conn.execute("ALTER TABLE candles ALTER COLUMN vwap DROP DEFAULT")
        insert = INSERT_CANDLE.replace("closed)", "closed, vwap)").replace("true)", "true, 1)")
        one = Decimal(1)
        await conn.execute(insert, "1m", old_day, one, one, one, one, one, 1, one, "exchange")
        with pytest.raises(asyncpg.NotNullViolationError):
            await apply_retention(conn, make_settings(retention_candles_1m_days=7), progress=lambda _: None)
        assert await conn.fetchval("SELECT count(*) FROM candles WHERE interval = '1m'") == 1


async def test_no_candles_table_is_fine(pool: asyncpg.Pool, make_settings: Callable[..., Settings]) -> None:
    lines: list[str] = []
    async with pool.acquire() as conn:
        await conn.execute("DROP TABLE candles")  # as before migration 020
        await apply_retention(conn, make_settings(), progress=lines.append)
    assert "candles: no candles table yet, nothing to downsample" in lines
