"""Simulated OKX v5 private side, answering from the desk's scripted accounts (accounts.py):

  GET /okx/api/v5/trade/orders-pending | /trade/fills | /account/positions | /account/balance
      signed as https://www.okx.com/docs-v5/en/#overview-rest-authentication says: OK-ACCESS-KEY,
      OK-ACCESS-PASSPHRASE, OK-ACCESS-TIMESTAMP (ISO 8601, within 30 s), OK-ACCESS-SIGN =
      Base64(HMAC-SHA256(secret, timestamp + method + requestPath + body)), requestPath being the
      venue's own (without /okx); refused with HTTP 401 and the venue's code: 50103/50104/50106/
      50107 (a header missing), 50111 (unknown key), 50105 (passphrase), 50112 (timestamp unreadable),
      50102 (timestamp expired), 50113 (wrong sign). Timestamps are checked on the wall clock.
  /ws/v5/private  {"op":"login","args":[{apiKey, passphrase, timestamp (s), sign =
      Base64(HMAC-SHA256(secret, timestamp + "GET" + "/users/self/verify"))}]}, answered
      {"event":"login","code":"0"} or an error event (60005, 60006, 60007, 60024); a subscription
      before the login is refused with 60011; then the orders, positions and account channels
      carry the account's changes (positions and account start with a snapshot); "ping" -> "pong".

Every account trades linear USDT swaps, <COIN>-USDT-SWAP, sized in contracts of the simulated
market's ctVal (services/simulator/okx.py). A liquidation or ADL fill carries tradeId "0" on
the orders channel and a negative tradeId in trade/fills, as OKX's pages say.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

import msgspec
from aiohttp import web

from services.simulator.account_desk import ACCOUNT_DESK, AccountDesk
from services.simulator.accounts import QUOTE, Change, SimAccount, SimFill, SimOrder, SimPosition
from services.simulator.okx import CT_VAL
from services.simulator.private_socket import PrivateSocket, serve_private

VENUE = "okx"
PREFIX = "/okx"  # the REST prefix rest_venues.py serves OKX under
PRIVATE_PATH = "/ws/v5/private"
TIMESTAMP_WINDOW_S = 30  # "The request will expire 30 seconds after the timestamp"
STATE = {"new": "live", "partially_filled": "partially_filled", "filled": "filled", "canceled": "canceled"}
CATEGORY = {"": "normal", "liquidation": "full_liquidation", "adl": "adl"}
SUBTYPE = {("", "buy"): "1", ("", "sell"): "2", ("liquidation", "buy"): "106",
           ("liquidation", "sell"): "107", ("adl", "buy"): "127", ("adl", "sell"): "128"}
REST_REFUSED = {  # code -> msg, all HTTP 401 (error code page, "REST API / Public")
    "50102": "Timestamp request expired", "50103": 'Request header "OK-ACCESS-KEY" cannot be empty.',
    "50104": 'Request header "OK-ACCESS-PASSPHRASE" cannot be empty.',
    "50105": 'Request header "OK-ACCESS-PASSPHRASE" incorrect.',
    "50106": 'Request header "OK-ACCESS-SIGN" cannot be empty.',
    "50107": 'Request header "OK-ACCESS-TIMESTAMP" cannot be empty.', "50111": "Invalid OK-ACCESS-KEY",
    "50112": "Invalid OK-ACCESS-TIMESTAMP", "50113": "Invalid Sign",
}
LOGIN_REFUSED = {"60005": "Invalid apiKey", "60006": "Timestamp request expired", "60007": "Invalid sign",
                 "60024": "Wrong passphrase"}  # websocket error codes
UID = "77982378738415879"  # the push's arg.uid (the documentation's example user)
_encoder = msgspec.json.Encoder()


def _text(value: Decimal) -> str:
    return format(value, "f")


def _b64_hmac(secret: str, text: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), text.encode(), hashlib.sha256).digest()).decode()


def inst_id(coin: str) -> str:
    return f"{coin}-{QUOTE}-SWAP"


def contracts(coin: str, size: Decimal) -> str:
    return _text(size / CT_VAL.get(coin, Decimal(1)))


# --- the venue's shapes of the books ---


def order_item(order: SimOrder, fill: SimFill | None = None) -> dict[str, Any]:
    """An orders channel / orders-pending item; with `fill`, the fill it reports."""
    item: dict[str, Any] = {
        "instType": "SWAP", "instId": inst_id(order.coin), "ordId": str(order.order_id),
        "clOrdId": order.client_id, "px": _text(order.price), "sz": contracts(order.coin, order.size),
        "ordType": "limit", "side": order.side, "posSide": "net", "tdMode": "cross",
        "accFillSz": contracts(order.coin, order.filled),
        "avgPx": _text(order.avg_price) if order.filled else "",
        "state": STATE[order.status], "category": CATEGORY[order.closing], "lever": "10", "feeCcy": QUOTE,
        "tradeId": "", "fillSz": "", "fillPx": "", "fillTime": "", "fillFee": "", "fillFeeCcy": "",
        "fillPnl": "",
        "cTime": str(order.updated_ms), "uTime": str(order.updated_ms),
    }
    if fill is not None:  # a liquidation or ADL order's fill: tradeId "0" (trade/fills, "tradeId")
        item.update(tradeId="0" if fill.closing else str(fill.fill_id),
                    fillSz=contracts(fill.coin, fill.size),
                    fillPx=_text(fill.price), fillTime=str(fill.ts_ms), fillFee=_text(-fill.fee),
                    fillFeeCcy=QUOTE, fillPnl=_text(fill.realized_pnl), uTime=str(fill.ts_ms))
    return item


def fill_item(fill: SimFill) -> dict[str, Any]:
    """A trade/fills item: fee negative when charged; liquidation and ADL fills' tradeId negative."""
    return {
        "instType": "SWAP", "instId": inst_id(fill.coin),
        "tradeId": f"-{fill.fill_id}" if fill.closing else str(fill.fill_id),
        "ordId": str(fill.order_id), "clOrdId": "", "billId": str(fill.fill_id),
        "subType": SUBTYPE[(fill.closing, fill.side)], "tag": "", "fillPx": _text(fill.price),
        "fillSz": contracts(fill.coin, fill.size), "fillPnl": _text(fill.realized_pnl), "side": fill.side,
        "posSide": "net", "execType": "" if fill.closing else "T", "feeCcy": QUOTE,
        "fee": _text(-fill.fee),
        "ts": str(fill.ts_ms), "fillTime": str(fill.ts_ms),
    }


