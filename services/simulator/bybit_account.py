"""Simulated Bybit v5 private side, answering from the desk's scripted accounts (accounts.py):

  GET /bybit/v5/order/realtime | /v5/position/list | /v5/account/wallet-balance | /v5/execution/list
      signed as https://bybit-exchange.github.io/docs/v5/guide says: X-BAPI-API-KEY, X-BAPI-TIMESTAMP,
      X-BAPI-RECV-WINDOW (5000 by default), X-BAPI-SIGN = hex HMAC-SHA256(secret, timestamp + key +
      recv_window + queryString); refused with the v5 envelope's retCode 10003 (unknown key),
      10002 (timestamp outside server_time - recv_window <= timestamp < server_time + 1000) or
      10004 (wrong sign). Timestamps are checked on the wall clock, as the receivers sign with it.
  /v5/private  {"op":"auth","args":[key, expires, hex HMAC-SHA256(secret, "GET/realtime" + expires)]}
      then {"op":"subscribe","args":["order","execution","position","wallet"]}: the account's
      changes in the topics' shapes (docs/v5/websocket/private/*); {"op":"ping"} -> pong.

Every account trades linear USDT perpetuals: <COIN>USDT. Mode auth_fail refuses every key.
"""
from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import msgspec
from aiohttp import web

from services.simulator.account_desk import ACCOUNT_DESK, AccountDesk
from services.simulator.accounts import QUOTE, Change, SimAccount, SimFill, SimOrder, SimPosition
from services.simulator.private_socket import PrivateSocket, serve_private

VENUE = "bybit"
PREFIX = "/bybit"  # the REST prefix rest_venues.py serves Bybit under
PRIVATE_PATH = "/v5/private"
DEFAULT_RECV_WINDOW_MS = 5000
FILL_WINDOW_MS = 7 * 24 * 3600 * 1000  # execution/list: "endTime - startTime <= 7 days"
STATUS = {"new": "New", "partially_filled": "PartiallyFilled", "filled": "Filled", "canceled": "Cancelled"}
CREATE_TYPE = {"": "CreateByUser", "liquidation": "CreateByTakeOver_PassThrough",
               "adl": "CreateByAdl_PassThrough"}
EXEC_TYPE = {"": "Trade", "liquidation": "BustTrade", "adl": "AdlTrade"}
REFUSED = {  # retCode -> retMsg (v5/error)
    10001: "Request parameter error.",
    10002: "The request time exceeds the time window range.",
    10003: "API key is invalid.",
    10004: "Error sign, please check your signature generation algorithm.",
}
_encoder = msgspec.json.Encoder()


def _text(value: Decimal) -> str:
    return format(value, "f")


def _side(side: str) -> str:
    return "Buy" if side == "buy" else "Sell"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


# --- the venue's shapes of the books ---


def order_item(order: SimOrder) -> dict[str, Any]:
    return {
        "category": "linear", "symbol": f"{order.coin}{QUOTE}", "orderId": str(order.order_id),
        "orderLinkId": order.client_id, "side": _side(order.side), "orderType": "Limit",
        "price": _text(order.price), "qty": _text(order.size), "cumExecQty": _text(order.filled),
        "avgPrice": _text(order.avg_price) if order.filled else "", "orderStatus": STATUS[order.status],
        "createType": CREATE_TYPE[order.closing], "cancelType": "UNKNOWN", "rejectReason": "EC_NoError",
        "leavesQty": _text(order.size - order.filled), "timeInForce": "GTC",
        "reduceOnly": bool(order.closing), "positionIdx": 0, "createdTime": str(order.updated_ms),
        "updatedTime": str(order.updated_ms),
    }


def execution_item(fill: SimFill, order: SimOrder | None) -> dict[str, Any]:
    return {
        "category": "linear", "symbol": f"{fill.coin}{QUOTE}", "orderId": str(fill.order_id),
        "orderLinkId": order.client_id if order else "", "side": _side(fill.side),
        "execId": str(fill.fill_id),
        "execPrice": _text(fill.price), "execQty": _text(fill.size), "execFee": _text(fill.fee),
        "execValue": _text(fill.price * fill.size), "execType": EXEC_TYPE[fill.closing],
        "execTime": str(fill.ts_ms), "isMaker": False, "feeRate": "0.0004", "orderType": "Limit",
        "orderPrice": _text(order.price) if order else "", "orderQty": _text(order.size) if order else "",
        "leavesQty": _text(order.size - order.filled) if order else "0",
        "createType": CREATE_TYPE[fill.closing], "markPrice": _text(fill.price), "feeCurrency": "",
    }


