"""The leaderboard job: every `traders_leaderboard_interval_s`, rank the tracked traders and store the
ranking as one snapshot (one `leaderboard` row per ranked trader, all with the same ts), so a
trader's rank over time can be shown. Metrics: leaderboard_metrics.py; ranking: leaderboard_rank.py.

A PostgreSQL outage fails a run, which is logged and tried again at the next interval; it never
stops the processor. Several processors rank at most once per half interval between them (an
advisory lock and the newest snapshot's time, checked in the snapshot's own transaction).
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

import asyncpg

from services.processor.leaderboard_metrics import (
    CLOSE_PREFIX,
    FLIP_DIRECTIONS,
    EquityFigures,
    EquityFold,
    FillTotals,
    TraderMetrics,
    TraderRow,
    trader_metrics,
)
from services.processor.leaderboard_rank import Minimums, Ranked, rank, score_weights
from shared.backoff import sleep_or_stop, until_stopped
from shared.config import Settings
from shared.db import DB_ERRORS
from shared.events import EquityPoint

log = logging.getLogger(__name__)
EQUITY_PREFETCH = 5000  # equity rows per cursor round trip

# one lock per schema: processors of different deployments sharing a server never wait on each other
LOCK_SQL = "SELECT pg_advisory_xact_lock(hashtext('tradehub.leaderboard.' || current_schema()))"
NEWEST_SQL = "SELECT max(ts) FROM leaderboard"
# $1: the time of a past snapshot being ranked again (recompute), NULL: now, everything stored
TRADERS_SQL = """
SELECT address, first_seen, tracked_since, account_value, notional, fills_complete
FROM traders WHERE tracked_since IS NOT NULL AND ($1::bigint IS NULL OR tracked_since <= $1)
"""
# The fills summed as leaderboard_metrics.fill_totals sums them ($1: the closing prefix, $2: flips,
# $3: only up to this time, NULL: all).
FILL_TOTALS_SQL = """
SELECT address, min(ts) AS first_ts, sum(price * abs(size)) AS volume,
       coalesce(sum(closed_pnl - fee) FILTER (WHERE closing), 0) AS realized_pnl,
       count(*) FILTER (WHERE closing) AS closed_trades,
       count(*) FILTER (WHERE closing AND closed_pnl > 0) AS winning_trades
FROM (SELECT address, ts, price, size, closed_pnl, fee,
             starts_with(direction, $1) OR direction = ANY($2::text[]) OR liquidation AS closing
      FROM trader_fills WHERE $3::bigint IS NULL OR ts <= $3) AS fills
GROUP BY address
"""
EQUITY_SQL = """
SELECT address, ts, account_value, pnl FROM trader_equity WHERE $1::bigint IS NULL OR ts <= $1
ORDER BY address, ts
"""
INSERT_SQL = """
INSERT INTO leaderboard (ts, address, rank, score, age_days, volume, realized_pnl, roi, win_rate,
                         risk_ratio, max_drawdown, sharpe, closed_trades, tracked_since, fills_complete,
                         account_value, notional)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
"""
State = tuple[Decimal | None, Decimal | None]  # (account value, open notional) a trader was ranked with


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What one run did: the traders it looked at and the ones it ranked (and stored)."""

    ts: int
    tracked: int
    ranked: list[Ranked]


def now_us() -> int:
    return time.time_ns() // 1000


async def run_leaderboard(settings: Settings, pool: asyncpg.Pool, stop: asyncio.Event) -> None:
    """Rank at once, then every interval, until stopped. Bad weight names fail here, at start."""
    config = settings.traders
    weights = score_weights(config.weights)
    minimums = Minimums.of(config)
    interval = config.leaderboard_interval_s
    failing = False
    delay = 0.0
    while not await sleep_or_stop(stop, delay):
        delay = interval
        started = time.monotonic()
        try:
            snapshot = await until_stopped(store_snapshot(pool, weights, minimums, interval, now_us()), stop)
        except DB_ERRORS as exc:
            log.warning("leaderboard run failed, retrying next interval",
                        extra={"error": repr(exc), "retry_in_s": interval})
            failing = True
            continue
        if failing:
            log.info("leaderboard run succeeded again")
        failing = False
        if snapshot is not None:
            log.info("leaderboard ranked", extra={
                "snapshot_ts": snapshot.ts, "tracked": snapshot.tracked, "ranked": len(snapshot.ranked),
                "took_s": round(time.monotonic() - started, 3)})


async def store_snapshot(pool: asyncpg.Pool, weights: Mapping[str, Decimal], minimums: Minimums,
                         interval_s: float, now: int) -> Snapshot | None:
    """Rank and store in one transaction; None when a snapshot newer than half an interval exists
    (another processor ranked, or this one just restarted)."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(LOCK_SQL)
        newest = await conn.fetchval(NEWEST_SQL)
        if newest is not None and now - newest < interval_s * 1_000_000 / 2:
            log.info("leaderboard ranked recently, skipped", extra={"newest_ts": newest})
            return None
        traders = await load_traders(conn)
        candidates = await load_metrics(conn, now, traders)
        ranked = rank(candidates, weights, minimums)
        states = {t.address: (t.account_value, t.notional) for t in traders}
        await conn.executemany(INSERT_SQL, [snapshot_row(now, r, states) for r in ranked])
    return Snapshot(now, len(candidates), ranked)


async def load_traders(conn: asyncpg.Connection, until: int | None = None) -> list[TraderRow]:
    """The tracked traders (by `until`, when given), with their newest state."""
    return [TraderRow(r["address"], r["first_seen"], r["tracked_since"], r["account_value"], r["notional"],
                      r["fills_complete"]) for r in await conn.fetch(TRADERS_SQL, until)]


async def load_metrics(conn: asyncpg.Connection, now: int, traders: list[TraderRow],
                       until: int | None = None) -> list[TraderMetrics]:
    """The traders' metrics at `now`, from their fills and equity points (up to `until`, when given)."""
    fills = {r["address"]: FillTotals(r["first_ts"], r["volume"], r["realized_pnl"], r["closed_trades"],
                                      r["winning_trades"])
             for r in await conn.fetch(FILL_TOTALS_SQL, CLOSE_PREFIX, list(FLIP_DIRECTIONS), until)}
    equity = await equity_of(conn, until)
    return [trader_metrics(t, fills.get(t.address, FillTotals()), equity.get(t.address, EquityFigures()), now)
            for t in traders]


async def equity_of(conn: asyncpg.Connection, until: int | None = None) -> dict[str, EquityFigures]:
    """Every curve folded while it streams past, oldest point first (needs the open transaction)."""
    figures: dict[str, EquityFigures] = {}
    address: str | None = None
    fold = EquityFold()
    async for row in conn.cursor(EQUITY_SQL, until, prefetch=EQUITY_PREFETCH):
        if row["address"] != address:
            if address is not None:
                figures[address] = fold.figures()
            address, fold = row["address"], EquityFold()
        fold.add(EquityPoint(row["ts"], row["account_value"], row["pnl"]))
    if address is not None:
        figures[address] = fold.figures()
    return figures


def snapshot_row(ts: int, ranked: Ranked, states: Mapping[str, State]) -> tuple[object, ...]:
    m = ranked.metrics
    account_value, notional = states.get(m.address, (None, None))
    return (ts, m.address, ranked.rank, ranked.score, m.age_days, m.volume, m.realized_pnl, m.roi, m.win_rate,
            m.risk_ratio, m.max_drawdown, m.sharpe, m.closed_trades, m.tracked_since, m.fills_complete,
            account_value, notional)
