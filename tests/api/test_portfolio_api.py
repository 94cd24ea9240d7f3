"""/api/v1/portfolio and /history on rows written straight into portfolio_items and
portfolio_snapshots: refused without account:read, exact decimals, the total, from/to/limit/account."""
from __future__ import annotations

from decimal import Decimal as D

import asyncpg
from pytest_aiohttp import AiohttpClient

from services.api.app import create_app
from shared.config import Settings
from tests.api.test_accounts_api import ACCOUNT_INSERT, T0, get, key

S = 1_000_000
ITEM_INSERT = """
INSERT INTO portfolio_items (account, asset, exchange, quantity, avg_entry, cost_method, realized_pnl,
    unrealized_pnl, pnl_pct, price, price_source, price_age_s, value_usd, ts)
VALUES ($1, $2, $3, $4, $5, 'average', $6, $7, NULL, $8, $9, $10, $11, $12)
"""


async def test_portfolio_per_account_total_and_history(aiohttp_client: AiohttpClient, settings: Settings,
                                                       pool: asyncpg.Pool) -> None:
    await pool.execute(ACCOUNT_INSERT, "main", "binance", "read", None, b"x" * 40, "{}", T0)
    await pool.execute(ACCOUNT_INSERT, "hl", "hyperliquid", "read", "0x" + "ab" * 20, None, "{}", T0)
    await pool.execute(ITEM_INSERT, "main", "BTC-USDT-PERP", "binance", D("0.5"), D("60000.123456789"),
                       D("-1.5"), D("499.9382716055"), D("61000.1"), "venue_mark", D(0),
                       D("499.9382716055"), T0)
    await pool.execute(ITEM_INSERT, "main", "USDT", "binance", D("1000.01"), None, D(0), None, D(1), "par",
                       D(0), D("1000.01"), T0)
    await pool.execute(ITEM_INSERT, "hl", "USDC", "hyperliquid", D("5"), None, D(0), None, D(1), "par", D(0),
                       D("5"), T0)
    for n in range(3):
        await pool.execute("INSERT INTO portfolio_snapshots (account, ts, value_usd) VALUES ($1, $2, $3)",
                           "main", T0 + n * S, D(1000) + n)
    await pool.execute("INSERT INTO portfolio_snapshots (account, ts, value_usd) VALUES ('hl', $1, 5)", T0)
    client = await aiohttp_client(create_app(settings))
    assert (await client.get("/api/v1/portfolio")).status == 401
    assert (await client.get("/api/v1/portfolio/history")).status == 401
    read = await key(pool)
    body = await get(client, "/api/v1/portfolio", read)
    assert body["count"] == 2 and body["total_usd"] == "1007" and body["priced"]
    hl, main = body["accounts"]
    assert main["value_usd"] == "1002" and main["ts"] == T0 + 2 * S
    btc = main["items"][0]
    assert btc["avg_entry"] == "60000.123456789" and btc["realized_pnl"] == "-1.5"
    assert btc["price_source"] == "venue_mark" and btc["value_usd"] == "499.9382716055"
    assert [i["asset"] for i in hl["items"]] == ["USDC"]
    only = await get(client, "/api/v1/portfolio", read, account="hl")
    assert only["count"] == 1 and only["total_usd"] == "5"
    window = {"from": T0 + S, "limit": 5}
    history = await get(client, "/api/v1/portfolio/history", read, account="main", **window)
    assert [r["value_usd"] for r in history["snapshots"]] == ["1002", "1001"]
    every = await get(client, "/api/v1/portfolio/history", read, limit=2)
    assert every["count"] == 2
