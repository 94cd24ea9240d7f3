"""Simulated Deribit private side: public/auth with client credentials (checked against the desk's
known keys) and a token refresh, private/subscribe to the user.* channels of the authorized account
on the /ws/api/v2 socket, and the private HTTP methods under /deribit/api/v2/, all answered from the
account desk's books (account_desk.py), so a fill made while a socket was cut is in the REST answers.

The desk's scripted accounts trade BTC and ETH; here they are Deribit's linear USDC perpetuals
(BTC_USDC-PERPETUAL: amounts in the coin, the account in USDC). Numbers are JSON numbers, as Deribit
sends them. A refused key: {"code":13004,"message":"invalid_credentials"}; a request without a good
token: {"code":13009,"message":"unauthorized"} (https://docs.deribit.com/articles/errors); over HTTP
both come with status 400.
"""
from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import msgspec
from aiohttp import web

from services.simulator.account_desk import ACCOUNT_DESK, AccountDesk
from services.simulator.accounts import Change, SimAccount, SimFill, SimOrder, SimPosition
from services.simulator.deribit import PRIVATE
from services.simulator.venue import Session

VENUE = "deribit"
CURRENCY = "USDC"
TOKEN_LIFE_S = 900  # access tokens last about 15 minutes
LEVERAGE = 10  # the desk's margin is a tenth of the notional
INVALID_CREDENTIALS = {"code": 13004, "message": "invalid_credentials"}
UNAUTHORIZED = {"code": 13009, "message": "unauthorized"}
STATES = {"new": "open", "partially_filled": "open", "filled": "filled", "canceled": "cancelled"}
_encoder = msgspec.json.Encoder(decimal_format="number")
Answer = dict[str, Any]


def instrument(coin: str) -> str:
    return f"{coin}_{CURRENCY}-PERPETUAL"


def order_wire(order: SimOrder) -> Answer:
    return {
        "order_id": str(order.order_id), "instrument_name": instrument(order.coin), "direction": order.side,
        "amount": order.size, "filled_amount": order.filled, "price": order.price,
        "average_price": order.avg_price, "order_state": STATES[order.status],
        "order_type": "market" if order.closing else "limit", "label": order.client_id,
        "is_liquidation": order.closing == "liquidation", "is_rebalance": False, "replaced": False,
        "time_in_force": "good_til_cancelled", "post_only": False, "reduce_only": bool(order.closing),
        "max_show": order.size, "api": True, "creation_timestamp": order.updated_ms,
        "last_update_timestamp": order.updated_ms,
    }


def trade_wire(fill: SimFill, mark: Decimal) -> Answer:
    wire: Answer = {
        "trade_id": str(fill.fill_id), "trade_seq": fill.fill_id, "order_id": str(fill.order_id),
        "instrument_name": instrument(fill.coin), "direction": fill.side, "price": fill.price,
        "amount": fill.size, "fee": fill.fee, "fee_currency": CURRENCY, "timestamp": fill.ts_ms,
        "liquidity": "T", "profit_loss": fill.realized_pnl, "state": "filled", "tick_direction": 0,
        "mark_price": mark, "index_price": mark, "order_type": "market" if fill.closing else "limit",
        "post_only": False, "reduce_only": bool(fill.closing), "matching_id": None,
    }
    if fill.closing == "liquidation":
        wire["liquidation"] = "T"  # the taker side, ours, was under liquidation
    return wire


def funds_wire(currency: str, total: Decimal, available: Decimal) -> Answer:
    return {"currency": currency, "balance": total, "equity": total, "margin_balance": total,
            "available_funds": available, "available_withdrawal_funds": available,
            "initial_margin": total - available, "maintenance_margin": (total - available) / 2,
            "total_pl": 0, "session_upl": 0, "session_rpl": 0, "delta_total": 0,
            "portfolio_margining_enabled": False}


def available(account: SimAccount) -> Decimal:
    return account.balance - account._margin()  # the desk's own figure, as its balance changes say


def position_wire(position: SimPosition) -> Answer:
    notional = abs(position.size) * position.mark_price
    return {
        "instrument_name": instrument(position.coin), "kind": "future", "size": position.size,
        "size_currency": position.size, "average_price": position.entry_price,
        "mark_price": position.mark_price, "index_price": position.mark_price,
        "settlement_price": position.mark_price,
        "floating_profit_loss": (position.mark_price - position.entry_price) * position.size,
        "direction": "buy" if position.size > 0 else "sell", "leverage": LEVERAGE, "delta": position.size,
        "initial_margin": notional / LEVERAGE, "maintenance_margin": notional / LEVERAGE / 2,
        "open_orders_margin": 0, "realized_profit_loss": 0, "total_profit_loss": 0,
    }


