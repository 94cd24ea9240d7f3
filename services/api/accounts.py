"""REST on the user's own exchange accounts under /api/v1/accounts: the accounts, and each one's
orders, fills, balances, positions and the differences reconciliation found. Every route needs an
API key with account:read (services/api/api_keys.py), checked before anything else.

What the processor stored, never a credential: the `sealed` column is not read. Money is exact
decimal strings (NUMERIC::text), times µs.
"""
from __future__ import annotations

import json
from typing import Annotated, Any

import msgspec
from aiohttp import web

from services.api.api_keys import ACCOUNT_READ, KEY_CACHE, KeyCache, require_scope
from services.api.data import fetch
from services.api.params import Name, Window, capped, parse_query
from shared.accounts import ACCOUNT_ID, AccountAlerts

AccountId = Annotated[str, msgspec.Meta(
    pattern="^" + ACCOUNT_ID.pattern, description="an account id: a-z, 0-9, '_' or '-', 1 to 40")]

ACCOUNTS_QUERY = """
SELECT id, exchange, scope, address, sealed IS NOT NULL AS credentials, alerts::text AS alerts,
       created_at, updated_at
FROM accounts ORDER BY id
"""
ACCOUNT_EXISTS_QUERY = "SELECT id FROM accounts WHERE id = $1"
# each: $1 account, $2 from (inclusive), $3 to (exclusive), $4 symbol, asset or kind (NULL: all), $5 limit
ORDERS_QUERY = """
SELECT exchange, order_id, client_id, symbol, side, order_type, price::text AS price,
       avg_price::text AS avg_price, size::text AS size, filled::text AS filled, status, closing, ts, recv_ts
FROM account_orders
WHERE account = $1 AND ($2::bigint IS NULL OR ts >= $2) AND ($3::bigint IS NULL OR ts < $3)
  AND ($4::text IS NULL OR symbol = $4)
ORDER BY ts DESC, order_id DESC
LIMIT $5
"""
FILLS_QUERY = """
SELECT exchange, fill_id, order_id, symbol, side, price::text AS price, size::text AS size, fee::text AS fee,
       fee_asset, realized_pnl::text AS realized_pnl, closing, ts, recv_ts
FROM account_fills
WHERE account = $1 AND ($2::bigint IS NULL OR ts >= $2) AND ($3::bigint IS NULL OR ts < $3)
  AND ($4::text IS NULL OR symbol = $4)
ORDER BY ts DESC, fill_id DESC
LIMIT $5
"""
BALANCES_QUERY = """
SELECT exchange, asset, total::text AS total, available::text AS available, ts
FROM account_balances
WHERE account = $1 AND ($2::bigint IS NULL OR ts >= $2) AND ($3::bigint IS NULL OR ts < $3)
  AND ($4::text IS NULL OR asset = $4)
ORDER BY ts DESC, exchange, asset
LIMIT $5
"""
BALANCE_HISTORY_QUERY = """
SELECT exchange, asset, total::text AS total, available::text AS available, ts
FROM account_balance_history
WHERE account = $1 AND ($2::bigint IS NULL OR ts >= $2) AND ($3::bigint IS NULL OR ts < $3)
  AND ($4::text IS NULL OR asset = $4)
ORDER BY ts DESC, exchange, asset
LIMIT $5
"""
POSITIONS_QUERY = """
SELECT exchange, symbol, size::text AS size, entry_price::text AS entry_price,
       mark_price::text AS mark_price, unrealized_pnl::text AS unrealized_pnl, leverage::text AS leverage, ts
FROM account_positions
WHERE account = $1 AND ($2::bigint IS NULL OR ts >= $2) AND ($3::bigint IS NULL OR ts < $3)
  AND ($4::text IS NULL OR symbol = $4)
ORDER BY ts DESC, exchange, symbol
LIMIT $5
"""
POSITION_HISTORY_QUERY = """
SELECT exchange, symbol, size::text AS size, entry_price::text AS entry_price,
       mark_price::text AS mark_price, unrealized_pnl::text AS unrealized_pnl, leverage::text AS leverage, ts
FROM account_position_history
WHERE account = $1 AND ($2::bigint IS NULL OR ts >= $2) AND ($3::bigint IS NULL OR ts < $3)
  AND ($4::text IS NULL OR symbol = $4)
ORDER BY ts DESC, exchange, symbol
LIMIT $5
"""
DIFFERENCES_QUERY = """
SELECT exchange, ts, kind, item, stored, venue
FROM account_differences
WHERE account = $1 AND ($2::bigint IS NULL OR ts >= $2) AND ($3::bigint IS NULL OR ts < $3)
  AND ($4::text IS NULL OR kind = $4)
ORDER BY ts DESC, kind, item
LIMIT $5
"""

_alerts = msgspec.json.Decoder(AccountAlerts)


class AccountWindow(Window, frozen=True, kw_only=True):
    """GET /api/v1/accounts/{id}/orders|fills?from=&to=&limit=&symbol="""

    id: AccountId
    symbol: Name | None = None


