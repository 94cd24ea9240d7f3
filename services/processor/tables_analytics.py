"""Analytics tables (shared/migrations/020_analytics.sql) as `Table`s, and the named queries
the analytics sinks run inside their own transactions."""
from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from services.processor.store import E, Table, checked
from shared import metrics
from shared.events import Candle, LargeTrade, Liquidation, Spike


def candle_row(c: Candle) -> tuple[object, ...]:
    return (c.exchange, c.symbol, c.interval, c.source, c.ts, c.raw_symbol, checked(c.open, "open"),
            checked(c.high, "high"), checked(c.low, "low"), checked(c.close, "close"),
            checked(c.volume, "volume"), c.trades, checked(c.buy_volume, "buy_volume"), c.closed, c.recv_ts)


def liquidation_row(q: Liquidation) -> tuple[object, ...]:
    return (q.exchange, q.symbol, q.raw_symbol, q.side, checked(q.price, "price"), checked(q.size, "size"),
            checked(q.usd_value, "usd_value"), checked(q.raw_size, "raw_size"), q.ts, q.recv_ts)


def large_trade_row(t: LargeTrade) -> tuple[object, ...]:
    return (t.exchange, t.symbol, t.trade_id, checked(t.price, "price"), checked(t.size, "size"), t.side,
            checked(t.usd_value, "usd_value"), checked(t.threshold, "threshold"), t.ts, t.recv_ts)


def spike_row(s: Spike) -> tuple[object, ...]:
    return (s.exchange, s.symbol, s.metric, s.interval, s.ts, checked(s.value, "value"),
            checked(s.mean, "mean"), checked(s.stdev, "stdev"), checked(s.z, "z"),
            checked(s.threshold, "threshold"), s.recv_ts)


CANDLE_VALUES = (
    "raw_symbol", "open", "high", "low", "close", "volume", "trades", "buy_volume", "closed", "recv_ts",
)
CANDLES = Table(
    name="candles",
    columns=("exchange", "symbol", "interval", "source", "ts") + CANDLE_VALUES,
    key=("exchange", "symbol", "interval", "source", "ts"),
    row=candle_row,
    update=CANDLE_VALUES,  # a candle changes while it is open, and when a late trade arrives
)
LIQUIDATIONS = Table(
    name="liquidations",
    columns=("exchange", "symbol", "raw_symbol", "side", "price", "size", "usd_value", "raw_size", "ts",
             "recv_ts"),
    key=("exchange", "symbol", "ts", "side", "price", "size"),
    row=liquidation_row,
)
LARGE_TRADES = Table(
    name="large_trades",
    columns=("exchange", "symbol", "trade_id", "price", "size", "side", "usd_value", "threshold", "ts",
             "recv_ts"),
    key=("exchange", "symbol", "trade_id", "ts"),
    row=large_trade_row,
)
SPIKES = Table(
    name="spikes",
    columns=("exchange", "symbol", "metric", "interval", "ts", "value", "mean", "stdev", "z", "threshold",
             "recv_ts"),
    key=("exchange", "symbol", "metric", "interval", "ts"),
    row=spike_row,
)

# The stored trades of some minutes, (exchange, symbol, minute open) given as three arrays:
# folded into a "cold" 1m bar so that it counts trades seen before a restart too.
SEED_TRADES = """
SELECT t.exchange, t.symbol, t.raw_symbol, t.trade_id, t.price, t.size, t.side, t.ts, t.recv_ts
FROM unnest($1::text[], $2::text[], $3::bigint[]) AS k(exchange, symbol, start)
JOIN trades t ON t.exchange = k.exchange AND t.symbol = k.symbol
               AND t.ts >= k.start AND t.ts < k.start + 60000000
"""

# The derived bars of interval $4 inside some buckets of length $5, to roll them up.
FINER_BARS = """
SELECT c.exchange, c.symbol, c.raw_symbol, c.interval, c.ts, c.open, c.high, c.low, c.close, c.volume,
       c.trades, c.buy_volume, c.closed, c.recv_ts
FROM unnest($1::text[], $2::text[], $3::bigint[]) AS k(exchange, symbol, start)
JOIN candles c ON c.exchange = k.exchange AND c.symbol = k.symbol AND c.interval = $4 AND c.source = 'derived'
              AND c.ts >= k.start AND c.ts < k.start + $5::bigint
"""

# The last $5 derived bar volumes of one key before $4, newest first: a spike window after a restart.
RECENT_VOLUMES = """
SELECT ts, volume FROM candles
WHERE exchange = $1 AND symbol = $2 AND interval = $3 AND source = 'derived' AND ts < $4
ORDER BY ts DESC
LIMIT $5
"""


async def merge(conn: asyncpg.Connection, table: Table[E], events: Sequence[E]) -> None:
    """COPY into the staging table and merge, inside the caller's transaction."""
    if not events:
        return
    records = [table.row(event) for event in events]
    await conn.execute(table.stage_sql)
    await conn.copy_records_to_table(f"{table.name}_stage", records=records, columns=table.columns)
    await conn.execute(table.merge_sql)
    metrics.EVENTS_STORED.labels(table.name).inc(len(records))