def _rpc(request_id: Any, result: Any = None, error: Answer | None = None) -> str:
    body: Answer = {"jsonrpc": "2.0", "id": request_id}
    body.update({"error": error} if error is not None else {"result": result})
    body.update(usIn=0, usOut=0, usDiff=0, testnet=True)
    return _encoder.encode(body).decode()


def _notify(channel: str, data: Any) -> str:
    return _encoder.encode({"jsonrpc": "2.0", "method": "subscription",
                            "params": {"channel": channel, "data": data}}).decode()


class DeribitPrivate:
    """Tokens issued by public/auth (socket and HTTP alike) and the user.* pushes of each socket."""

    def __init__(self, desk: AccountDesk) -> None:
        self.desk = desk
        self.access: dict[str, str] = {}  # access token -> key
        self.refresh: dict[str, str] = {}  # refresh token -> key

    def authorize(self, params: dict[str, Any]) -> tuple[str, Answer]:
        """public/auth -> (key, result), or ("", error)."""
        grant = params.get("grant_type")
        if grant == "client_credentials":
            key, secret = str(params.get("client_id", "")), str(params.get("client_secret", ""))
            known = self.desk.known(VENUE, key)
            if known is None or not hmac.compare_digest(known.secret.encode(), secret.encode()):
                return "", INVALID_CREDENTIALS
        elif grant == "refresh_token":
            key = self.refresh.pop(str(params.get("refresh_token", "")), "")
            if not key:
                return "", UNAUTHORIZED
            if self.desk.known(VENUE, key) is None:
                return "", INVALID_CREDENTIALS
        else:
            return "", {"code": -32602, "message": "Invalid params", "data": {"param": "grant_type"}}
        access, refresh = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        self.access[access], self.refresh[refresh] = key, key
        return key, {"access_token": access, "refresh_token": refresh, "expires_in": TOKEN_LIFE_S,
                     "scope": "connection mainaccount", "token_type": "bearer", "enabled_features": []}

    def key_of(self, token: str) -> str:
        """The key a token was issued for, while the venue still knows that key."""
        key = self.access.get(token, "")
        return key if key and self.desk.known(VENUE, key) is not None else ""

    # --- the socket ---

    def receive(self, method: str, params: dict[str, Any], request_id: Any, session: Session) -> None:
        if method == "public/auth":
            key, answer = self.authorize(params)
            if key:
                session.extra["deribit_key"] = key
            session.send(_rpc(request_id, error=answer) if not key else _rpc(request_id, answer))
        elif method == "private/subscribe":
            self.subscribe([str(c) for c in params.get("channels") or []], request_id, session)
        else:
            session.send(_rpc(request_id, error={"code": -32601, "message": "Method not found"}))

    def subscribe(self, channels: list[str], request_id: Any, session: Session) -> None:
        key = session.extra.get("deribit_key", "")
        if not key or self.desk.known(VENUE, key) is None:
            session.send(_rpc(request_id, error=UNAUTHORIZED))
            return
        kinds = {c.split(".")[1] if c.startswith("user.") else "": c for c in channels}
        if not channels or set(kinds) - {"orders", "trades", "portfolio"}:
            error = {"code": -32602, "message": "Invalid params", "data": {"reason": "invalid channel"}}
            session.send(_rpc(request_id, error=error))
            return
        subscribed: dict[str, str] = session.extra.setdefault("deribit_channels", {})
        if not subscribed:
            self._listen(key, session)
        subscribed.update(kinds)
        session.send(_rpc(request_id, channels))

    def _listen(self, key: str, session: Session) -> None:
        """Push the account's changes on this socket until it closes; `cut` closes it."""
        account = self.desk.book.account(VENUE, key)
        ws, request = session.state.open[session]
        channels: dict[str, str] = session.extra.setdefault("deribit_channels", {})

        def push(change: Change) -> None:
            if session not in session.state.open:
                stop()
                return
            for channel, data in self.notifications(change, account, channels):
                session.send(_notify(channel, data))

        def stop(*_: Any) -> None:
            if push in account.listeners:
                account.listeners.remove(push)
            self.desk.closed(VENUE, key, ws.close)

        account.listeners.append(push)
        self.desk.opened(VENUE, key, ws.close)
        request.task.add_done_callback(stop)

    @staticmethod
    def notifications(change: Change, account: SimAccount, channels: dict[str, str]) -> list[tuple[str, Any]]:
        if change.order is not None and "orders" in channels:
            return [(channels["orders"], order_wire(change.order))]
        if change.fill is not None and "trades" in channels:
            mark = account.positions[change.fill.coin].mark_price
            return [(channels["trades"], [trade_wire(change.fill, mark)])]
        if change.balance is not None and "portfolio" in channels:
            return [(channels["portfolio"], funds_wire(CURRENCY, *change.balance))]
        return []


