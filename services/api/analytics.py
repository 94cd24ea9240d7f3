"""REST market analytics under /api/v1: candles (per exchange and multi-exchange),
liquidations, large trades and spikes. Time ranges are ?from= (inclusive) and ?to=
(exclusive), each in microseconds since the epoch or ISO-8601 (UTC unless it says
otherwise; write "+" as %2B or use "Z"). Numbers are exact decimal strings.
"""
from __future__ import annotations

from typing import Any, Literal

from aiohttp import web

from services.api.data import fetch
from services.api.params import Interval, Name, NameList, UsdAmount, Window, capped, parse_query
from shared.candles import INTERVAL_US, candle_of, combine_series
from shared.events import json_encoder, now_us

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


class CandlesQuery(Window, frozen=True, kw_only=True):
    """GET /api/v1/candles/{exchange}/{symbol}/{interval}?source=&from=&to=&limit="""

    exchange: Name
    symbol: Name
    interval: Interval
    source: Literal["derived", "exchange"] | None = None  # derived when not given


class MultiCandlesQuery(Window, frozen=True, kw_only=True):
    """GET /api/v1/candles/multi/{symbol}/{interval}?exchanges=a,b&from=&to=&limit="""

    symbol: Name
    interval: Interval
    exchanges: NameList | None = None  # every exchange when not given


class LiquidationsQuery(Window, frozen=True, kw_only=True):
    """GET /api/v1/liquidations?exchange=&symbol=&side=&min_usd=&from=&to=&limit="""

    exchange: Name | None = None
    symbol: Name | None = None
    side: Literal["buy", "sell"] | None = None
    min_usd: UsdAmount | None = None


class LargeTradesQuery(LiquidationsQuery, frozen=True, kw_only=True):
    """GET /api/v1/large-trades?exchange=&symbol=&side=&min_usd=&from=&to=&limit="""


class SpikesQuery(Window, frozen=True, kw_only=True):
    """GET /api/v1/spikes?exchange=&symbol=&metric=&interval=&from=&to=&limit="""

    exchange: Name | None = None
    symbol: Name | None = None
    metric: Literal["oi", "volume"] | None = None
    interval: Interval | None = None


def _closed(row: dict[str, Any], now: int) -> bool:
    """A derived bar whose time is over is closed even if no later trade said so yet."""
    over = row["ts"] + INTERVAL_US[row["interval"]] <= now
    return bool(row["closed"]) or (row["source"] == "derived" and over)


async def candles(request: web.Request) -> web.Response:
    """GET /api/v1/candles/{exchange}/{symbol}/{interval}?source=&from=&to=&limit=

    The newest `limit` bars of the range, returned oldest first (as charts draw them)."""
    q = parse_query(request, CandlesQuery)
    args = (q.exchange, q.symbol, q.interval, q.source or "derived", q.start, q.end, capped(request, q.limit))
    rows = await fetch(request, CANDLES_QUERY, *args)
    now = now_us()
    for row in rows:
        row["closed"] = _closed(row, now)
    rows.reverse()
    return web.json_response({"candles": rows, "count": len(rows)})


async def multi_candles(request: web.Request) -> web.Response:
    """GET /api/v1/candles/multi/{symbol}/{interval}?exchanges=a,b&from=&to=&limit=: volume-weighted."""
    q = parse_query(request, MultiCandlesQuery)
    exchanges = None if q.exchanges is None else list(q.exchanges)
    args = (q.symbol, q.interval, q.start, q.end, capped(request, q.limit), exchanges)
    rows = await fetch(request, MULTI_CANDLES_QUERY, *args)
    series = combine_series(candle_of(row) for row in rows)
    body = json_encoder.encode({"candles": series, "count": len(series)})
    return web.Response(body=body, content_type="application/json")


async def liquidations(request: web.Request) -> web.Response:
    """GET /api/v1/liquidations?exchange=&symbol=&side=&min_usd=&from=&to=&limit=: newest first."""
    q = parse_query(request, LiquidationsQuery)
    args = (q.exchange, q.symbol, q.side, q.min_usd, q.start, q.end, capped(request, q.limit))
    rows = await fetch(request, LIQUIDATIONS_QUERY, *args)
    return web.json_response({"liquidations": rows, "count": len(rows)})


async def large_trades(request: web.Request) -> web.Response:
    """GET /api/v1/large-trades?exchange=&symbol=&side=&min_usd=&from=&to=&limit=: newest first."""
    q = parse_query(request, LargeTradesQuery)
    args = (q.exchange, q.symbol, q.side, q.min_usd, q.start, q.end, capped(request, q.limit))
    rows = await fetch(request, LARGE_TRADES_QUERY, *args)
    return web.json_response({"large_trades": rows, "count": len(rows)})


async def spikes(request: web.Request) -> web.Response:
    """GET /api/v1/spikes?exchange=&symbol=&metric=&interval=&from=&to=&limit=: newest first."""
    q = parse_query(request, SpikesQuery)
    args = (q.exchange, q.symbol, q.metric, q.interval, q.start, q.end, capped(request, q.limit))
    rows = await fetch(request, SPIKES_QUERY, *args)
    return web.json_response({"spikes": rows, "count": len(rows)})
