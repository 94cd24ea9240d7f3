"""REST data for funding, spot prices and open interest: the latest row per venue and symbol, and
the funding spread of one asset across venues.

A `symbol` parameter is either a normalized symbol (BTC-USDT-PERP: exactly that instrument) or a
bare asset (BTC: every instrument of that base asset, BTC-USDT-PERP, BTC-USD-PERP, BTC-USDC-PERP,
...), which is what comparing venues needs: each venue quotes its perpetual in its own dollar.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Annotated, Any, Literal

import msgspec
from aiohttp import web

from services.api.data import fetch
from services.api.keys import SETTINGS
from services.api.params import Query, Symbol, VenueFilters, capped, parse_query
from shared.events import now_us

# $1 exchange, $2 exact symbol, $3 base asset, $4 limit; NULL = no filter
FUNDING_LATEST_QUERY = """
SELECT * FROM (
    SELECT DISTINCT ON (exchange, symbol) exchange, symbol, raw_symbol, rate::text AS rate,
           interval_hours::text AS interval_hours, annualized::text AS annualized, next_funding_ts, ts,
           recv_ts
    FROM funding_rates
    WHERE ($1::text IS NULL OR exchange = $1) AND ($2::text IS NULL OR symbol = $2)
      AND ($3::text IS NULL OR split_part(symbol, '-', 1) = $3)
    ORDER BY exchange, symbol, ts DESC
) latest
ORDER BY symbol, exchange
LIMIT $4
"""

# $1 exact symbol, $2 base asset (perpetuals only), $3 oldest ts counted
FUNDING_SPREAD_QUERY = """
SELECT DISTINCT ON (exchange, symbol) exchange, symbol, rate::text AS rate,
       interval_hours::text AS interval_hours, annualized::text AS annualized, ts
FROM funding_rates
WHERE ($1::text IS NULL OR symbol = $1)
  AND ($2::text IS NULL OR (split_part(symbol, '-', 1) = $2 AND symbol LIKE '%-PERP'))
  AND ts >= $3