# --- HTTP: GET (or POST) /deribit/api/v2/{public|private}/{method} ---


def open_orders(account: SimAccount, params: dict[str, Any]) -> Any:
    return [order_wire(o) for o in account.open_orders()] if params.get("currency") == CURRENCY else []


def account_summary(account: SimAccount, params: dict[str, Any]) -> Any:
    currency = str(params.get("currency", "BTC"))
    if currency != CURRENCY:
        return funds_wire(currency, Decimal(0), Decimal(0))
    return funds_wire(CURRENCY, account.balance, available(account))


def positions(account: SimAccount, params: dict[str, Any]) -> Any:
    if params.get("currency", "any") not in ("any", CURRENCY):
        return []
    return [position_wire(p) for _, p in sorted(account.positions.items()) if p.size]


def user_trades(account: SimAccount, params: dict[str, Any]) -> Any:
    """The trades from start_timestamp to end_timestamp (both inclusive), oldest first, `count` at most."""
    start, end = int(params.get("start_timestamp", 0)), int(params.get("end_timestamp", 2**62))
    count = min(int(params.get("count", 10)), 1000)
    ours = params.get("currency") == CURRENCY
    found = [f for f in account.fills if start <= f.ts_ms <= end] if ours else []
    marks = {coin: p.mark_price for coin, p in account.positions.items()}
    return {"trades": [trade_wire(f, marks[f.coin]) for f in found[:count]], "has_more": len(found) > count}


METHODS: dict[str, Callable[[SimAccount, dict[str, Any]], Any]] = {
    "private/get_open_orders_by_currency": open_orders,
    "private/get_account_summary": account_summary,
    "private/get_positions": positions,
    "private/get_user_trades_by_currency_and_time": user_trades,
}


def _http(request_id: Any, result: Any = None, error: Answer | None = None) -> web.Response:
    return web.Response(text=_rpc(request_id, result, error), status=400 if error is not None else 200,
                        content_type="application/json")


async def http_method(request: web.Request) -> web.Response:
    """A JSON-RPC request over HTTP: params from the query string and/or a JSON-RPC body."""
    private: DeribitPrivate = request.app[PRIVATE]  # type: ignore[assignment]
    method = f"{request.match_info['access']}/{request.match_info['method']}"
    params: dict[str, Any] = dict(request.query)
    request_id: Any = None
    if request.can_read_body:
        try:
            body = msgspec.json.decode(await request.read())
        except msgspec.DecodeError:
            return _http(None, error={"code": -32700, "message": "Parse error"})
        if isinstance(body, dict):
            params.update(body.get("params") or {})
            request_id = body.get("id")
    if method == "public/auth":
        key, answer = private.authorize(params)
        return _http(request_id, answer) if key else _http(request_id, error=answer)
    answer_of = METHODS.get(method)
    if answer_of is None:
        return _http(request_id, error={"code": -32601, "message": "Method not found"})
    key = private.key_of(request.headers.get("Authorization", "").removeprefix("Bearer "))
    if not key:
        return _http(request_id, error=UNAUTHORIZED)
    try:
        return _http(request_id, answer_of(private.desk.book.account(VENUE, key), params))
    except ValueError:
        return _http(request_id, error={"code": -32602, "message": "Invalid params"})


def add_deribit_account(app: web.Application) -> DeribitPrivate:
    """The private side on the app: the socket's public/auth and private/* (deribit.py hands them
    over), and the HTTP methods under /deribit/api/v2/."""
    private = DeribitPrivate(app[ACCOUNT_DESK])
    app[PRIVATE] = private
    for verb in ("GET", "POST"):
        app.router.add_route(verb, "/deribit/api/v2/{access:public|private}/{method}", http_method)
    return private
