"""REST data on Hyperliquid traders under /api/v1/traders: the newest leaderboard snapshot, one
trader (discovery figures, coverage, latest metrics, current positions), and its position changes,
fills and equity curve. Addresses are compared lower case; money is exact decimal strings.

Coverage travels with every figure: `tracked_since` (the first state stored) and `fills_complete`
(false when the venue served only the newest fills), so a ranking never looks better founded
than it is.
"""
from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any, Literal

import msgspec
from aiohttp import web

from services.api.data import fetch
from services.api.keys import SETTINGS
from services.api.params import Address, Page, Query, Window, capped, parse_query
from shared.events import now_us

SortColumn = Literal[
    "rank", "score", "realized_pnl", "roi", "win_rate", "volume", "max_drawdown", "sharpe", "risk_ratio"]
# the default direction of each sort: best first (a smaller drawdown and a smaller risk are better)
BEST_FIRST: dict[str, Literal["asc", "desc"]] = {
    "rank": "asc", "score": "desc", "realized_pnl": "desc", "roi": "desc", "win_rate": "desc",
    "volume": "desc", "max_drawdown": "asc", "sharpe": "desc", "risk_ratio": "asc",
}
SNAPSHOT_QUERY = "SELECT max(ts) AS ts FROM leaderboard"
# $1 sort column, $2 'asc' or 'desc', $3 minimum age in days (NULL: none), $4 limit, $5 snapshot time.
# The column is chosen by CASE, not by formatting it into the text; missing metrics sort last.
LEADERBOARD_QUERY = """
SELECT l.ts, l.rank, l.address, l.score::text AS score, l.age_days::text AS age_days,
       l.volume::text AS volume, l.realized_pnl::text AS realized_pnl, l.roi::text AS roi,
       l.win_rate::text AS win_rate, l.risk_ratio::text AS risk_ratio, l.max_drawdown::text AS max_drawdown,
       l.sharpe::text AS sharpe, l.closed_trades, l.tracked_since, l.fills_complete
FROM leaderboard l
CROSS JOIN LATERAL (SELECT CASE $1::text
    WHEN 'rank' THEN l.rank::numeric WHEN 'score' THEN l.score WHEN 'realized_pnl' THEN l.realized_pnl
    WHEN 'roi' THEN l.roi WHEN 'win_rate' THEN l.win_rate WHEN 'volume' THEN l.volume
    WHEN 'max_drawdown' THEN l.max_drawdown WHEN 'sharpe' THEN l.sharpe WHEN 'risk_ratio' THEN l.risk_ratio
    END AS value) sort
WHERE l.ts = $5 AND ($3::numeric IS NULL OR l.age_days >= $3)
ORDER BY CASE WHEN $2::text = 'asc' THEN sort.value END ASC NULLS LAST,
         CASE WHEN $2::text = 'desc' THEN sort.value END DESC NULLS LAST,
         l.rank
LIMIT $4
"""
TRADER_QUERY = """
SELECT address, exchange, first_seen, last_seen, trades_seen, volume_seen::text AS volume_seen,
       account_value::text AS account_value, notional::text AS notional, tracked_since, last_tracked,
       fills_from, fills_until, fills_complete, equity_until, watched, watch_min_usd::text AS watch_min_usd
FROM traders WHERE address = $1
"""
TRADER_EXISTS_QUERY = "SELECT address FROM traders WHERE address = $1"
# the trader's newest leaderboard row, and whether it is in the newest snapshot (else it fell out)
LATEST_METRICS_QUERY = """
SELECT ts, ts = (SELECT max(ts) FROM leaderboard) AS in_latest_snapshot, rank, score::text AS score,
       age_days::text AS age_days, volume::text AS volume, realized_pnl::text AS realized_pnl,
       roi::text AS roi, win_rate::text AS win_rate, risk_ratio::text AS risk_ratio,
       max_drawdown::text AS max_drawdown, sharpe::text AS sharpe, closed_trades, tracked_since,
       fills_complete
FROM leaderboard WHERE address = $1
ORDER BY ts DESC
LIMIT 1
"""
POSITIONS_QUERY = """
SELECT symbol, size::text AS size, entry_price::text AS entry_price, position_value::text AS position_value,
       unrealized_pnl::text AS unrealized_pnl, leverage::text AS leverage,
       liquidation_price::text AS liquidation_price, ts
FROM trader_positions WHERE address = $1
ORDER BY abs(position_value) DESC, symbol
"""
# $1 address, $2 from (inclusive), $3 to (exclusive), $4 limit
CHANGES_QUERY = """
SELECT exchange, symbol, ts, change, old_size::text AS old_size, new_size::text AS new_size,
       entry_price::text AS entry_price, position_value::text AS position_value,
       unrealized_pnl::text AS unrealized_pnl, leverage::text AS leverage,
       liquidation_price::text AS liquidation_price, liquidated, recv_ts
FROM position_changes
WHERE address = $1 AND ($2::bigint IS NULL OR ts >= $2) AND ($3::bigint IS NULL OR ts < $3)
ORDER BY ts DESC, symbol
LIMIT $4
"""
FILLS_QUERY = """
SELECT exchange, symbol, tid, ts, order_id, side, price::text AS price, size::text AS size,
       start_position::text AS start_position, direction, closed_pnl::text AS closed_pnl, fee::text AS fee,
       fee_asset, liquidation, recv_ts
FROM trader_fills
WHERE address = $1 AND ($2::bigint IS NULL OR ts >= $2) AND ($3::bigint IS NULL OR ts < $3)
ORDER BY ts DESC, tid DESC
LIMIT $4
"""
EQUITY_QUERY = """
SELECT ts, account_value::text AS account_value, pnl::text AS pnl
FROM trader_equity
WHERE address = $1 AND ($2::bigint IS NULL OR ts >= $2) AND ($3::bigint IS NULL OR ts < $3)
ORDER BY ts DESC
LIMIT $4
"""

