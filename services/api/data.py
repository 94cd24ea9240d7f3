"""REST data under /api/v1: parameters checked (services/api/params.py), answers JSON, numbers as
exact strings."""
from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from services.api.keys import POOL
from services.api.params import EpochMicros, Query, VenueFilters, capped, parse_query
from shared.db import CONNECTION_ERRORS

TRADES_QUERY = """
SELECT exchange, symbol, raw_symbol, trade_id, price::text AS price, size::text AS size, side, ts, recv_ts
FROM trades
WHERE ($1::text IS NULL OR exchange = $1) AND ($2::text IS NULL OR symbol = $2)
ORDER BY ts DESC, trade_id DESC
LIMIT $3
"""
STATS_QUERY = """
SELECT count(*) AS trades, count(DISTINCT (exchange, symbol, trade_id)) AS distinct_trades
FROM trades WHERE recv_ts >= $1
"""


class TradesQuery(VenueFilters, frozen=True, kw_only=True):
    """GET /api/v1/trades?exchange=&symbol=&limit="""


class StatsQuery(Query, frozen=True, kw_only=True):
    """GET /api/v1/stats?since="""

    since: EpochMicros = 0


async def fetch(request: web.Request, query: str, *args: Any) -> list[dict[str, Any]]:
    try:
        rows = await request.app[POOL].fetch(query, *args)
    except CONNECTION_ERRORS as exc:
        error = json.dumps({"error": "database unavailable"})
        raise web.HTTPServiceUnavailable(text=error, content_type="application/json") from exc
    return [dict(row) for row in rows]


async def trades(request: web.Request) -> web.Response:
    """GET /api/v1/trades?exchange=&symbol=&limit=: newest first."""
    query = parse_query(request, TradesQuery)
    rows = await fetch(request, TRADES_QUERY, query.exchange, query.symbol, capped(request, query.limit))
    return web.json_response({"trades": rows, "count": len(rows)})


async def stats(request: web.Request) -> web.Response:
    """GET /api/v1/stats?since=<µs>: trades received since then, and how many are distinct."""
    rows = await fetch(request, STATS_QUERY, parse_query(request, StatsQuery).since)
    return web.json_response(rows[0])
