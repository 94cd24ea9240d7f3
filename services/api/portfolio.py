"""The portfolio sync's answers (docs/portfolio.md): GET /api/v1/portfolio (every account's items
and value, and the total) and /api/v1/portfolio/history (value snapshots over time, for a chart).
Both need an API key with account:read. Money is exact decimal strings (NUMERIC::text), times µs.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Annotated

import msgspec
from aiohttp import web

from services.api.accounts import AccountId
from services.api.api_keys import ACCOUNT_READ, require_scope
from services.api.data import fetch
from services.api.params import Query, Window, capped, parse_query

ITEMS_QUERY = """
SELECT account, asset, exchange, quantity::text AS quantity, avg_entry::text AS avg_entry, cost_method,
       realized_pnl::text AS realized_pnl, unrealized_pnl::text AS unrealized_pnl, pnl_pct::text AS pnl_pct,
       price::text AS price, price_source, price_age_s::text AS price_age_s, value_usd::text AS value_usd, ts
FROM portfolio_items
WHERE ($1::text IS NULL OR account = $1)
ORDER BY account, asset
"""
# each account's newest snapshot: its value as last synced
LATEST_QUERY = """
SELECT DISTINCT ON (account) account, ts, value_usd::text AS value_usd, priced
FROM portfolio_snapshots
WHERE ($1::text IS NULL OR account = $1)
ORDER BY account, ts DESC
"""
HISTORY_QUERY = """
SELECT account, ts, value_usd::text AS value_usd, priced
FROM portfolio_snapshots
WHERE ($1::text IS NULL OR account = $1)
  AND ($2::bigint IS NULL OR ts >= $2) AND ($3::bigint IS NULL OR ts < $3)
ORDER BY ts DESC, account
LIMIT $4
"""


class PortfolioQuery(Query, frozen=True, kw_only=True):
    """GET /api/v1/portfolio?account="""

    account: Annotated[AccountId | None, msgspec.Meta(description="only this account")] = None


class HistoryQuery(Window, frozen=True, kw_only=True):
    """GET /api/v1/portfolio/history?account=&from=&to=&limit="""

    account: AccountId | None = None


async def portfolio(request: web.Request) -> web.Response:
    """Per account: its items (quantity, average entry, PnL, the price used with its source and
    age, value) and its value as last synced; the total of those values."""
    await require_scope(request, ACCOUNT_READ)
    q = parse_query(request, PortfolioQuery)
    items = await fetch(request, ITEMS_QUERY, q.account)
    latest = await fetch(request, LATEST_QUERY, q.account)
    accounts = [{**row, "items": [i for i in items if i["account"] == row["account"]]} for row in latest]
    total = sum((Decimal(row["value_usd"]) for row in latest), Decimal(0))
    return web.json_response({"accounts": accounts, "count": len(accounts), "total_usd": f"{total:f}",
                              "priced": all(row["priced"] for row in latest)})


async def history(request: web.Request) -> web.Response:
    """Value snapshots in ?from=&to=, newest first, every account or one."""
    await require_scope(request, ACCOUNT_READ)
    q = parse_query(request, HistoryQuery)
    rows = await fetch(request, HISTORY_QUERY, q.account, q.start, q.end, capped(request, q.limit))
    return web.json_response({"account": q.account, "snapshots": rows, "count": len(rows)})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/portfolio", portfolio)
    app.router.add_get("/api/v1/portfolio/history", history)
