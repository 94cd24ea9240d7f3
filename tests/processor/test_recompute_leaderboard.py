"""`recompute leaderboard` on the real PostgreSQL: a snapshot ranked again equals the live job's rows
(though newer fills, equity points and states were stored since), a second run changes nothing, and a
fill backfilled before the snapshot changes it."""
from __future__ import annotations

import io
from decimal import Decimal

import asyncpg

from services.processor.leaderboard import store_snapshot
from services.processor.leaderboard_rank import Minimums, score_weights
from services.processor.recompute import Scope, minute_range, run_recompute
from shared.settings import TraderSettings
from tests.processor.test_leaderboard import seed
from tests.processor.test_leaderboard_metrics import ALICE, BOB, CAROL, NOW, day

D = Decimal
CONFIG = TraderSettings(weights={"pnl": 1.0, "roi": 1.0, "risk": 1.0, "drawdown": 1.0, "volume": 0.5},
                        min_age_days=0.0, min_volume_usd=0.0, min_closed_trades=0)
FILL_INSERT = """
INSERT INTO trader_fills (address, exchange, symbol, tid, ts, order_id, side, price, size, start_position,
                          direction, closed_pnl, fee, fee_asset, liquidation, recv_ts)
VALUES ($1, 'hyperliquid', 'BTC-USD-PERP', $2, $3, $2, 'sell', $4, 1, 0, 'Close Long', $5, 0, 'USDC', false,
        $3)
"""


async def snapshot(pool: asyncpg.Pool, ts: int) -> list[dict[str, object]]:
    return [dict(r) for r in await pool.fetch("SELECT * FROM leaderboard WHERE ts = $1 ORDER BY rank", ts)]


async def live(pool: asyncpg.Pool, now: int) -> list[dict[str, object]]:
    assert await store_snapshot(pool, score_weights(CONFIG.weights), Minimums.of(CONFIG), 600.0, now)
    return await snapshot(pool, now)


async def recompute(pool: asyncpg.Pool, start: int, end: int) -> tuple[int, str]:
    out = io.StringIO()
    written = await run_recompute(pool, "leaderboard", Scope(*minute_range(start, end)), out, traders=CONFIG)
    return written, out.getvalue()


async def test_a_recomputed_snapshot_equals_the_live_rows(pool: asyncpg.Pool) -> None:
    await seed(pool)
    first = await live(pool, NOW)
    assert [r["address"] for r in first] == [BOB, ALICE, CAROL]
    # a day later: Alice closes with a big win, Bob's curve goes on, Carol's state changes
    await pool.execute(FILL_INSERT, ALICE, "late", day(100) + 3600_000_000, D(100), D(5000))
    await pool.execute("INSERT INTO trader_equity VALUES ($1, $2, 500, 300)", BOB, day(100) + 1)
    await pool.execute("UPDATE traders SET account_value = 20000, notional = 90000 WHERE address = $1", CAROL)
    second = await live(pool, NOW + day(1))
    assert second[0]["address"] == ALICE and second != first
    await pool.execute("UPDATE leaderboard SET score = 0, rank = rank + 10, volume = 0 WHERE ts = $1", NOW)

    written, bar = await recompute(pool, NOW, NOW + 1)
    assert written == 3 and await snapshot(pool, NOW) == first
    assert "leaderboard [" in bar and "1/1 snapshots" in bar and bar.endswith("\n")
    assert (await recompute(pool, NOW, NOW + day(2)))[0] == 6
    assert await snapshot(pool, NOW) == first and await snapshot(pool, NOW + day(1)) == second  # idempotent

    # a fill of Bob's found later, from before the first snapshot, moves it
    await pool.execute(FILL_INSERT, BOB, "backfilled", day(53), D(10), D("-900"))
    await recompute(pool, NOW, NOW + 1)
    healed = {r["address"]: r for r in await snapshot(pool, NOW)}
    assert healed[BOB]["realized_pnl"] == first[0]["realized_pnl"] - 900  # type: ignore[operator]
    assert healed[BOB]["rank"] > 1 and healed[CAROL]["account_value"] == first[2]["account_value"]