def position_item(position: SimPosition, ts_ms: int) -> dict[str, Any]:
    return {
        "instType": "SWAP", "instId": inst_id(position.coin), "mgnMode": "cross", "posSide": "net",
        "pos": contracts(position.coin, position.size), "ccy": QUOTE, "avgPx": _text(position.entry_price),
        "markPx": _text(position.mark_price), "lever": "10", "posId": f"sim-{position.coin}",
        "upl": _text((position.mark_price - position.entry_price) * position.size),
        "cTime": str(ts_ms), "uTime": str(ts_ms),
    }


def account_item(total: Decimal, available: Decimal, ts_ms: int) -> dict[str, Any]:
    detail = {"ccy": QUOTE, "cashBal": _text(total), "eq": _text(total), "availBal": _text(available),
              "availEq": _text(available), "frozenBal": _text(total - available), "uTime": str(ts_ms)}
    return {"totalEq": _text(total), "uTime": str(ts_ms), "details": [detail]}


def available_of(account: SimAccount) -> Decimal:
    """What accounts.py's balance changes call available: the balance less the positions' margin."""
    return account.balance - account._margin()


def now_ms() -> int:
    return time.time_ns() // 1_000_000


# --- signed REST ---


def refusal(request: web.Request, desk: AccountDesk) -> str:
    """"" when the call is signed as documented by a key the venue knows, else the venue's code."""
    headers = request.headers
    key, passphrase = headers.get("OK-ACCESS-KEY", ""), headers.get("OK-ACCESS-PASSPHRASE", "")
    sign, stamp = headers.get("OK-ACCESS-SIGN", ""), headers.get("OK-ACCESS-TIMESTAMP", "")
    needed = (("50103", key), ("50104", passphrase), ("50106", sign), ("50107", stamp))
    missing = [code for code, value in needed if not value]
    if missing:
        return missing[0]
    known = desk.known(VENUE, key)
    if known is None:
        return "50111"
    if not hmac.compare_digest(known.passphrase, passphrase):
        return "50105"
    try:
        moment = datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return "50112"
    if abs(time.time() - moment) > TIMESTAMP_WINDOW_S:
        return "50102"
    request_path = request.raw_path.removeprefix(PREFIX)  # the venue's own path, with its query as sent
    return "" if hmac.compare_digest(_b64_hmac(known.secret, f"{stamp}GET{request_path}"), sign) else "50113"


Answer = Callable[[web.Request, SimAccount], list[dict[str, Any]]]


def _signed(answer: Answer) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        desk = request.app[ACCOUNT_DESK]
        code = refusal(request, desk)
        if code:
            body = _encoder.encode({"msg": REST_REFUSED[code], "code": code})
            return web.Response(body=body, status=401, content_type="application/json")
        data = answer(request, desk.book.account(VENUE, request.headers["OK-ACCESS-KEY"]))
        return web.Response(body=_encoder.encode({"code": "0", "msg": "", "data": data}),
                            content_type="application/json")

    return handler


def _newest_first(request: web.Request, items: list[dict[str, Any]], cursor: str) -> list[dict[str, Any]]:
    """Newest first, older than `after` (the cursor field of the previous page's last item)."""
    after = request.query.get("after", "")
    items = [i for i in items if not after or int(i[cursor]) < int(after)]
    items.sort(key=lambda i: int(i[cursor]), reverse=True)
    return items[:min(int(request.query.get("limit", "100")), 100)]


def _swaps(request: web.Request) -> bool:
    return request.query.get("instType", "SWAP") in ("SWAP", "ANY")


