"""REST on the LP hedge monitors (services/general/hedges.py, docs/hedges.md): per pool and asset,
the short the pool holding requires, the short held, and the drift, as of the newest run, and their
history. Needs an API key with account:read: the answer tells the user's positions.

Amounts are exact decimal strings (NUMERIC::text), times µs.
"""
from __future__ import annotations

from aiohttp import web

from services.api.api_keys import ACCOUNT_READ, require_scope
from services.api.data import fetch
from services.api.params import Name, Query, Window, capped, parse_query

# $1 pool (NULL: all)
LATEST_QUERY = """
SELECT DISTINCT ON (pool, asset)
       pool, asset, ts, source, pool_asset, held_units::text AS pool_tokens, per_unit::text AS per_unit,
       required::text AS required, hedge::text AS held, drift::text AS drift, drift_pct::text AS drift_pct,
       price::text AS price, drift_usd::text AS drift_usd
FROM hedge_snapshots
WHERE ($1::text IS NULL OR pool = $1)
ORDER BY pool, asset, ts DESC
"""
# $1 pool, $2 asset (NULL: all), $3 from, $4 to, $5 limit
HISTORY_QUERY = """
SELECT pool, asset, ts, source, pool_asset, held_units::text AS pool_tokens, per_unit::text AS per_unit,
       required::text AS required, hedge::text AS held, drift::text AS drift, drift_pct::text AS drift_pct,
       price::text AS price, drift_usd::text AS drift_usd
FROM hedge_snapshots
WHERE ($1::text IS NULL OR pool = $1) AND ($2::text IS NULL OR asset = $2)
  AND ($3::bigint IS NULL OR ts >= $3) AND ($4::bigint IS NULL OR ts < $4)
ORDER BY ts DESC, pool, asset
LIMIT $5
"""


class LatestQuery(Query, frozen=True, kw_only=True):
    """GET /api/v1/hedges?pool="""

    pool: Name | None = None


class HistoryQuery(Window, frozen=True, kw_only=True):
    """GET /api/v1/hedges/history?pool=&asset=&from=&to=&limit="""

    pool: Name | None = None
    asset: Name | None = None


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/hedges", hedges)
    app.router.add_get("/api/v1/hedges/history", history)


async def hedges(request: web.Request) -> web.Response:
    """GET /api/v1/hedges?pool=: per pool and asset, the newest run's required, held and drift."""
    await require_scope(request, ACCOUNT_READ)
    q = parse_query(request, LatestQuery)
    rows = await fetch(request, LATEST_QUERY, q.pool)
    return web.json_response({"hedges": rows, "count": len(rows)})


async def history(request: web.Request) -> web.Response:
    """GET /api/v1/hedges/history?pool=&asset=&from=&to=&limit=: every run's rows, newest first."""
    await require_scope(request, ACCOUNT_READ)
    q = parse_query(request, HistoryQuery)
    rows = await fetch(request, HISTORY_QUERY, q.pool, q.asset, q.start, q.end, capped(request, q.limit))
    return web.json_response({"hedges": rows, "count": len(rows)})
