"""Tracked traders' fills (userFillsByTime) and equity curves (portfolio) stored inside the batch's
transaction, idempotently: a fill by its identity (address, symbol, tid, ts), an equity point by
(address, ts) with the newest curve's values. The traders row records the coverage: fills_from,
fills_until and equity_until (fills_complete is the tracker's to report: docs/traders.md).

A liquidation fill stored after the snapshots that saw its position gone marks that close as
liquidated (MARK_LIQUIDATED); the marked changes are published again."""
from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from services.processor.store import checked
from services.processor.tables_traders import (
    EQUITY,
    EQUITY_COVERAGE,
    FILLS_COVERAGE,
    MARK_LIQUIDATED,
    MERGE_FILLS,
    TRADER_FILLS,
    change_of,
)
from shared import metrics
from shared.events import PositionChange, TraderEquity, TraderFill

LiquidationFill = tuple[str, str, int]  # (address, symbol, ts)


async def store_fills(conn: asyncpg.Connection, fills: Sequence[TraderFill]) -> list[LiquidationFill]:
    """Store the fills not stored yet; widen each trader's fill coverage. Returns the liquidation
    fills stored now (a redelivered one is not news)."""
    unique = {(f.address, f.symbol, f.tid, f.ts): f for f in fills}
    if not unique:
        return []
    await conn.execute(TRADER_FILLS.stage_sql)
    await conn.copy_records_to_table(f"{TRADER_FILLS.name}_stage", columns=TRADER_FILLS.columns,
                                     records=[TRADER_FILLS.row(f) for f in unique.values()])
    inserted = await conn.fetch(MERGE_FILLS)
    metrics.EVENTS_STORED.labels(TRADER_FILLS.name).inc(len(inserted))
    span: dict[str, tuple[int, int]] = {}
    for fill in unique.values():
        oldest, newest = span.get(fill.address, (fill.ts, fill.ts))
        span[fill.address] = (min(oldest, fill.ts), max(newest, fill.ts))
    addresses = sorted(span)
    await conn.execute(FILLS_COVERAGE, addresses, [span[a][0] for a in addresses],
                       [span[a][1] for a in addresses])
    return [(row["address"], row["symbol"], row["ts"]) for row in inserted if row["liquidation"]]


async def mark_liquidations(conn: asyncpg.Connection,
                            fills: Sequence[LiquidationFill]) -> list[PositionChange]:
    """Closes newly known to be liquidations: the first change of the fill's coin at or after the
    fill, when it is a close not marked yet. Run after the batch's snapshots are applied."""
    if not fills:
        return []
    rows = await conn.fetch(MARK_LIQUIDATED, [f[0] for f in fills], [f[1] for f in fills],
                            [f[2] for f in fills])
    return [change_of(row) for row in rows]


async def store_equity(conn: asyncpg.Connection, curves: Sequence[TraderEquity]) -> None:
    """Every point of the curves, the later curve winning a point both hold; equity_until widened."""
    points = {(curve.address, point.ts): point for curve in curves for point in curve.points}
    if not points:
        return
    keys = list(points)
    await conn.execute(EQUITY, [a for a, _ in keys], [ts for _, ts in keys],
                       [checked(points[k].account_value, "account_value") for k in keys],
                       [checked(points[k].pnl, "pnl") for k in keys])
    newest: dict[str, int] = {}
    for address, ts in keys:
        newest[address] = max(ts, newest.get(address, ts))
    addresses = sorted(newest)
    await conn.execute(EQUITY_COVERAGE, addresses, [newest[a] for a in addresses])
    metrics.EVENTS_STORED.labels("trader_equity").inc(len(keys))