def orders_pending(request: web.Request, account: SimAccount) -> list[dict[str, Any]]:
    items = [order_item(o) for o in account.open_orders()] if _swaps(request) else []
    return _newest_first(request, items, "ordId")


def fills(request: web.Request, account: SimAccount) -> list[dict[str, Any]]:
    begin, end = int(request.query.get("begin", "0")), int(request.query.get("end", str(now_ms())))
    items = [fill_item(f) for f in account.fills if begin <= f.ts_ms <= end] if _swaps(request) else []
    return _newest_first(request, items, "billId")


def positions(request: web.Request, account: SimAccount) -> list[dict[str, Any]]:
    held = [p for p in account.positions.values() if p.size] if _swaps(request) else []
    return [position_item(p, now_ms()) for p in held]


def balance(request: web.Request, account: SimAccount) -> list[dict[str, Any]]:
    return [account_item(account.balance, available_of(account), now_ms())]


# --- the private socket ---


class Session:
    """One private socket's state: logged in, and the channels it subscribed to."""

    def __init__(self, socket: PrivateSocket) -> None:
        self.socket = socket
        self.channels: set[str] = set()

    def event(self, event: str, code: str = "0", msg: str = "", **more: Any) -> None:
        body = {"event": event, **more, "code": code, "msg": msg, "connId": self.socket.conn_id}
        self.socket.send(_encoder.encode(body).decode())

    def refuse(self, code: str) -> None:
        self.event("error", code, LOGIN_REFUSED[code])

    def login(self, arg: dict[str, Any]) -> None:
        key, stamp = str(arg.get("apiKey", "")), str(arg.get("timestamp", ""))
        known = self.socket.desk.known(VENUE, key)
        if known is None:
            return self.refuse("60005")
        if not hmac.compare_digest(known.passphrase, str(arg.get("passphrase", ""))):
            return self.refuse("60024")
        if not stamp.isdigit() or abs(time.time() - int(stamp)) > TIMESTAMP_WINDOW_S:
            return self.refuse("60006")
        expected = _b64_hmac(known.secret, f"{stamp}GET/users/self/verify")
        if not hmac.compare_digest(expected, str(arg.get("sign", ""))):
            return self.refuse("60007")
        self.socket.attach(key, self.render)
        self.event("login")

    def subscribe(self, args: list[dict[str, Any]]) -> None:
        account = self.socket.account
        if account is None:
            return self.event("error", "60011", "Please log in")
        for arg in args:
            channel = str(arg.get("channel", ""))
            self.channels.add(channel)
            self.event("subscribe", arg=arg)
            ts = now_ms()  # positions and account start with a snapshot ("Initial snapshot will be pushed")
            if channel == "positions":
                items = [position_item(p, ts) for p in account.positions.values()]
                self.push("positions", items)
            elif channel == "account":
                self.push("account", [account_item(account.balance, available_of(account), ts)])

    def push(self, channel: str, data: list[dict[str, Any]]) -> None:
        self.socket.send(_push(channel, data))

    def render(self, change: Change) -> list[str]:
        """One change on its channel, when subscribed; a fill reads as the order's update reporting it."""
        channel, item = _channel_item(change, self.socket.account)
        if channel not in self.channels:
            return []
        return [_push(channel, [item])]

    def receive(self, text: str) -> None:
        if text == "ping":
            return self.socket.send("pong")
        try:
            msg = msgspec.json.decode(text)
        except msgspec.DecodeError:
            return self.event("error", "60012", f"Invalid request: {text[:100]}")
        op, args = msg.get("op"), msg.get("args") or [{}]
        if op == "login":
            return self.login(args[0])
        if op == "subscribe":
            return self.subscribe(args)
        self.event("error", "60019", f"Invalid op: {op}")


def _push(channel: str, data: list[dict[str, Any]]) -> str:
    arg = {"channel": channel, "uid": UID} | ({} if channel == "account" else {"instType": "ANY"})
    return _encoder.encode({"arg": arg, "data": data}).decode()


def _channel_item(change: Change, account: SimAccount | None) -> tuple[str, dict[str, Any]]:
    if change.order is not None:
        return "orders", order_item(change.order)
    if change.fill is not None:
        order = account.orders.get(change.fill.order_id) if account else None
        return ("orders", order_item(order, change.fill)) if order else ("", {})
    if change.position is not None:
        return "positions", position_item(change.position, change.ts_ms)
    total, available = change.balance or (Decimal(0), Decimal(0))
    return "account", account_item(total, available, change.ts_ms)


async def private_socket(request: web.Request) -> web.WebSocketResponse:
    return await serve_private(request, VENUE, lambda socket: Session(socket).receive)


def add_okx_account(app: web.Application) -> None:
    """OKX's signed REST under /okx and its private socket, answering from app[ACCOUNT_DESK]."""
    routes = (("/api/v5/trade/orders-pending", orders_pending), ("/api/v5/trade/fills", fills),
              ("/api/v5/account/positions", positions), ("/api/v5/account/balance", balance))
    for path, answer in routes:
        app.router.add_get(f"{PREFIX}{path}", _signed(answer))
    app.router.add_get(PRIVATE_PATH, private_socket)
