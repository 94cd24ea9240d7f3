"""Trade storage on the real PostgreSQL: COPY + merge, idempotent, and numbers that
binary COPY would mangle refused before they reach it."""
from __future__ import annotations

from decimal import Decimal

import asyncpg
import pytest

from services.processor.store import TRADES, EventStore, RefusedValue, checked
from shared.events import Trade


def trade(n: int, price: str = "65000.10", size: str = "0.002", ts: int | None = None) -> Trade:
    return Trade(exchange="binance", symbol="BTC-USDT-PERP", raw_symbol="BTCUSDT", trade_id=str(n),
                 price=Decimal(price), size=Decimal(size), side="buy" if n % 2 else "sell",
                 ts=ts if ts is not None else 1_763_000_000_000_000 + n, recv_ts=1_763_000_000_100_000 + n)


async def test_storing_twice_changes_nothing(pool: asyncpg.Pool) -> None:
    store = EventStore(pool, {Trade: TRADES})
    batch = [trade(n) for n in range(500)]
    await store(batch)
    await store(batch[100:300])
    assert await pool.fetchval("SELECT count(*) FROM trades") == 500
    row = await pool.fetchrow("SELECT price::text, size::text, side, ts FROM trades WHERE trade_id = '7'")
    stored = (row["price"], row["size"], row["side"], row["ts"])
    assert stored == ("65000.10", "0.002", "buy", 1_763_000_000_000_007)


async def test_exact_decimals_survive_copy(pool: asyncpg.Pool) -> None:
    store = EventStore(pool, {Trade: TRADES})
    values = [
        "0", "0E-8", "1E+5", "-0.00000001", "123.4500", "0.000000000000000000000000000001",
        "99999999999999.99999999",
    ]
    await store([trade(n, price=v) for n, v in enumerate(values)])
    rows = await pool.fetch("SELECT trade_id, price::text FROM trades")
    stored = {r["trade_id"]: Decimal(r["price"]) for r in rows}
    assert [stored[str(n)] for n in range(len(values))] == [Decimal(v) for v in values]


@pytest.mark.parametrize("value", ["1E+131072", "NaN", "Infinity", "-Infinity", "1E-16384", "1E+30"])
def test_numbers_binary_copy_cannot_store_are_refused(value: str) -> None:
    with pytest.raises(RefusedValue):
        checked(Decimal(value), "price")


async def test_asyncpg_binary_copy_zeroes_numbers_past_its_weight(pool: asyncpg.Pool) -> None:
    """Why `checked` exists: asyncpg 0.32 stores 1E+131072 as 0 without an error."""
    async with pool.acquire() as conn:
        await conn.execute("CREATE TEMP TABLE n (v numeric)")
        await conn.copy_records_to_table("n", records=[(Decimal("1E+131072"),)])
        assert await conn.fetchval("SELECT v FROM n") == 0
        with pytest.raises(ValueError):
            await conn.copy_records_to_table("n", records=[(Decimal("1E-16384"),)])
        assert await conn.fetchval("SELECT 1") == 1  # the connection is still usable


async def test_a_refused_value_fails_the_batch_and_stores_nothing(pool: asyncpg.Pool) -> None:
    store = EventStore(pool, {Trade: TRADES})
    with pytest.raises(RefusedValue):
        await store([trade(1), trade(2, price="Infinity")])
    assert await pool.fetchval("SELECT count(*) FROM trades") == 0
