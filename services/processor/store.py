"""Storing events in PostgreSQL: COPY into a per-connection staging table, then one
INSERT ... ON CONFLICT DO NOTHING, so a redelivered event changes nothing.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from decimal import Decimal

import asyncpg

from shared import metrics
from shared.breaker import SinkUnavailable
from shared.db import CONNECTION_ERRORS
from shared.events import Event, Trade

# asyncpg's binary COPY encodes NUMERIC with a 16-bit weight and scale: a Decimal of
# 1E+131072 or more is silently stored as 0, one with more than 16383 fractional
# digits raises mid-COPY, and Infinity/NaN are sent with sign codes that PostgreSQL
# before 14 rejects ("invalid sign in external numeric value"). No price or size is
# ever near these bounds, so anything outside them is refused before COPY.
NUMERIC_MAX = Decimal("1E+30")
NUMERIC_MIN_EXPONENT = -30


class RefusedValue(ValueError):
    """An event value PostgreSQL would mangle or refuse: the event goes to the DLQ."""


def checked(value: Decimal | None, what: str) -> Decimal | None:
    """Refuse non-finite, huge or absurdly precise numbers before they reach COPY."""
    if value is None:
        return None
    if not value.is_finite() or abs(value) >= NUMERIC_MAX or value.as_tuple().exponent < NUMERIC_MIN_EXPONENT:  # type: ignore[operator]
        raise RefusedValue(f"{what} cannot be stored as NUMERIC: {value}")
    return value


TRADE_COLUMNS = ("exchange", "symbol", "trade_id", "raw_symbol", "price", "size", "side",
                 "raw_size", "buyer", "seller", "ts", "recv_ts")
STAGE_TRADES = "CREATE TEMP TABLE IF NOT EXISTS trades_stage (LIKE trades INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
MERGE_TRADES = (
    "INSERT INTO trades SELECT * FROM trades_stage ON CONFLICT (exchange, symbol, trade_id, ts) DO NOTHING"
)


def trade_row(t: Trade) -> tuple[object, ...]:
    return (t.exchange, t.symbol, t.trade_id, t.raw_symbol, checked(t.price, "price"), checked(t.size, "size"),
            t.side, checked(t.raw_size, "raw_size"), t.buyer, t.seller, t.ts, t.recv_ts)


class TradeStore:
    """The sink of th:trades: one transaction per batch."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def __call__(self, events: Sequence[Event]) -> None:
        rows = [trade_row(e) for e in events if isinstance(e, Trade)]
        if not rows:
            return
        started = time.perf_counter()
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                await conn.execute(STAGE_TRADES)
                await conn.copy_records_to_table("trades_stage", records=rows, columns=TRADE_COLUMNS)
                await conn.execute(MERGE_TRADES)
        except CONNECTION_ERRORS as exc:
            raise SinkUnavailable(repr(exc)) from exc
        metrics.EVENTS_STORED.labels("trades").inc(len(rows))
        metrics.STORE_SECONDS.labels("trades").observe(time.perf_counter() - started)
