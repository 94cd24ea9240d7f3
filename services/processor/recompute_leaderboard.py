"""`recompute leaderboard`: rank each stored leaderboard snapshot of a range again, from the trader
data stored now (e.g. after fills were backfilled), by the live job's own code (leaderboard.py).

A snapshot at time T is ranked over the traders tracked by T, from their fills and equity points up
to T, and the state (account value, open notional) each row was ranked with: the traders table keeps
only the newest state, so the live job stores it beside the row (migration 095). A trader without a
stored state at T (not ranked then) has none: no risk ratio, and ROI from its curve alone. A row
stored before states were kept keeps the risk ratio it holds. The snapshot's rows are replaced in one
transaction, so a second run changes nothing; no snapshot time is invented.
"""
from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import replace
from decimal import Decimal
from typing import TextIO

import asyncpg

from services.processor.leaderboard import INSERT_SQL, State, load_metrics, load_traders, snapshot_row
from services.processor.leaderboard_metrics import TraderMetrics, TraderRow
from services.processor.leaderboard_rank import Minimums, rank
from services.processor.recompute import ProgressBar, Scope

SNAPSHOTS_SQL = "SELECT DISTINCT ts FROM leaderboard WHERE ts >= $1 AND ts < $2 ORDER BY ts"
ROWS_SQL = "SELECT address, account_value, notional, risk_ratio FROM leaderboard WHERE ts = $1"
DELETE_SQL = "DELETE FROM leaderboard WHERE ts = $1"


def at_the_time(traders: list[TraderRow], states: Mapping[str, State]) -> list[TraderRow]:
    """The traders with the state each was ranked with (none when it was not ranked)."""
    return [replace(t, account_value=states.get(t.address, (None, None))[0],
                    notional=states.get(t.address, (None, None))[1]) for t in traders]


def keep_risk(metrics: list[TraderMetrics], stored: Mapping[str, Decimal | None]) -> list[TraderMetrics]:
    """A row stored before its state was kept: its risk ratio as stored."""
    return [replace(m, risk_ratio=stored[m.address]) if m.address in stored else m for m in metrics]


async def rerank(conn: asyncpg.Connection, ts: int, weights: Mapping[str, Decimal],
                 minimums: Minimums) -> int:
    """Replace the snapshot at `ts` by its ranking from the data stored now; returns its rows."""
    async with conn.transaction():
        rows = await conn.fetch(ROWS_SQL, ts)
        states: dict[str, State] = {r["address"]: (r["account_value"], r["notional"]) for r in rows}
        legacy = {r["address"]: r["risk_ratio"] for r in rows if r["account_value"] is None}
        traders = at_the_time(await load_traders(conn, ts), states)
        ranked = rank(keep_risk(await load_metrics(conn, ts, traders, until=ts), legacy), weights, minimums)
        await conn.execute(DELETE_SQL, ts)
        await conn.executemany(INSERT_SQL, [snapshot_row(ts, r, states) for r in ranked])
    return len(ranked)


async def recompute_leaderboard(pool: asyncpg.Pool, scope: Scope, weights: Mapping[str, Decimal],
                                minimums: Minimums, stream: TextIO = sys.stderr) -> int:
    """Rank every snapshot of the range again; returns the rows written."""
    written = 0
    async with pool.acquire() as conn:
        times = [row["ts"] for row in await conn.fetch(SNAPSHOTS_SQL, scope.start, scope.end)]
        bar = ProgressBar("leaderboard", len(times), "snapshots", stream)
        for ts in times:
            written += await rerank(conn, ts, weights, minimums)
            bar.advance()
        bar.finish()
    return written
