"""Trader tables (shared/migrations/070_traders.sql) as `Table`s, and the named queries the
traders group runs inside its one transaction per batch."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import asyncpg

from services.processor.store import Table, checked
from shared.db import CONNECTION_ERRORS
from shared.events import PositionChange, TraderFill, TraderPosition

# The store is away, or this transaction lost a race with another over the same traders (rows are
# locked in address order, but a row created in the batch is locked before the existing ones): the
# batch is tried again (SinkUnavailable), never dead-lettered.
RETRYABLE: tuple[type[BaseException], ...] = (*CONNECTION_ERRORS, asyncpg.DeadlockDetectedError,
                                              asyncpg.SerializationError)


def change_row(c: PositionChange) -> tuple[object, ...]:
    return (c.account, c.exchange, c.symbol, c.ts, c.change, checked(c.old_size, "old_size"),
            checked(c.new_size, "new_size"), checked(c.price, "price"),
            checked(c.position_value, "position_value"),
            checked(c.unrealized_pnl, "unrealized_pnl"), checked(c.leverage, "leverage"),
            checked(c.liquidation_price, "liquidation_price"), c.liquidated, c.recv_ts)


def fill_row(f: TraderFill) -> tuple[object, ...]:
    return (f.address, f.exchange, f.symbol, f.tid, f.ts, f.order_id, f.side, checked(f.price, "price"),
            checked(f.size, "size"), checked(f.start_position, "start_position"), f.direction,
            checked(f.closed_pnl, "closed_pnl"), checked(f.fee, "fee"), f.fee_asset, f.liquidation, f.recv_ts)


def position_row(address: str, ts: int, p: TraderPosition) -> tuple[object, ...]:
    return (address, p.symbol, checked(p.size, "size"), checked(p.entry_price, "entry_price"),
            checked(p.position_value, "position_value"), checked(p.unrealized_pnl, "unrealized_pnl"),
            checked(p.leverage, "leverage"), checked(p.liquidation_price, "liquidation_price"), ts)


def change_of(row: Mapping[str, Any]) -> PositionChange:
    """A stored change as the event it was published as."""
    return PositionChange(
        account=row["address"], exchange=row["exchange"], symbol=row["symbol"], old_size=row["old_size"],
        new_size=row["new_size"], price=row["entry_price"], change=row["change"],
        position_value=row["position_value"], unrealized_pnl=row["unrealized_pnl"], leverage=row["leverage"],
        liquidation_price=row["liquidation_price"], liquidated=row["liquidated"], ts=row["ts"],
        recv_ts=row["recv_ts"])


def position_of(row: Mapping[str, Any]) -> TraderPosition:
    return TraderPosition(symbol=row["symbol"], size=row["size"], entry_price=row["entry_price"],
                          position_value=row["position_value"], unrealized_pnl=row["unrealized_pnl"],
                          leverage=row["leverage"], liquidation_price=row["liquidation_price"])


POSITION_CHANGES = Table(
    name="position_changes",
    columns=("address", "exchange", "symbol", "ts", "change", "old_size", "new_size", "entry_price",
             "position_value", "unrealized_pnl", "leverage", "liquidation_price", "liquidated", "recv_ts"),
    key=("address", "symbol", "ts"),
    row=change_row,
)
TRADER_FILLS = Table(
    name="trader_fills",
    columns=("address", "exchange", "symbol", "tid", "ts", "order_id", "side", "price", "size",
             "start_position", "direction", "closed_pnl", "fee", "fee_asset", "liquidation", "recv_ts"),
    key=("address", "symbol", "tid", "ts"),
    row=fill_row,
)
POSITION_COLUMNS = ("address", "symbol", "size", "entry_price", "position_value", "unrealized_pnl",
                    "leverage", "liquidation_price", "ts")

# Rows for addresses met first through tracking (the watchlist, a state before any trade): a
# trader row exists before it is locked. $1 addresses, $2 exchanges, $3 times.
ENSURE_TRADERS = """
INSERT INTO traders (address, exchange, first_seen, last_seen)
SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $3::bigint[]) ORDER BY 1
ON CONFLICT (address) DO NOTHING
"""
# Locked in address order, so the batch's writes and any other transaction over these traders
# (discovery, another partition's fills) take turns instead of deadlocking or missing each other.
LOCK_TRADERS = """
SELECT address, tracked_since, last_tracked, watched, watch_min_usd
FROM traders WHERE address = ANY($1::text[]) ORDER BY address FOR UPDATE
"""
STORED_POSITIONS = "SELECT * FROM trader_positions WHERE address = ANY($1::text[])"
# Liquidation fills not yet behind a stored snapshot: candidates to mark the next closes.
RECENT_LIQUIDATIONS = """
SELECT f.address, f.symbol, f.ts FROM trader_fills f JOIN traders t ON t.address = f.address
WHERE f.address = ANY($1::text[]) AND f.liquidation AND f.ts > COALESCE(t.last_tracked, -1)
"""
DROP_POSITIONS = "DELETE FROM trader_positions WHERE address = ANY($1::text[])"
# $1 address, $2 first snapshot of the batch, $3 newest, $4 account value, $5 notional, $6 the
# tracker's word on the fills' coverage (NULL: not read yet, the stored word stays).
TRACKED = """
UPDATE traders t SET tracked_since = COALESCE(t.tracked_since, u.first_ts), last_tracked = u.ts,
                     account_value = u.account_value, notional = u.notional,
                     fills_complete = COALESCE(u.fills_complete, t.fills_complete)
FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::numeric[], $5::numeric[], $6::boolean[])
    AS u(address, first_ts, ts, account_value, notional, fills_complete)
WHERE t.address = u.address
"""
# The changes stored for some (address, snapshot time) pairs: republished on a redelivery.
CHANGES_AT = """
SELECT c.* FROM unnest($1::text[], $2::bigint[]) AS k(address, ts)
JOIN position_changes c ON c.address = k.address AND c.ts = k.ts
ORDER BY c.address, c.ts, c.symbol
"""
# Fills newly stored: the staging rows the merge inserted (returned for liquidation marks).
MERGE_FILLS = TRADER_FILLS.merge_sql + " RETURNING address, symbol, ts, liquidation"
# $1 address, $2 oldest fill, $3 newest fill.
FILLS_COVERAGE = """
UPDATE traders t SET fills_from = LEAST(t.fills_from, u.oldest),
                     fills_until = GREATEST(t.fills_until, u.newest)
FROM unnest($1::text[], $2::bigint[], $3::bigint[]) AS u(address, oldest, newest)
WHERE t.address = u.address
"""
# A liquidation fill that arrives after the snapshots: the first change of that coin at or after
# the fill is the snapshot that saw the position gone; when it is a close, it was a liquidation.
MARK_LIQUIDATED = """
UPDATE position_changes pc SET liquidated = true
FROM (
    SELECT DISTINCT ON (f.address, f.symbol, f.ts) c.address, c.symbol, c.ts, c.change
    FROM unnest($1::text[], $2::text[], $3::bigint[]) AS f(address, symbol, ts)
    JOIN position_changes c ON c.address = f.address AND c.symbol = f.symbol AND c.ts >= f.ts
    ORDER BY f.address, f.symbol, f.ts, c.ts
) nearest
WHERE nearest.change = 'close' AND NOT pc.liquidated
  AND pc.address = nearest.address AND pc.symbol = nearest.symbol AND pc.ts = nearest.ts
RETURNING pc.*
"""
# $1 address, $2 ts, $3 account value, $4 pnl: one row per (address, ts), the newest curve wins.
EQUITY = """
INSERT INTO trader_equity (address, ts, account_value, pnl)
SELECT * FROM unnest($1::text[], $2::bigint[], $3::numeric[], $4::numeric[])
ON CONFLICT (address, ts) DO UPDATE SET account_value = EXCLUDED.account_value, pnl = EXCLUDED.pnl
"""
EQUITY_COVERAGE = """
UPDATE traders t SET equity_until = GREATEST(t.equity_until, u.newest)
FROM unnest($1::text[], $2::bigint[]) AS u(address, newest)
WHERE t.address = u.address
"""