class StateWindow(Window, frozen=True, kw_only=True):
    """?history=true: every stored state in from/to rather than the latest of each."""

    id: AccountId
    history: bool = False


class BalancesWindow(StateWindow, frozen=True, kw_only=True):
    """GET /api/v1/accounts/{id}/balances?from=&to=&limit=&asset=&history="""

    asset: Name | None = None


class PositionsWindow(StateWindow, frozen=True, kw_only=True):
    """GET /api/v1/accounts/{id}/positions?from=&to=&limit=&symbol=&history="""

    symbol: Name | None = None


class DifferencesWindow(Window, frozen=True, kw_only=True):
    """GET /api/v1/accounts/{id}/differences?from=&to=&limit=&kind="""

    id: AccountId
    kind: Name | None = None


def add_routes(app: web.Application) -> None:
    """The account routes, and the API key cache they check keys with (also /ws's)."""
    app[KEY_CACHE] = KeyCache()
    app.router.add_get("/api/v1/accounts", accounts)
    for part, handler in (("orders", orders), ("fills", fills), ("balances", balances),
                          ("positions", positions), ("differences", differences)):
        app.router.add_get(f"/api/v1/accounts/{{id}}/{part}", handler)


def _alerts_of(text: str) -> Any:
    """The account's alert settings with their defaults filled in; as stored when they do not parse."""
    try:
        return msgspec.to_builtins(_alerts.decode(text))
    except (msgspec.DecodeError, msgspec.ValidationError):
        return json.loads(text)


async def accounts(request: web.Request) -> web.Response:
    """GET /api/v1/accounts: id, exchange, scope, address, whether credentials are stored, alerts."""
    await require_scope(request, ACCOUNT_READ)
    rows = await fetch(request, ACCOUNTS_QUERY)
    for row in rows:
        row["alerts"] = _alerts_of(row["alerts"])
    return web.json_response({"accounts": rows, "count": len(rows)})


async def _rows(request: web.Request, query: str, account: str, q: Window, match: str | None
                ) -> list[dict[str, Any]]:
    """An account's rows in ?from=&to=, newest first; 404 when there is no such account."""
    rows = await fetch(request, query, account, q.start, q.end, match, capped(request, q.limit))
    if not rows and not await fetch(request, ACCOUNT_EXISTS_QUERY, account):
        raise web.HTTPNotFound(text=json.dumps({"error": f"unknown account {account}"}),
                               content_type="application/json")
    return rows


async def _window(request: web.Request, query: str, name: str) -> web.Response:
    await require_scope(request, ACCOUNT_READ)
    q = parse_query(request, AccountWindow)
    rows = await _rows(request, query, q.id, q, q.symbol)
    return web.json_response({"account": q.id, name: rows, "count": len(rows)})


async def orders(request: web.Request) -> web.Response:
    """GET /api/v1/accounts/{id}/orders?from=&to=&limit=&symbol=: the latest state of each order
    updated in the range, newest first."""
    return await _window(request, ORDERS_QUERY, "orders")


async def fills(request: web.Request) -> web.Response:
    """GET /api/v1/accounts/{id}/fills?from=&to=&limit=&symbol=: newest first."""
    return await _window(request, FILLS_QUERY, "fills")


async def balances(request: web.Request) -> web.Response:
    """GET /api/v1/accounts/{id}/balances?asset=&history=: the latest balance of each asset, or
    with history=true every stored one in from/to; newest first."""
    await require_scope(request, ACCOUNT_READ)
    q = parse_query(request, BalancesWindow)
    query = BALANCE_HISTORY_QUERY if q.history else BALANCES_QUERY
    rows = await _rows(request, query, q.id, q, q.asset)
    return web.json_response({"account": q.id, "history": q.history, "balances": rows, "count": len(rows)})


async def positions(request: web.Request) -> web.Response:
    """GET /api/v1/accounts/{id}/positions?symbol=&history=: the open positions (a closed one is
    deleted), or with history=true every stored state in from/to; newest first."""
    await require_scope(request, ACCOUNT_READ)
    q = parse_query(request, PositionsWindow)
    query = POSITION_HISTORY_QUERY if q.history else POSITIONS_QUERY
    rows = await _rows(request, query, q.id, q, q.symbol)
    return web.json_response({"account": q.id, "history": q.history, "positions": rows, "count": len(rows)})


async def differences(request: web.Request) -> web.Response:
    """GET /api/v1/accounts/{id}/differences?from=&to=&limit=&kind=: what reconciliations found
    wrong in the stored state (kind missed_fill, order, balance, position), newest first."""
    await require_scope(request, ACCOUNT_READ)
    q = parse_query(request, DifferencesWindow)
    rows = await _rows(request, DIFFERENCES_QUERY, q.id, q, q.kind)
    return web.json_response({"account": q.id, "differences": rows, "count": len(rows)})
