"""REST market analytics under /api/v1: candles (per exchange and multi-exchange),
liquidations, large trades and spikes. Time ranges are ?from= (inclusive) and ?to=
(exclusive), each in microseconds since the epoch or ISO-8601 (UTC unless it says
otherwise; write "+" as %2B or use "Z"). Numbers are exact decimal strings.
"""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

from services.api.data import bad_request, fetch, limit_param, text_param
from shared.candles import INTERVAL_US, candle_of, combine_series
from shared.events import json_encoder, now_us

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SOURCES = ("derived", "exchange")

CANDLES_QUERY = """
SELECT exchange, symbol, raw_symbol, interval, source, ts, open::text AS open, high::text AS high,
       low::text AS low, close::text AS close, volume::text AS volume, trades, buy_volume::text AS buy_volume,
       closed, recv_ts
FROM candles
WHERE exchange = $1 AND symbol = $2 AND interval = $3 AND source = $4
  AND ($5::bigint IS NULL OR ts >= $5) AND ($6::bigint IS NULL OR ts < $6)
ORDER BY ts DESC
LIMIT $7
"""
# The newest $5 open times with a derived bar on any (or the listed) exchanges, then every bar at them.
MULTI_CANDLES_QUERY = """
WITH slots AS (
    SELECT DISTINCT ts FROM candles
    WHERE symbol = $1 AND interval = $2 AND source = 'derived'
      AND ($6::text[] IS NULL OR exchange = ANY($6))
      AND ($3::bigint IS NULL OR ts >= $3) AND ($4::bigint IS NULL OR ts < $4)
    ORDER BY ts DESC
    LIMIT $5
)
SELECT c.exchange, c.symbol, c.raw_symbol, c.interval, c.ts, c.open, c.high, c.low, c.close, c.volume,
       c.trades, c.buy_volume, c.closed, c.recv_ts
FROM candles c JOIN slots USING (ts)
WHERE c.symbol = $1 AND c.interval = $2 AND c.source = 'derived'
  AND ($6::text[] IS NULL OR c.exchange = ANY($6))
"""
LIQUIDATIONS_QUERY = """
SELECT exchange, symbol, raw_symbol, side, price::text AS price, size::text AS size,
       usd_value::text AS usd_value, raw_size::text AS raw_size, ts, recv_ts
FROM liquidations
WHERE ($1::text IS NULL OR exchange = $1) AND ($2::text IS NULL OR symbol = $2)
  AND ($3::text IS NULL OR side = $3) AND ($4::numeric IS NULL OR usd_value >= $4)
  AND ($5::bigint IS NULL OR ts >= $5) AND ($6::bigint IS NULL OR ts < $6)
ORDER BY ts DESC
LIMIT $7
"""
LARGE_TRADES_QUERY = """
SELECT exchange, symbol, trade_id, side, price::text AS price, size::text AS size,
       usd_value::text AS usd_value, threshold::text AS threshold, ts, recv_ts
FROM large_trades
WHERE ($1::text IS NULL OR exchange = $1) AND ($2::text IS NULL OR symbol = $2)
  AND ($3::text IS NULL OR side = $3) AND ($4::numeric IS NULL OR usd_value >= $4)
  AND ($5::bigint IS NULL OR ts >= $5) AND ($6::bigint IS NULL OR ts < $6)
ORDER BY ts DESC, trade_id DESC
LIMIT $7
"""
SPIKES_QUERY = """
SELECT exchange, symbol, metric, interval, ts, value::text AS value, mean::text AS mean, stdev::text AS stdev,
       z::text AS z, threshold::text AS threshold, recv_ts
FROM spikes
WHERE ($1::text IS NULL OR exchange = $1) AND ($2::text IS NULL OR symbol = $2)
  AND ($3::text IS NULL OR metric = $3) AND ($4::text IS NULL OR interval = $4)
  AND ($5::bigint IS NULL OR ts >= $5) AND ($6::bigint IS NULL OR ts < $6)
ORDER BY ts DESC
LIMIT $7
"""


def time_of(name: str, raw: str) -> int:
    """Microseconds since the epoch from an integer or an ISO-8601 time."""
    if raw.lstrip("-").isdigit():
        return int(raw)
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        message = f"{name} must be microseconds since the epoch or ISO-8601, got {raw[:64]}"
        raise bad_request(message) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - EPOCH) // timedelta(microseconds=1)


def time_range(request: web.Request) -> tuple[int | None, int | None]:
    """?from= and ?to=, checked: from must come before to."""
    start = time_of("from", request.query["from"]) if request.query.get("from") else None
    end = time_of("to", request.query["to"]) if request.query.get("to") else None
    if start is not None and end is not None and start >= end:
        raise bad_request("from must be before to")
    return start, end


