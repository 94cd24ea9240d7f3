"""/api/v1/traders/*: the newest leaderboard snapshot sorted by rank or a metric, one trader with
its coverage, metrics and positions, its changes, fills and equity, bad addresses and unknown
traders, on rows written straight into the tables of the real PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import asyncpg
import pytest
from pytest_aiohttp import AiohttpClient

from services.api.app import create_app
from shared.config import Settings

D = Decimal
T0 = 1_763_000_000_000_000
MIN = 60_000_000
A = "0x" + "a1" * 20
B = "0x" + "b2" * 20
C = "0x" + "c3" * 20
NOBODY = "0x" + "0" * 40
ADDRESS_FORM = "address must be 0x followed by 40 hex digits, got "


TRADER_INSERT = """
INSERT INTO traders (address, first_seen, last_seen, trades_seen, volume_seen, tracked_since)
VALUES ($1, $2, $3, 3, 12345.678, $4)
"""
RANKED_INSERT = """
INSERT INTO leaderboard (ts, address, rank, score, age_days, volume, realized_pnl, roi, win_rate, risk_ratio,
                         max_drawdown, sharpe, closed_trades, tracked_since, fills_complete)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
"""

CHANGE_INSERT = """
INSERT INTO position_changes (address, exchange, symbol, ts, change, old_size, new_size,
                              entry_price, position_value, unrealized_pnl, leverage, liquidation_price,
                              liquidated, recv_ts)
VALUES ($1, 'hyperliquid', $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $3)
"""
FILL_INSERT = """
INSERT INTO trader_fills (address, exchange, symbol, tid, ts, order_id, side, price, size, start_position,
                          direction, closed_pnl, fee, fee_asset, liquidation, recv_ts)
