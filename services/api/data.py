"""REST data under /api/v1: parameters checked, answers JSON, numbers as exact strings."""
from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from services.api.keys import POOL, REDIS, SETTINGS
from shared.db import CONNECTION_ERRORS

TRADES_QUERY = """
SELECT exchange, symbol, raw_symbol, trade_id, price::text AS price, size::text AS size, side, ts, recv_ts
FROM trades
WHERE ($1::text IS NULL OR exchange = $1) AND ($2::text IS NULL OR symbol = $2)
ORDER BY ts DESC, trade_id DESC
LIMIT $3
"""


def bad_request(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=json.dumps({"error": message}), content_type="application/json")


def limit_param(request: web.Request, default: int = 100) -> int:
    """?limit= as a positive integer, capped at api_max_limit."""
    raw = request.query.get("limit", str(default))
    if not raw.isdigit() or int(raw) < 1:
        raise bad_request(f"limit must be a positive integer, got {raw}")
    return min(int(raw), request.app[SETTINGS].api.max_limit)


def text_param(request: web.Request, name: str, max_len: int = 64) -> str | None:
    value = request.query.get(name)
    if value is None or value == "":
        return None
    if len(value) > max_len or not all(c.isalnum() or c in "-_." for c in value):
        raise bad_request(f"{name} has characters that are not allowed: {value[:max_len]}")
    return value


async def fetch(request: web.Request, query: str, *args: Any) -> list[dict[str, Any]]:
    try:
        rows = await request.app[POOL].fetch(query, *args)
    except CONNECTION_ERRORS as exc:
        raise web.HTTPServiceUnavailable(text=json.dumps({"error": "database unavailable"}), content_type="application/json") from exc
    return [dict(row) for row in rows]


async def trades(request: web.Request) -> web.Response:
    """GET /api/v1/trades?exchange=&symbol=&limit=: newest first."""
    exchange = text_param(request, "exchange")
    symbol = text_param(request, "symbol")
    limit = limit_param(request)
    rows = await fetch(request, TRADES_QUERY, exchange, symbol, limit)
    return web.json_response({"trades": rows, "count": len(rows)})


STATS_QUERY = """
SELECT count(*) AS trades, count(DISTINCT (exchange, symbol, trade_id)) AS distinct_trades
FROM trades WHERE recv_ts >= $1
"""


async def stats(request: web.Request) -> web.Response:
    """GET /api/v1/stats?since=<µs>: trades received since then, and how many are distinct."""
    raw = request.query.get("since", "0")
    if not raw.isdigit():
        raise bad_request(f"since must be microseconds since the epoch, got {raw}")
    rows = await fetch(request, STATS_QUERY, int(raw))
    return web.json_response(rows[0])