def choice_param(request: web.Request, name: str, allowed: tuple[str, ...]) -> str | None:
    value = request.query.get(name) or None
    if value is not None and value not in allowed:
        raise bad_request(f"{name} must be one of {', '.join(allowed)}, got {value[:32]}")
    return value


def usd_param(request: web.Request, name: str = "min_usd") -> Decimal | None:
    raw = request.query.get(name)
    if not raw:
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise bad_request(f"{name} must be a decimal number, got {raw[:32]}") from None
    if not value.is_finite() or value < 0:
        raise bad_request(f"{name} must be a finite number >= 0, got {raw[:32]}")
    return value


def _is_name(value: str) -> bool:
    return 0 < len(value) <= 64 and all(c.isalnum() or c in "-_." for c in value)


def path_param(request: web.Request, name: str) -> str:
    value = request.match_info[name]
    if not _is_name(value):
        raise bad_request(f"{name} has characters that are not allowed: {value[:64]}")
    return value


def interval_param(request: web.Request) -> str:
    interval = request.match_info["interval"]
    if interval not in INTERVAL_US:
        raise bad_request(f"interval must be one of {', '.join(INTERVAL_US)}, got {interval[:16]}")
    return interval


def _closed(row: dict[str, Any], now: int) -> bool:
    """A derived bar whose time is over is closed even if no later trade said so yet."""
    over = row["ts"] + INTERVAL_US[row["interval"]] <= now
    return bool(row["closed"]) or (row["source"] == "derived" and over)


async def candles(request: web.Request) -> web.Response:
    """GET /api/v1/candles/{exchange}/{symbol}/{interval}?source=&from=&to=&limit=

    The newest `limit` bars of the range, returned oldest first (as charts draw them)."""
    exchange, symbol = path_param(request, "exchange"), path_param(request, "symbol")
    interval = interval_param(request)
    source = choice_param(request, "source", SOURCES) or "derived"
    start, end = time_range(request)
    limit = limit_param(request)
    rows = await fetch(request, CANDLES_QUERY, exchange, symbol, interval, source, start, end, limit)
    now = now_us()
    for row in rows:
        row["closed"] = _closed(row, now)
    rows.reverse()
    return web.json_response({"candles": rows, "count": len(rows)})


async def multi_candles(request: web.Request) -> web.Response:
    """GET /api/v1/candles/multi/{symbol}/{interval}?exchanges=a,b&from=&to=&limit=: volume-weighted."""
    symbol, interval = path_param(request, "symbol"), interval_param(request)
    listed = request.query.get("exchanges")
    exchanges = None
    if listed:
        exchanges = [name for name in listed.split(",") if name]
        if not exchanges or not all(_is_name(name) for name in exchanges):
            raise bad_request("exchanges must be names separated by commas")
    start, end = time_range(request)
    limit = limit_param(request)
    rows = await fetch(request, MULTI_CANDLES_QUERY, symbol, interval, start, end, limit, exchanges)
    series = combine_series(candle_of(row) for row in rows)
    body = json_encoder.encode({"candles": series, "count": len(series)})
    return web.Response(body=body, content_type="application/json")


async def liquidations(request: web.Request) -> web.Response:
    """GET /api/v1/liquidations?exchange=&symbol=&side=&min_usd=&from=&to=&limit=: newest first."""
    args = (text_param(request, "exchange"), text_param(request, "symbol"),
            choice_param(request, "side", ("buy", "sell")), usd_param(request), *time_range(request))
    rows = await fetch(request, LIQUIDATIONS_QUERY, *args, limit_param(request))
    return web.json_response({"liquidations": rows, "count": len(rows)})


async def large_trades(request: web.Request) -> web.Response:
    """GET /api/v1/large-trades?exchange=&symbol=&side=&min_usd=&from=&to=&limit=: newest first."""
    args = (text_param(request, "exchange"), text_param(request, "symbol"),
            choice_param(request, "side", ("buy", "sell")), usd_param(request), *time_range(request))
    rows = await fetch(request, LARGE_TRADES_QUERY, *args, limit_param(request))
    return web.json_response({"large_trades": rows, "count": len(rows)})


async def spikes(request: web.Request) -> web.Response:
    """GET /api/v1/spikes?exchange=&symbol=&metric=&interval=&from=&to=&limit=: newest first."""
    args = (text_param(request, "exchange"), text_param(request, "symbol"),
            choice_param(request, "metric", ("oi", "volume")),
            choice_param(request, "interval", tuple(INTERVAL_US)), *time_range(request))
    rows = await fetch(request, SPIKES_QUERY, *args, limit_param(request))
    return web.json_response({"spikes": rows, "count": len(rows)})
