"""The leaderboard job on the real PostgreSQL: the three traders of test_leaderboard_metrics.py
stored as the tracker and processor store them, ranked into one snapshot whose rows carry the
hand-computed metrics and each trader's coverage; and the job through a PostgreSQL outage."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from decimal import Decimal
from urllib.parse import urlsplit

import asyncpg
import pytest

from services.processor import leaderboard
from services.processor.leaderboard import run_leaderboard, store_snapshot
from services.processor.leaderboard_rank import Minimums, score_weights
from shared.config import Settings
from shared.db import create_pool
from tests.conftest import DATABASE_URL
from tests.processor.test_leaderboard_metrics import (
    ALICE,
    BOB,
    CAROL,
    CURVES,
    EXPECTED,
    FILLS,
    NOW,
    TRADERS,
    day,
)
from tests.proxy import CuttableProxy
from tests.trades import wait_until

D = Decimal
NEVER_TRACKED = "0x" + "e" * 40
METRIC_COLUMNS = ("age_days", "volume", "realized_pnl", "roi", "win_rate", "risk_ratio", "max_drawdown",
                  "sharpe", "closed_trades", "tracked_since", "fills_complete")


async def seed(pool: asyncpg.Pool) -> None:
    """The three traders, their fills and curves; and one trader seen but never tracked."""
    await pool.executemany(
        "INSERT INTO traders (address, first_seen, last_seen, tracked_since, account_value, notional,"
        " fills_complete) VALUES ($1, $2, $2, $3, $4, $5, $6)",
        [(t.address, t.first_seen, t.tracked_since, t.account_value, t.notional, t.fills_complete)
         for t in TRADERS.values()] + [(NEVER_TRACKED, day(1), None, None, None, False)])
    await pool.executemany(
        "INSERT INTO trader_fills (address, exchange, symbol, tid, ts, order_id, side, price, size,"
        " start_position, direction, closed_pnl, fee, fee_asset, liquidation, recv_ts)"
        " VALUES ($1, 'hyperliquid', 'BTC-USD-PERP', $2, $3, $2, 'buy', $4, $5, 0, $6, $7, $8, 'USDC', $9,"
        " $3)",
        [(address, str(n), f.ts, f.price, f.size, f.direction, f.closed_pnl, f.fee, f.liquidation)
         for address, fills in FILLS.items() for n, f in enumerate(fills)])
    await pool.executemany(
        "INSERT INTO trader_equity (address, ts, account_value, pnl) VALUES ($1, $2, $3, $4)",
        [(address, day(d), D(value), D(pnl))
         for address, points in CURVES.items() for d, value, pnl in points])


async def snapshot_rows(pool: asyncpg.Pool, ts: int) -> list[asyncpg.Record]:
    return list(await pool.fetch("SELECT * FROM leaderboard WHERE ts = $1 ORDER BY rank", ts))


async def test_a_snapshot_stores_each_ranked_trader_with_metrics_and_coverage(pool: asyncpg.Pool) -> None:
    await seed(pool)
    weights = score_weights({"pnl": 1.0, "drawdown": 1.0})
    snapshot = await store_snapshot(pool, weights, Minimums(), 600.0, NOW)
    assert snapshot is not None and snapshot.tracked == 3 and len(snapshot.ranked) == 3
    rows = await snapshot_rows(pool, NOW)
    # scores by hand in test_leaderboard_rank.py: bob 1, alice 0.3135821470, carol 0
    assert [(r["rank"], r["address"], r["score"]) for r in rows] == [
        (1, BOB, D(1)), (2, ALICE, D("0.3135821470")), (3, CAROL, D(0))]
    for row in rows:  # PostgreSQL's sums over the fills equal the hand-computed ones
        expected = EXPECTED[row["address"]]
        assert {c: row[c] for c in METRIC_COLUMNS} == {c: getattr(expected, c) for c in METRIC_COLUMNS}
    carol = rows[2]
    assert carol["fills_complete"] is False and carol["tracked_since"] == day(95)


async def test_minimums_leave_traders_out_of_the_snapshot(pool: asyncpg.Pool) -> None:
    await seed(pool)
    minimums = Minimums(age_days=D(7), volume=D(1000), closed_trades=2)
    await store_snapshot(pool, score_weights({"pnl": 1.0}), minimums, 600.0, NOW)
    assert [r["address"] for r in await snapshot_rows(pool, NOW)] == [BOB]


async def test_a_second_run_within_half_an_interval_adds_no_snapshot(pool: asyncpg.Pool) -> None:
    await seed(pool)
    weights = score_weights({"pnl": 1.0})
    assert await store_snapshot(pool, weights, Minimums(), 600.0, NOW) is not None
    assert await store_snapshot(pool, weights, Minimums(), 600.0, NOW + 299_000_000) is None
    later = NOW + 300_000_000
    assert await store_snapshot(pool, weights, Minimums(), 600.0, later) is not None
    assert await pool.fetchval("SELECT count(DISTINCT ts) FROM leaderboard") == 2
    assert len(await snapshot_rows(pool, later)) == 3


async def test_an_empty_population_stores_an_empty_snapshot(pool: asyncpg.Pool) -> None:
    snapshot = await store_snapshot(pool, score_weights({"pnl": 1.0}), Minimums(), 600.0, NOW)
    assert snapshot is not None and snapshot.ranked == []


def job_settings(make_settings: Callable[..., Settings], **overrides: object) -> Settings:
    return make_settings(traders_leaderboard_interval_s=0.3, traders_min_age_days=0.0,
                         traders_min_volume_usd=0.0, traders_min_closed_trades=0, **overrides)


async def test_the_job_ranks_every_interval_and_logs_it(
    pool: asyncpg.Pool, make_settings: Callable[..., Settings], caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=leaderboard.__name__)
    await seed(pool)
    stop = asyncio.Event()
    running = asyncio.create_task(run_leaderboard(job_settings(make_settings), pool, stop))
    try:
        async def two_snapshots() -> bool:
            return bool(await pool.fetchval("SELECT count(DISTINCT ts) >= 2 FROM leaderboard"))

        await wait_until(two_snapshots, 10, "two snapshots")
    finally:
        stop.set()
        await asyncio.wait_for(running, 5)
    ranked = [r for r in caplog.records if r.getMessage() == "leaderboard ranked"]
    assert ranked and ranked[0].__dict__["tracked"] == 3 and ranked[0].__dict__["ranked"] == 3


async def test_the_job_survives_a_postgres_outage(
    pool: asyncpg.Pool, make_settings: Callable[..., Settings], caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=leaderboard.__name__)
    await seed(pool)
    target = urlsplit(DATABASE_URL)
    async with CuttableProxy(target.hostname or "127.0.0.1", target.port or 5432) as proxy:
        via_proxy = DATABASE_URL.replace(f"{target.hostname}:{target.port or 5432}",
                                         f"127.0.0.1:{proxy.port}")
        settings = job_settings(make_settings, database_url=via_proxy)
        job_pool = await create_pool(settings)
        stop = asyncio.Event()
        running = asyncio.create_task(run_leaderboard(settings, job_pool, stop))
        try:
            def logged(message: str, times: int = 1) -> Callable[[], Awaitable[bool]]:
                async def check() -> bool:
                    return sum(r.getMessage() == message for r in caplog.records) >= times
                return check

            await wait_until(logged("leaderboard ranked"), 10, "a first snapshot")
            await proxy.cut()
            failed = logged("leaderboard run failed, retrying next interval", times=2)
            await wait_until(failed, 10, "two failed runs")
            assert not running.done(), "the outage stopped the job"
            await proxy.restore()
            await wait_until(logged("leaderboard run succeeded again"), 10, "a run after the outage")
            assert not running.done()
            failure = next(r for r in caplog.records
                           if r.getMessage() == "leaderboard run failed, retrying next interval")
            assert failure.levelno == logging.WARNING and failure.__dict__["error"]
        finally:
            stop.set()
            await asyncio.wait_for(running, 5)
            await job_pool.close()
    snapshots = await pool.fetchval("SELECT count(DISTINCT ts) FROM leaderboard")
    assert snapshots >= 2  # before and after the outage
