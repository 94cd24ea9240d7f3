"""Migration 060 on the real PostgreSQL: a schema at the version before it, holding rows stored the old
way (Binance spot as exchange binance_spot, spot sockets' gaps as binance_spot / bybit_spot), reads
back with every exchange named by its venue, without a key violation and without a row lost."""
from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from shared.db import MIGRATIONS, migrate
from tests.conftest import DATABASE_URL

RENAME = "060_spot_rows_name_their_venue.sql"
TS = 1_700_000_000_000_000
TABLES = ["trades", "candles", "spot_prices", "large_trades", "spikes", "funding_rates", "open_interest",
          "liquidations", "gaps"]

OLD_ROWS = [
    # Binance spot trades; trade 7 was stored under both names (an older receivers beside a newer one)
    "INSERT INTO trades (exchange, symbol, trade_id, raw_symbol, price, size, side, ts, recv_ts) VALUES "
    f"('binance_spot', 'BTC-USDT', '7', 'BTCUSDT', 100.5, 0.1, 'buy', {TS}, {TS}),"
    f"('binance_spot', 'BTC-USDT', '8', 'BTCUSDT', 100.6, 0.2, 'sell', {TS + 1}, {TS + 1}),"
    f"('binance', 'BTC-USDT', '7', 'BTCUSDT', 100.5, 0.1, 'buy', {TS}, {TS}),"
    # the perpetual's trade of the same id and time: another symbol, untouched
    f"('binance', 'BTC-USDT-PERP', '7', 'BTCUSDT', 100.4, 3, 'buy', {TS}, {TS}),"
    f"('bybit', 'BTC-USDT', '7', 'BTCUSDT', 100.7, 1, 'sell', {TS}, {TS})",
    "INSERT INTO candles (exchange, symbol, interval, source, ts, raw_symbol, open, high, low, close, volume,"
    " closed, recv_ts) VALUES "
    f"('binance_spot', 'BTC-USDT', '1m', 'derived', {TS}, 'BTCUSDT', 1, 2, 1, 2, 5, true, {TS}),"
    f"('binance_spot', 'BTC-USDT', '1h', 'derived', {TS}, 'BTCUSDT', 1, 2, 1, 2, 5, true, {TS}),"
    f"('binance', 'BTC-USDT-PERP', '1m', 'exchange', {TS}, 'BTCUSDT', 1, 2, 1, 2, 9, true, {TS})",
    "INSERT INTO spot_prices (source, exchange, symbol, ts, raw_symbol, price, recv_ts) VALUES "
    f"('exchange', 'binance_spot', 'BTC-USDT', {TS}, 'BTCUSDT', 100.5, {TS}),"
    f"('oracle', 'pyth', 'BTC-USD', {TS}, 'e62df6', 100.1, {TS})",
    "INSERT INTO large_trades (exchange, symbol, trade_id, price, size, side, usd_value, threshold, ts,"
    f" recv_ts) VALUES ('binance_spot', 'BTC-USDT', '9', 100, 2000, 'buy', 200000, 100000, {TS}, {TS})",
    "INSERT INTO spikes (exchange, symbol, metric, interval, ts, value, mean, stdev, z, threshold, recv_ts)"
    f" VALUES ('binance_spot', 'BTC-USDT', 'volume', '1m', {TS}, 50, 5, 2, 22.5, 4, {TS})",
    "INSERT INTO funding_rates (exchange, symbol, ts, raw_symbol, rate, interval_hours, annualized, recv_ts)"
    f" VALUES ('binance', 'BTC-USDT-PERP', {TS}, 'BTCUSDT', 0.0001, 8, 0.1095, {TS})",
    "INSERT INTO open_interest (exchange, symbol, ts, raw_symbol, contracts, recv_ts)"
    f" VALUES ('binance', 'BTC-USDT-PERP', {TS}, 'BTCUSDT', 10, {TS})",
    "INSERT INTO liquidations (exchange, symbol, raw_symbol, side, price, size, usd_value, ts, recv_ts)"
    f" VALUES ('binance', 'BTC-USDT-PERP', 'BTCUSDT', 'sell', 100, 1, 100, {TS}, {TS})",
    "INSERT INTO gaps (feed, exchange, from_ts, to_ts, reason, recv_ts) VALUES "
    f"('binance_spot:0', 'binance_spot', {TS}, {TS + 5}, 'idle', {TS + 5}),"
    f"('bybit_spot:0', 'bybit_spot', {TS}, {TS + 5}, 'closed', {TS + 5}),"
    f"('binance:0', 'binance', {TS}, {TS + 5}, 'closed', {TS + 5})",
]