VALUES ($1, 'hyperliquid', 'BTC-USD-PERP', $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'USDC', $12, $3)
"""


async def add_trader(pool: asyncpg.Pool, address: str, tracked_since: int | None = None) -> None:
    await pool.execute(TRADER_INSERT, address, T0, T0 + MIN, tracked_since)


async def add_ranked(pool: asyncpg.Pool, ts: int, rank: int, address: str, **metrics: Any) -> None:
    row: dict[str, Any] = {
        "score": D("0.5"), "age_days": D(30), "volume": D(1000), "realized_pnl": D(0), "roi": None,
        "win_rate": None, "risk_ratio": None, "max_drawdown": None, "sharpe": None, "closed_trades": 5,
        "tracked_since": T0, "fills_complete": True, **metrics,
    }
    await pool.execute(RANKED_INSERT, ts, address, rank, *row.values())


@pytest.fixture
async def ranked(pool: asyncpg.Pool) -> asyncpg.Pool:
    """An older snapshot and a newer one of three traders; C has no Sharpe and a truncated history."""
    for address in (A, B, C):
        await add_trader(pool, address, tracked_since=T0)
    await add_ranked(pool, T0, 1, C, score=D("0.99"))
    await add_ranked(pool, T0 + 10 * MIN, 1, A, score=D("0.9"), realized_pnl=D("1500.25"), roi=D("0.15"),
                     max_drawdown=D("0.30"), sharpe=D("1.2"), risk_ratio=D("2"), age_days=D(40))
    await add_ranked(pool, T0 + 10 * MIN, 2, B, score=D("0.7"), realized_pnl=D("99999.5"), roi=D("0.05"),
                     max_drawdown=D("0.05"), sharpe=D("2.5"), risk_ratio=D("0.5"), age_days=D(8))
    await add_ranked(pool, T0 + 10 * MIN, 3, C, score=D("0.1"), realized_pnl=D("-10"), roi=D("-0.01"),
                     max_drawdown=D("0.10"), sharpe=None, risk_ratio=D("1"), age_days=D("7.5"),
                     fills_complete=False, tracked_since=T0 + MIN)
    return pool


async def test_leaderboard_is_the_newest_snapshot_by_rank_with_coverage(
    aiohttp_client: AiohttpClient, settings: Settings, ranked: asyncpg.Pool
) -> None:
    client = await aiohttp_client(create_app(settings))
    response = await client.get("/api/v1/traders/leaderboard")
    body = await response.json()
    assert response.status == 200, body
    assert body["snapshot_ts"] == T0 + 10 * MIN and body["sort"] == "rank" and body["order"] == "asc"
    assert [(t["rank"], t["address"]) for t in body["traders"]] == [(1, A), (2, B), (3, C)]
    first = body["traders"][0]
    assert first["ts"] == T0 + 10 * MIN
    assert first["realized_pnl"] == "1500.25" and first["max_drawdown"] == "0.30"  # exact strings
    assert first["coverage"] == {"tracked_since": T0, "fills_complete": True}
    assert body["traders"][2]["coverage"] == {"tracked_since": T0 + MIN, "fills_complete": False}
    assert body["count"] == 3


@pytest.mark.parametrize(
    ("params", "order", "addresses"),
    [
        ({"sort": "realized_pnl"}, "desc", [B, A, C]),
        ({"sort": "max_drawdown"}, "asc", [B, C, A]),  # the smallest drawdown is the best
        ({"sort": "risk_ratio"}, "asc", [B, C, A]),
        ({"sort": "sharpe"}, "desc", [B, A, C]),  # C has none: last
        ({"sort": "sharpe", "order": "asc"}, "asc", [A, B, C]),  # still last
        ({"sort": "score", "order": "asc"}, "asc", [C, B, A]),
        ({"sort": "roi", "limit": "2"}, "desc", [A, B]),
        ({"min_age_days": "8"}, "asc", [A, B]),
        ({"min_age_days": "7.5", "sort": "volume"}, "desc", [A, B, C]),  # equal volumes: by rank
        ({"min_age_days": "365"}, "asc", []),
    ],
)
async def test_leaderboard_sorts_by_a_metric_and_says_the_direction(
    aiohttp_client: AiohttpClient, settings: Settings, ranked: asyncpg.Pool,
    params: dict[str, str], order: str, addresses: list[str],
) -> None:
    client = await aiohttp_client(create_app(settings))
    body = await (await client.get("/api/v1/traders/leaderboard", params=params)).json()
    assert body["order"] == order and body["snapshot_ts"] == T0 + 10 * MIN  # even when no row is left
    assert [t["address"] for t in body["traders"]] == addresses


async def test_leaderboard_is_empty_before_the_first_snapshot(
    aiohttp_client: AiohttpClient, settings: Settings, pool: asyncpg.Pool
) -> None:
    client = await aiohttp_client(create_app(settings))
    body = await (await client.get("/api/v1/traders/leaderboard")).json()
    assert body == {"snapshot_ts": None, "sort": "rank", "order": "asc", "traders": [], "count": 0}


async def test_leaderboard_limit_is_capped(
    aiohttp_client: AiohttpClient, make_settings: Callable[..., Settings], ranked: asyncpg.Pool
) -> None:
    client = await aiohttp_client(create_app(make_settings(api_max_limit=2)))
    body = await (await client.get("/api/v1/traders/leaderboard", params={"limit": "50"})).json()
    assert [t["rank"] for t in body["traders"]] == [1, 2]


async def test_a_trader_with_coverage_metrics_and_positions(
    aiohttp_client: AiohttpClient, settings: Settings, ranked: asyncpg.Pool
) -> None:
    await ranked.execute(
        "UPDATE traders SET last_tracked = $2, account_value = 10000.5, notional = 25000, fills_from = $3,"
        " fills_until = $2, equity_until = $2, watched = true, watch_min_usd = 5000 WHERE address = $1",
        A, T0 + 20 * MIN, T0 - MIN)
    await ranked.executemany(
        "INSERT INTO trader_positions (address, symbol, size, entry_price, position_value, unrealized_pnl,"
        " leverage, liquidation_price, ts) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        [(A, "ETH-USD-PERP", D("-2.5"), D("3000.1"), D("7500.25"), D("-12.5"), D(5), None, T0 + 20 * MIN),
         (A, "BTC-USD-PERP", D("0.25"), D(60000), D(15000), D("250.75"), D(10), D("40000.5"), T0 + 20 * MIN),
         (B, "BTC-USD-PERP", D(1), D(1), D(1), D(0), None, None, T0)])
    client = await aiohttp_client(create_app(settings))
    response = await client.get(f"/api/v1/traders/{A.upper().replace('0X', '0x')}")  # any case
    body = await response.json()
    assert response.status == 200, body
    assert body["address"] == A and body["exchange"] == "hyperliquid"
    assert (body["first_seen"], body["last_seen"], body["trades_seen"]) == (T0, T0 + MIN, 3)
    assert body["volume_seen"] == "12345.678" and body["account_value"] == "10000.5"
    assert body["notional"] == "25000" and body["watched"] is True and body["watch_min_usd"] == "5000"
    assert (body["tracked_since"], body["last_tracked"]) == (T0, T0 + 20 * MIN)
    assert body["staleness_s"] > 0
    assert body["coverage"] == {"tracked_since": T0, "fills_from": T0 - MIN, "fills_until": T0 + 20 * MIN,
                                "fills_complete": False, "equity_until": T0 + 20 * MIN}
    metrics = body["metrics"]
    assert metrics["ts"] == T0 + 10 * MIN and metrics["in_latest_snapshot"] is True
    assert (metrics["rank"], metrics["score"], metrics["sharpe"]) == (1, "0.9", "1.2")
    assert metrics["coverage"] == {"tracked_since": T0, "fills_complete": True}
    assert [p["symbol"] for p in body["positions"]] == ["BTC-USD-PERP", "ETH-USD-PERP"]  # largest first
    assert body["positions"][1] == {
        "symbol": "ETH-USD-PERP", "size": "-2.5", "entry_price": "3000.1", "position_value": "7500.25",
        "unrealized_pnl": "-12.5", "leverage": "5", "liquidation_price": None, "ts": T0 + 20 * MIN}


async def test_a_trader_never_tracked_or_ranked(
    aiohttp_client: AiohttpClient, settings: Settings, ranked: asyncpg.Pool
) -> None:
    newcomer = "0x" + "d4" * 20
    await add_trader(ranked, newcomer)
    await add_ranked(ranked, T0, 2, B)  # B ranked only in the older snapshot too: still its newest row
    client = await aiohttp_client(create_app(settings))
    body = await (await client.get(f"/api/v1/traders/{newcomer}")).json()
    assert body["metrics"] is None and body["positions"] == [] and body["staleness_s"] is None
    assert body["coverage"]["tracked_since"] is None and body["coverage"]["fills_complete"] is False
    await ranked.execute("DELETE FROM leaderboard WHERE address = $1 AND ts > $2", C, T0)
    body = await (await client.get(f"/api/v1/traders/{C}")).json()
    assert body["metrics"]["ts"] == T0 and body["metrics"]["in_latest_snapshot"] is False  # fell out


async def test_changes_fills_and_equity_in_a_window(
    aiohttp_client: AiohttpClient, settings: Settings, pool: asyncpg.Pool
) -> None:
    await add_trader(pool, A)
    await add_trader(pool, B)
    steps = [("open", "0", "0.1"), ("increase", "0.1", "0.3"), ("flip", "0.3", "-0.2"),
             ("close", "-0.2", "0")]
    await pool.executemany(CHANGE_INSERT, [
        (A, "BTC-USD-PERP", T0 + n * MIN, kind, D(old), D(new), D("60000.5"), D("1500.75"), D(0), D(3), None,
         kind == "close") for n, (kind, old, new) in enumerate(steps)
    ] + [(B, "ETH-USD-PERP", T0, "open", D(0), D(1), None, None, None, None, None, False)])
    await pool.executemany(FILL_INSERT, [
        (A, str(n), T0 + n * MIN, str(100 + n), "buy" if n % 2 else "sell", D("60000.5"), D("0.01"),
         D(0), "Open Long", D("12.345678"), D("-0.0001"), n == 2) for n in range(4)])
    await pool.executemany(
        "INSERT INTO trader_equity (address, ts, account_value, pnl) VALUES ($1, $2, $3, $4)",
        [(A, T0 + n * MIN, D(10000) + n, D("0.5") * n) for n in range(5)])
    client = await aiohttp_client(create_app(settings))
    base = f"/api/v1/traders/{A}"

    body = await (await client.get(f"{base}/changes")).json()
    assert body["address"] == A and body["count"] == 4
    assert [c["change"] for c in body["changes"]] == ["close", "flip", "increase", "open"]  # newest first
    close = body["changes"][0]
    assert (close["old_size"], close["new_size"], close["liquidated"]) == ("-0.2", "0", True)
    assert close["entry_price"] == "60000.5" and close["position_value"] == "1500.75"
    window = {"from": str(T0 + MIN), "to": str(T0 + 3 * MIN)}
    body = await (await client.get(f"{base}/changes", params=window)).json()
    assert [c["change"] for c in body["changes"]] == ["flip", "increase"]  # from inclusive, to exclusive
    body = await (await client.get(f"{base}/changes", params={"limit": "1"})).json()
    assert [c["change"] for c in body["changes"]] == ["close"]

    body = await (await client.get(f"{base}/fills")).json()
    assert [f["tid"] for f in body["fills"]] == ["3", "2", "1", "0"]
    assert body["fills"][1]["liquidation"] is True and body["fills"][1]["closed_pnl"] == "12.345678"
    assert body["fills"][0]["fee"] == "-0.0001" and body["fills"][0]["order_id"] == "103"
    body = await (await client.get(f"{base}/fills", params={**window, "limit": "1"})).json()
    assert [f["tid"] for f in body["fills"]] == ["2"]

    body = await (await client.get(f"{base}/equity")).json()
    assert [p["ts"] for p in body["points"]] == [T0 + n * MIN for n in range(5)]  # oldest first
    assert body["points"][4] == {"ts": T0 + 4 * MIN, "account_value": "10004", "pnl": "2.0"}
    body = await (await client.get(f"{base}/equity", params={"from": str(T0 + MIN), "limit": "2"})).json()
    assert [p["ts"] for p in body["points"]] == [T0 + 3 * MIN, T0 + 4 * MIN]  # the newest two of the range

    body = await (await client.get(f"/api/v1/traders/{B}/fills")).json()
    assert body == {"address": B, "fills": [], "count": 0}  # a known trader without fills: empty, not 404


@pytest.mark.parametrize("suffix", ["", "/changes", "/fills", "/equity"])
async def test_bad_address_is_400_and_unknown_trader_404(
    aiohttp_client: AiohttpClient, settings: Settings, pool: asyncpg.Pool, suffix: str
) -> None:
    client = await aiohttp_client(create_app(settings))
    for bad in ("0x123", "a1" * 21, "0x" + "g" * 40, "0x" + "a" * 41, "vitalik.eth"):
        response = await client.get(f"/api/v1/traders/{bad}{suffix}")
        assert response.status == 400
        assert await response.json() == {"error": ADDRESS_FORM + bad}
    response = await client.get(f"/api/v1/traders/{NOBODY}{suffix}")
    assert response.status == 404
    assert await response.json() == {"error": f"unknown trader {NOBODY}"}


@pytest.mark.parametrize(
    ("path", "params", "error"),
    [
        ("leaderboard", {"sort": "luck"}, "sort must be one of max_drawdown, rank, realized_pnl, risk_ratio,"
                                          " roi, score, sharpe, volume, win_rate, got luck"),
        ("leaderboard", {"order": "up"}, "order must be one of asc, desc, got up"),
        ("leaderboard", {"min_age_days": "-1"}, "min_age_days must be a number of days >= 0, got -1"),
        ("leaderboard", {"min_age_days": "old"}, "min_age_days must be a number of days >= 0, got old"),
        ("leaderboard", {"limit": "0"}, "limit must be a positive integer, got 0"),
        (f"{A}/changes", {"from": "yesterday"}, "from must be microseconds since the epoch or ISO-8601,"
                                                " got yesterday"),
        (f"{A}/fills", {"limit": "x"}, "limit must be a positive integer, got x"),
        (f"{A}/equity", {"from": "2", "to": "1"}, "from must be before to"),
    ],
)
async def test_bad_parameters_name_themselves(
    aiohttp_client: AiohttpClient, settings: Settings, path: str, params: dict[str, str], error: str
) -> None:
    client = await aiohttp_client(create_app(settings))
    response = await client.get(f"/api/v1/traders/{path}", params=params)
    assert response.status == 400
    assert (await response.json())["error"].startswith(error)
