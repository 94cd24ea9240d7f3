"""GET /api/v1/lighter/accounts/{index}: a Lighter account the user follows (docs/lighter.md), by its
account index (or the L1 address it was added with): its open positions, with their liquidation
prices, and its balances, as the processor stored them. Needs an API key with account:read.

Money is exact decimal strings (NUMERIC::text), times µs.
"""
from __future__ import annotations

import json
import re

from aiohttp import web

from services.api.api_keys import ACCOUNT_READ, require_scope
from services.api.data import fetch

INDEX = re.compile(r"[0-9]{1,18}|0x[0-9a-fA-F]{40}")
# $1 the index (digits, no leading zeros) or the L1 address; the first account id holding it
ACCOUNT_QUERY = """
SELECT id, address FROM accounts
WHERE exchange = 'lighter' AND lower(address) = lower($1)
ORDER BY id LIMIT 1
"""
POSITIONS_QUERY = """
SELECT symbol, size::text AS size, entry_price::text AS entry_price, mark_price::text AS mark_price,
       unrealized_pnl::text AS unrealized_pnl, realized_pnl::text AS realized_pnl,
       liquidation_price::text AS liquidation_price, funding_paid::text AS funding_paid,
       leverage::text AS leverage, ts
FROM account_positions WHERE exchange = 'lighter' AND account = $1 ORDER BY symbol
"""
BALANCES_QUERY = """
SELECT asset, total::text AS total, available::text AS available, ts
FROM account_balances WHERE exchange = 'lighter' AND account = $1 ORDER BY asset
"""


def _not_found(text: str) -> web.HTTPNotFound:
    return web.HTTPNotFound(text=json.dumps({"error": text}), content_type="application/json")


async def account(request: web.Request) -> web.Response:
    """GET /api/v1/lighter/accounts/{index}: {index, account, positions, balances}; 404 when no
    stored Lighter account reads that index."""
    await require_scope(request, ACCOUNT_READ)
    given = request.match_info["index"]
    if not INDEX.fullmatch(given):
        error = json.dumps({"error": "expected an account index (digits) or an L1 address"})
        raise web.HTTPBadRequest(text=error, content_type="application/json")
    wanted = str(int(given)) if given.isdigit() else given
    found = await fetch(request, ACCOUNT_QUERY, wanted)
    if not found:
        raise _not_found(f"no lighter account {given} is followed")
    account_id = found[0]["id"]
    positions = await fetch(request, POSITIONS_QUERY, account_id)
    balances = await fetch(request, BALANCES_QUERY, account_id)
    return web.json_response({"index": wanted, "account": account_id, "positions": positions,
                              "balances": balances})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/lighter/accounts/{index}", account)