ORDER BY exchange, symbol, ts DESC
"""

# $1 exchange, $2 exact symbol, $3 base asset, $4 source, $5 limit
PRICES_LATEST_QUERY = """
SELECT * FROM (
    SELECT DISTINCT ON (source, exchange, symbol) source, exchange, symbol, raw_symbol, price::text AS price,
           ts, recv_ts
    FROM spot_prices
    WHERE ($1::text IS NULL OR exchange = $1) AND ($2::text IS NULL OR symbol = $2)
      AND ($3::text IS NULL OR split_part(symbol, '-', 1) = $3) AND ($4::text IS NULL OR source = $4)
    ORDER BY source, exchange, symbol, ts DESC
) latest
ORDER BY symbol, source, exchange
LIMIT $5
"""

# $1 exchange, $2 exact symbol, $3 base asset, $4 limit
OPEN_INTEREST_LATEST_QUERY = """
SELECT * FROM (
    SELECT DISTINCT ON (exchange, symbol) exchange, symbol, raw_symbol, contracts::text AS contracts,
           base::text AS base, usd::text AS usd, ts, recv_ts
    FROM open_interest
    WHERE ($1::text IS NULL OR exchange = $1) AND ($2::text IS NULL OR symbol = $2)
      AND ($3::text IS NULL OR split_part(symbol, '-', 1) = $3)
    ORDER BY exchange, symbol, ts DESC
) latest
ORDER BY symbol, exchange
LIMIT $4
"""


# a bound, so that now - max_age_s stays a bigint (a larger age was a 500)
MaxAge = Annotated[int, msgspec.Meta(
    ge=1, le=10 * 365 * 86_400, description="a positive integer of at most 10 years in seconds")]


class FundingQuery(VenueFilters, frozen=True, kw_only=True):
    """GET /api/v1/funding?exchange=&symbol=&limit="""


class SpreadQuery(Query, frozen=True, kw_only=True):
    """GET /api/v1/funding/spread?symbol=&max_age_s= (older observations are left out)."""

    symbol: Symbol
    max_age_s: MaxAge  # 3 funding polls when not given (`spread_defaults`)


class PricesQuery(VenueFilters, frozen=True, kw_only=True):
    """GET /api/v1/prices?exchange=&symbol=&source=&limit="""

    source: Literal["exchange", "oracle"] | None = None


class OpenInterestQuery(VenueFilters, frozen=True, kw_only=True):
    """GET /api/v1/open-interest?exchange=&symbol=&limit="""


def symbol_filter(symbol: str | None) -> tuple[str | None, str | None]:
    """?symbol= as (exact symbol, None) when it has a dash, else (None, base asset); upper case."""
    if symbol is None:
        return None, None
    symbol = symbol.upper()
    return (symbol, None) if "-" in symbol else (None, symbol)


def _plain(value: Decimal) -> str:
    """A Decimal as positional text (never 1E-7), as every number the API answers."""
    return format(value, "f")


async def funding(request: web.Request) -> web.Response:
    """GET /api/v1/funding?exchange=&symbol=&limit=: the latest funding rate per venue and symbol."""
    query = parse_query(request, FundingQuery)
    exact, base = symbol_filter(query.symbol)
    args = (query.exchange, exact, base, capped(request, query.limit))
    rows = await fetch(request, FUNDING_LATEST_QUERY, *args)
    return web.json_response({"funding": rows, "count": len(rows)})


def spread_defaults(request: web.Request) -> dict[str, str]:
    """max_age_s: 3 funding polls, so one missed poll never empties the spread (1 s at least)."""
    return {"max_age_s": str(max(1, int(request.app[SETTINGS].polling.funding_s * 3)))}


def widest_pair(legs: list[dict[str, Any]]) -> dict[str, Any]:
    """Long where annualized funding is lowest, short where it is highest; spread = highest - lowest."""
    if len(legs) < 2:
        return {"long": None, "short": None, "spread": None}
    low = min(legs, key=lambda leg: Decimal(leg["annualized"]))
    high = max(legs, key=lambda leg: Decimal(leg["annualized"]))
    pick = ("exchange", "symbol", "annualized")
    return {
        "long": {k: low[k] for k in pick},
        "short": {k: high[k] for k in pick},
        "spread": _plain(Decimal(high["annualized"]) - Decimal(low["annualized"])),
    }


async def funding_spread(request: web.Request) -> web.Response:
    """GET /api/v1/funding/spread?symbol=BTC[&max_age_s=]: one asset's latest annualized funding per
    venue, lowest first, and the widest long/short pair (a funding carry: long low, short high)."""
    query = parse_query(request, SpreadQuery, spread_defaults(request))
    exact, base = symbol_filter(query.symbol)
    since = now_us() - query.max_age_s * 1_000_000
    legs = await fetch(request, FUNDING_SPREAD_QUERY, exact, base, since)
    if not legs:
        error = f"no funding for {exact or base} in the last {query.max_age_s} s"
        raise web.HTTPNotFound(text=json.dumps({"error": error}), content_type="application/json")
    legs.sort(key=lambda leg: (Decimal(leg["annualized"]), leg["exchange"], leg["symbol"]))
    return web.json_response(
        {"symbol": exact or base, "venues": legs, "count": len(legs), **widest_pair(legs)}
    )


async def prices(request: web.Request) -> web.Response:
    """GET /api/v1/prices?exchange=&symbol=&source=exchange|oracle&limit=: the latest price per source."""
    query = parse_query(request, PricesQuery)
    exact, base = symbol_filter(query.symbol)
    args = (query.exchange, exact, base, query.source, capped(request, query.limit))
    rows = await fetch(request, PRICES_LATEST_QUERY, *args)
    return web.json_response({"prices": rows, "count": len(rows)})


async def open_interest(request: web.Request) -> web.Response:
    """GET /api/v1/open-interest?exchange=&symbol=&limit=: the latest open interest per venue and symbol."""
    query = parse_query(request, OpenInterestQuery)
    exact, base = symbol_filter(query.symbol)
    args = (query.exchange, exact, base, capped(request, query.limit))
    rows = await fetch(request, OPEN_INTEREST_LATEST_QUERY, *args)
    return web.json_response({"open_interest": rows, "count": len(rows)})