Days = Annotated[float, msgspec.Meta(ge=0, description="a number of days >= 0")]


class LeaderboardQuery(Page, frozen=True, kw_only=True):
    """GET /api/v1/traders/leaderboard?sort=&order=&min_age_days=&limit="""

    sort: SortColumn = "rank"
    order: Literal["asc", "desc"] | None = None  # best first when not given (BEST_FIRST)
    min_age_days: Days | None = None


class TraderQuery(Query, frozen=True, kw_only=True):
    """GET /api/v1/traders/{address}"""

    address: Address


class TraderWindow(Window, frozen=True, kw_only=True):
    """GET /api/v1/traders/{address}/changes|fills|equity?from=&to=&limit="""

    address: Address


def _coverage(row: dict[str, Any], *names: str) -> dict[str, Any]:
    """Move the coverage columns of a row into its own object."""
    return {name: row.pop(name) for name in names}


def not_found(address: str) -> web.HTTPNotFound:
    return web.HTTPNotFound(text=json.dumps({"error": f"unknown trader {address}"}),
                            content_type="application/json")


async def leaderboard(request: web.Request) -> web.Response:
    """GET /api/v1/traders/leaderboard?sort=&order=&min_age_days=&limit=: the newest snapshot,
    by rank or by one metric (best first unless `order` says otherwise)."""
    q = parse_query(request, LeaderboardQuery)
    order = q.order or BEST_FIRST[q.sort]
    min_age = None if q.min_age_days is None else str(q.min_age_days)  # numeric from text: exact
    # the snapshot's time first, so that a run ending meanwhile is not mixed in
    snapshot = (await fetch(request, SNAPSHOT_QUERY))[0]["ts"]
    rows = await fetch(request, LEADERBOARD_QUERY, q.sort, order, min_age, capped(request, q.limit), snapshot)
    for row in rows:
        row["coverage"] = _coverage(row, "tracked_since", "fills_complete")
    body = {"snapshot_ts": snapshot, "sort": q.sort, "order": order, "traders": rows, "count": len(rows)}
    return web.json_response(body)


async def trader(request: web.Request) -> web.Response:
    """GET /api/v1/traders/{address}: discovery figures, coverage, watch state, the newest
    leaderboard metrics (null when never ranked) and the current positions."""
    address = parse_query(request, TraderQuery).address.lower()
    found, metrics, positions = await asyncio.gather(
        fetch(request, TRADER_QUERY, address), fetch(request, LATEST_METRICS_QUERY, address),
        fetch(request, POSITIONS_QUERY, address))
    if not found:
        raise not_found(address)
    row = found[0]
    last_tracked = row["last_tracked"]
    row["staleness_s"] = None if last_tracked is None else round((now_us() - last_tracked) / 1e6, 3)
    row["coverage"] = {"tracked_since": row["tracked_since"],
                       **_coverage(row, "fills_from", "fills_until", "fills_complete", "equity_until")}
    for metric in metrics:
        metric["coverage"] = _coverage(metric, "tracked_since", "fills_complete")
    body = {**row, "metrics": metrics[0] if metrics else None, "positions": positions}
    return web.json_response(body)


async def _window_rows(
    request: web.Request, query: str, defaults: dict[str, str] | None = None
) -> tuple[str, list[dict[str, Any]]]:
    """A trader's rows in ?from=&to=, newest first; 404 when the address was never seen."""
    q = parse_query(request, TraderWindow, defaults)
    address = q.address.lower()
    rows = await fetch(request, query, address, q.start, q.end, capped(request, q.limit))
    if not rows and not await fetch(request, TRADER_EXISTS_QUERY, address):
        raise not_found(address)
    return address, rows


async def changes(request: web.Request) -> web.Response:
    """GET /api/v1/traders/{address}/changes?from=&to=&limit=: position changes, newest first."""
    address, rows = await _window_rows(request, CHANGES_QUERY)
    return web.json_response({"address": address, "changes": rows, "count": len(rows)})


async def fills(request: web.Request) -> web.Response:
    """GET /api/v1/traders/{address}/fills?from=&to=&limit=: fills, newest first."""
    address, rows = await _window_rows(request, FILLS_QUERY)
    return web.json_response({"address": address, "fills": rows, "count": len(rows)})


async def equity(request: web.Request) -> web.Response:
    """GET /api/v1/traders/{address}/equity?from=&to=&limit=: the newest points of the range, oldest
    first (as charts draw them); up to api_max_limit points when `limit` is not given."""
    defaults = {"limit": str(request.app[SETTINGS].api.max_limit)}
    address, rows = await _window_rows(request, EQUITY_QUERY, defaults)
    rows.reverse()
    return web.json_response({"address": address, "points": rows, "count": len(rows)})