@pytest.fixture
async def before_rename(tag: str) -> AsyncIterator[asyncpg.Connection]:
    """A schema migrated up to the migration before the rename, as a database of that version was."""
    conn = await asyncpg.connect(DATABASE_URL)
    try:
        await conn.execute(f'CREATE SCHEMA "{tag}"')
        await conn.execute(f'SET search_path TO "{tag}"')
        await conn.execute("CREATE TABLE schema_migrations (name text PRIMARY KEY, "
                           "applied_at timestamptz NOT NULL DEFAULT now())")
        for path in sorted(MIGRATIONS.glob("*.sql")):
            if path.name >= RENAME:
                break
            await conn.execute(path.read_text())
            await conn.execute("INSERT INTO schema_migrations (name) VALUES ($1)", path.name)
        yield conn
    finally:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{tag}" CASCADE')
        await conn.close()


async def exchanges(conn: asyncpg.Connection) -> dict[str, list[tuple[str, ...]]]:
    """Every table's rows as (exchange, symbol or feed, ...) sorted, to compare before and after."""
    keys = {"trades": "exchange, symbol, trade_id", "candles": "exchange, symbol, interval, source",
            "spot_prices": "exchange, symbol, source", "gaps": "exchange, feed"}
    found = {}
    for table in TABLES:
        # table and column names are this test's own constants
        rows = await conn.fetch(f"SELECT {keys.get(table, 'exchange, symbol')} FROM {table}")
        found[table] = sorted(tuple(row.values()) for row in rows)
    return found


async def test_rows_stored_as_binance_spot_read_back_as_binance(
    before_rename: asyncpg.Connection, tag: str
) -> None:
    conn = before_rename
    for statement in OLD_ROWS:
        await conn.execute(statement)
    applied = await migrate(conn, tag)
    assert applied[0] == RENAME
    after = await exchanges(conn)
    assert after == {
        "trades": [("binance", "BTC-USDT", "7"), ("binance", "BTC-USDT", "8"),
                   ("binance", "BTC-USDT-PERP", "7"), ("bybit", "BTC-USDT", "7")],
        "candles": [("binance", "BTC-USDT", "1h", "derived"), ("binance", "BTC-USDT", "1m", "derived"),
                    ("binance", "BTC-USDT-PERP", "1m", "exchange")],
        "spot_prices": [("binance", "BTC-USDT", "exchange"), ("pyth", "BTC-USD", "oracle")],
        "large_trades": [("binance", "BTC-USDT")],
        "spikes": [("binance", "BTC-USDT")],
        "funding_rates": [("binance", "BTC-USDT-PERP")],
        "open_interest": [("binance", "BTC-USDT-PERP")],
        "liquidations": [("binance", "BTC-USDT-PERP")],
        "gaps": [("binance", "binance:0"), ("binance", "binance_spot:0"), ("bybit", "bybit_spot:0")],
    }
    kept = await conn.fetchrow("SELECT price, size, side FROM trades WHERE exchange = 'binance' "
                               "AND symbol = 'BTC-USDT' AND trade_id = '8'")
    assert kept is not None
    assert (str(kept["price"]), str(kept["size"]), kept["side"]) == ("100.6", "0.2", "sell")
    # run again, as after a processor stored older entries past it: those move, nothing else changes
    await conn.execute(
        "INSERT INTO trades (exchange, symbol, trade_id, raw_symbol, price, size, side, ts, recv_ts) VALUES "
        f"('binance_spot', 'BTC-USDT', '10', 'BTCUSDT', 101, 1, 'buy', {TS + 2}, {TS + 2})"
    )
    await conn.execute((MIGRATIONS / RENAME).read_text())
    again = await exchanges(conn)
    assert again["trades"] == sorted([*after["trades"], ("binance", "BTC-USDT", "10")])
    assert {table: rows for table, rows in again.items() if table != "trades"} == {
        table: rows for table, rows in after.items() if table != "trades"
    }
