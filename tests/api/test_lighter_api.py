"""GET /api/v1/lighter/accounts/{index} on rows written straight into the real PostgreSQL: a followed
Lighter account's open positions (liquidation price, realized PnL, funding paid exact) and balances,
by its index or the L1 address it was added with; 401 without a key, 404 for an index nobody follows."""
from __future__ import annotations

import asyncpg
import pytest
from pytest_aiohttp import AiohttpClient

from services.api.app import create_app
from shared.config import Settings
from tests.api.test_accounts_api import ACCOUNT_INSERT, key

T0 = 1_763_000_000_000_000
ADDRESS = "0x478686468057D9873e8718083D40D2927b12F91A"
POSITION = """
INSERT INTO account_positions (exchange, account, symbol, size, entry_price, mark_price, unrealized_pnl,
                               leverage, ts, liquidation_price, realized_pnl, funding_paid)
VALUES ('lighter', $1, 'ETH-USD-PERP', -2.5, 3010.25, 3080, -174.375, 10, $2, 3282.05, 12.5, 1.2045)
"""
BALANCE = """
INSERT INTO account_balances (exchange, account, asset, total, available, ts)
VALUES ('lighter', $1, 'USDC', 3000.000000, 1520.4421, $2)
"""


@pytest.fixture
async def followed(pool: asyncpg.Pool) -> None:
    await pool.execute(ACCOUNT_INSERT, "lt", "lighter", "read", "281", None, "{}", T0)
    await pool.execute(ACCOUNT_INSERT, "lt-l1", "lighter", "read", ADDRESS, None, "{}", T0)
    await pool.execute(POSITION, "lt", T0)
    await pool.execute(BALANCE, "lt", T0)


async def test_a_followed_account_by_index(aiohttp_client: AiohttpClient, settings: Settings,
                                           pool: asyncpg.Pool, followed: None) -> None:
    client = await aiohttp_client(create_app(settings))
    headers = {"Authorization": f"Bearer {await key(pool)}"}
    response = await client.get("/api/v1/lighter/accounts/0281", headers=headers)
    assert response.status == 200
    assert await response.json() == {
        "index": "281", "account": "lt",
        "positions": [{"symbol": "ETH-USD-PERP", "size": "-2.5", "entry_price": "3010.25",
                       "mark_price": "3080", "unrealized_pnl": "-174.375", "realized_pnl": "12.5",
                       "liquidation_price": "3282.05", "funding_paid": "1.2045", "leverage": "10", "ts": T0}],
        "balances": [{"asset": "USDC", "total": "3000.000000", "available": "1520.4421", "ts": T0}]}
    by_address = await client.get(f"/api/v1/lighter/accounts/{ADDRESS.lower()}", headers=headers)
    assert (await by_address.json())["account"] == "lt-l1"


async def test_refused_without_a_key_unknown_is_404_and_nonsense_400(
        aiohttp_client: AiohttpClient, settings: Settings, pool: asyncpg.Pool, followed: None) -> None:
    client = await aiohttp_client(create_app(settings))
    assert (await client.get("/api/v1/lighter/accounts/281")).status == 401
    headers = {"Authorization": f"Bearer {await key(pool)}"}
    assert (await client.get("/api/v1/lighter/accounts/282", headers=headers)).status == 404
    bad = await client.get("/api/v1/lighter/accounts/abc", headers=headers)
    assert bad.status == 400 and "error" in await bad.json()