def position_item(position: SimPosition, ts_ms: int) -> dict[str, Any]:
    size = position.size
    return {
        "category": "linear", "symbol": f"{position.coin}{QUOTE}", "positionIdx": 0,
        "side": "" if not size else "Buy" if size > 0 else "Sell", "size": _text(abs(size)),
        "avgPrice": _text(position.entry_price), "entryPrice": _text(position.entry_price),
        "markPrice": _text(position.mark_price), "leverage": "10", "positionStatus": "Normal",
        "unrealisedPnl": _text((position.mark_price - position.entry_price) * size),
        "updatedTime": str(ts_ms), "createdTime": str(ts_ms),
    }


def wallet_item(total: Decimal, available: Decimal) -> dict[str, Any]:
    coin = {"coin": QUOTE, "walletBalance": _text(total), "equity": _text(total), "usdValue": _text(total),
            "availableToWithdraw": _text(available), "locked": "0", "totalOrderIM": "0",
            "totalPositionIM": _text(total - available)}
    return {"accountType": "UNIFIED", "totalWalletBalance": _text(total), "coin": [coin]}


def available_of(account: SimAccount) -> Decimal:
    """What accounts.py's balance changes call available: the balance less the positions' margin."""
    return account.balance - account._margin()


# --- signed REST ---


def _envelope(code: int, result: Any) -> web.Response:
    body = {"retCode": code, "retMsg": REFUSED.get(code, "OK"), "result": result, "retExtInfo": {},
            "time": now_ms()}
    return web.Response(body=_encoder.encode(body), content_type="application/json")


def refusal(request: web.Request, desk: AccountDesk) -> int:
    """0 when the call is signed as documented by a key the venue knows, else the retCode."""
    headers = request.headers
    key, stamp = headers.get("X-BAPI-API-KEY", ""), headers.get("X-BAPI-TIMESTAMP", "")
    window = headers.get("X-BAPI-RECV-WINDOW", str(DEFAULT_RECV_WINDOW_MS))
    sign = headers.get("X-BAPI-SIGN", "")
    known = desk.known(VENUE, key)
    if known is None:
        return 10003
    if not (stamp.isdigit() and window.isdigit()):
        return 10001
    server = now_ms()
    if not server - int(window) <= int(stamp) < server + 1000:
        return 10002
    query = request.raw_path.partition("?")[2]  # as sent, not decoded
    return 0 if hmac.compare_digest(_hex_hmac(known.secret, f"{stamp}{key}{window}{query}"), sign) else 10004


def _hex_hmac(secret: str, text: str) -> str:
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()


Answer = Callable[[web.Request, SimAccount], dict[str, Any] | int]


def _signed(answer: Answer) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        desk = request.app[ACCOUNT_DESK]
        code = refusal(request, desk)
        if code:
            return _envelope(code, {})
        result = answer(request, desk.book.account(VENUE, request.headers["X-BAPI-API-KEY"]))
        return _envelope(result, {}) if isinstance(result, int) else _envelope(0, result)

    return handler


def _page(request: web.Request, items: list[dict[str, Any]], limit: int) -> dict[str, Any]:
    start = int(request.query.get("cursor", "0") or "0")
    size = min(int(request.query.get("limit", str(limit))), limit)
    more = start + size < len(items)
    return {"category": request.query.get("category", ""), "list": items[start:start + size],
            "nextPageCursor": str(start + size) if more else ""}


def _linear_usdt(request: web.Request) -> bool:
    return request.query.get("category") == "linear" and request.query.get("settleCoin", QUOTE) == QUOTE


def open_orders(request: web.Request, account: SimAccount) -> dict[str, Any]:
    orders = account.open_orders() if _linear_usdt(request) else []
    orders.sort(key=lambda o: o.order_id, reverse=True)  # newest first
    return _page(request, [order_item(o) for o in orders], 50)


def positions(request: web.Request, account: SimAccount) -> dict[str, Any]:
    held = [p for p in account.positions.values() if p.size] if _linear_usdt(request) else []
    return _page(request, [position_item(p, now_ms()) for p in held], 200)


def wallet(request: web.Request, account: SimAccount) -> dict[str, Any] | int:
    if request.query.get("accountType") != "UNIFIED":
        return 10001
    return {"list": [wallet_item(account.balance, available_of(account))]}


def executions(request: web.Request, account: SimAccount) -> dict[str, Any] | int:
    end = int(request.query.get("endTime", str(now_ms())))
    start = int(request.query.get("startTime", str(end - FILL_WINDOW_MS)))
    if request.query.get("category") != "linear" or end - start > FILL_WINDOW_MS:
        return 10001
    fills = [f for f in reversed(account.fills) if start <= f.ts_ms <= end]  # newest first
    return _page(request, [execution_item(f, account.orders.get(f.order_id)) for f in fills], 100)


# --- the private socket ---


class Session:
    """One private socket's state: authed, and the topics it subscribed to."""

    def __init__(self, socket: PrivateSocket) -> None:
        self.socket = socket
        self.topics: set[str] = set()

    def reply(self, op: str, success: bool, message: str = "", req_id: str = "") -> None:
        body = {"success": success, "ret_msg": message, "op": op, "conn_id": self.socket.conn_id,
                "req_id": req_id}
        self.socket.send(_encoder.encode(body).decode())

    def auth(self, args: list[Any], req_id: str) -> None:
        desk, socket = self.socket.desk, self.socket
        key, expires, signature = (args + ["", "", ""])[:3]
        known = desk.known(VENUE, str(key))
        if known is None:
            return self.reply("auth", False, REFUSED[10003], req_id)
        if not str(expires).isdigit() or int(expires) <= now_ms():
            return self.reply("auth", False, "Params Error", req_id)  # an expired (or absent) expires
        if not hmac.compare_digest(_hex_hmac(known.secret, f"GET/realtime{expires}"), str(signature)):
            return self.reply("auth", False, REFUSED[10004], req_id)
        socket.attach(str(key), self.render)
        self.reply("auth", True, "", req_id)

    def render(self, change: Change) -> list[str]:
        """One change in its topic's shape, when subscribed."""
        topic, item = _topic_item(change, self.socket.account)
        if topic not in self.topics:
            return []
        push = {"id": f"{self.socket.conn_id}-{change.ts_ms}", "topic": topic, "creationTime": change.ts_ms,
                "data": [item]}
        return [_encoder.encode(push).decode()]


    def receive(self, text: str) -> None:
        socket = self.socket
        try:
            msg = msgspec.json.decode(text)
        except msgspec.DecodeError:
            return self.reply("", False, "error:unparsable request")
        op, args, req_id = msg.get("op", ""), msg.get("args") or [], str(msg.get("req_id", ""))
        if op == "ping":
            body = {"req_id": req_id, "op": "pong", "args": [str(now_ms())], "conn_id": socket.conn_id}
            return socket.send(_encoder.encode(body).decode())
        if op == "auth":
            return self.auth(list(args), req_id)
        if op == "subscribe" and socket.account is None:
            return self.reply("subscribe", False, "Request not authorized", req_id)
        if op == "subscribe":
            self.topics |= {str(a) for a in args}
            return self.reply("subscribe", True, "", req_id)
        self.reply(op, False, f"error:invalid op {op}", req_id)


def _topic_item(change: Change, account: SimAccount | None) -> tuple[str, dict[str, Any]]:
    if change.order is not None:
        return "order", order_item(change.order)
    if change.fill is not None:
        order = account.orders.get(change.fill.order_id) if account else None
        return "execution", execution_item(change.fill, order)
    if change.position is not None:
        return "position", position_item(change.position, change.ts_ms)
    total, available = change.balance or (Decimal(0), Decimal(0))
    return "wallet", wallet_item(total, available)


async def private_socket(request: web.Request) -> web.WebSocketResponse:
    return await serve_private(request, VENUE, lambda socket: Session(socket).receive)


def add_bybit_account(app: web.Application) -> None:
    """Bybit's signed REST under /bybit and its private socket, answering from app[ACCOUNT_DESK]."""
    for path, answer in (("/v5/order/realtime", open_orders), ("/v5/position/list", positions),
                         ("/v5/account/wallet-balance", wallet), ("/v5/execution/list", executions)):
        app.router.add_get(f"{PREFIX}{path}", _signed(answer))
    app.router.add_get(PRIVATE_PATH, private_socket)
