"""Bybit v5 private side, the pure part: the two signatures and the account's frames and REST
answers read into AccountOrder / AccountFill / Balance / Position (no network, no clock).

Socket auth: https://bybit-exchange.github.io/docs/v5/ws/connect (signature = hex HMAC-SHA256 of
"GET/realtime" + expires). REST signature: https://bybit-exchange.github.io/docs/v5/guide
(hex HMAC-SHA256 of timestamp + key + recv_window + queryString). Topics: order, execution,
position, wallet (https://bybit-exchange.github.io/docs/v5/websocket/private/order and siblings).
Linear and spot items are read (symbols as the market feeds name them); inverse and option items
are left out: tradehub names no inverse contract, dated future or option. Sizes of linear
contracts and spot are in the base coin already.
"""
from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Sequence
from decimal import Decimal
from functools import partial
from typing import Generic, Protocol, TypeVar

import msgspec

from services.receivers.exchanges.bybit.market import NAME, Category, symbol_of
from services.receivers.frames import FrameError, decimal_of, decode, ms_of, ms_to_us, optional_decimal
from services.receivers.private import AuthRejected
from shared.events import (
    AccountFill,
    AccountOrder,
    AnyEvent,
    Balance,
    Closing,
    OrderStatus,
    Position,
    Side,
)

T = TypeVar("T")
E = TypeVar("E")
TOPICS = ("order", "execution", "position", "wallet")  # the all-in-one topics: every category
READ_CATEGORIES: frozenset[str] = frozenset({"linear", "spot"})
# https://bybit-exchange.github.io/docs/v5/enum#orderstatus; Untriggered/Triggered: a conditional
# order waiting or just armed is open; PartiallyFilledCanceled (spot) and Deactivated end it
ORDER_STATUS: dict[str, OrderStatus] = {
    "New": "new", "PartiallyFilled": "partially_filled", "Untriggered": "new", "Triggered": "new",
    "Filled": "filled", "Cancelled": "canceled", "PartiallyFilledCanceled": "canceled",
    "Deactivated": "canceled", "Rejected": "rejected",
}
# enum#createtype: the liquidation engine's orders and the auto-deleveraging ones
CREATE_CLOSING: dict[str, Closing] = {
    "CreateByLiq": "liquidation", "CreateByTakeOver_PassThrough": "liquidation",
    "CreateByAdl_PassThrough": "adl",
}
EXEC_CLOSING: dict[str, Closing] = {"BustTrade": "liquidation", "AdlTrade": "adl"}  # enum#exectype
NOT_FILLS = frozenset({"Funding"})  # a funding fee rides on the execution topic; it is no fill


# --- signatures ---


def auth_signature(secret: str, expires_ms: int) -> str:
    """The socket's auth signature: hex HMAC-SHA256(secret, "GET/realtime" + expires)."""
    return hmac.new(secret.encode(), f"GET/realtime{expires_ms}".encode(), hashlib.sha256).hexdigest()


def rest_prehash(timestamp_ms: int, key: str, recv_window_ms: int, query: str) -> str:
    """What a signed GET signs: timestamp + API key + recv_window + queryString (guide, "GET")."""
    return f"{timestamp_ms}{key}{recv_window_ms}{query}"


def rest_signature(secret: str, prehash: str) -> str:
    """X-BAPI-SIGN: hex HMAC-SHA256 of the prehash."""
    return hmac.new(secret.encode(), prehash.encode(), hashlib.sha256).hexdigest()


# --- what the socket and REST send, as far as we read it (every number a string, "" when empty) ---


class OrderItem(msgspec.Struct, frozen=True):
    """An order topic item, or a /v5/order/realtime list item (which names its category once)."""

    symbol: str
    orderId: str
    side: str  # Buy, Sell
    orderType: str  # Market, Limit
    price: str
    qty: str  # base coin (linear, spot limit orders)
    cumExecQty: str
    orderStatus: str
    updatedTime: str  # ms
    category: str = ""
    orderLinkId: str = ""  # the client's id
    avgPrice: str = ""  # "" (or "0") before a fill
    createType: str = ""  # linear/inverse only


class ExecutionItem(msgspec.Struct, frozen=True):
    """An execution topic item, or a /v5/execution/list item."""

    symbol: str
    orderId: str
    execId: str
    side: str
    execPrice: str
    execQty: str
    execFee: str  # > 0 paid, < 0 a maker rebate
    execType: str  # Trade, AdlTrade, Funding, BustTrade, ...
    execTime: str  # ms
    category: str = ""
    feeCurrency: str = ""  # spot only; contracts pay in their settle coin
    createType: str = ""


class PositionItem(msgspec.Struct, frozen=True):
    """A position topic item, or a /v5/position/list item (avgPrice there, entryPrice here)."""

    symbol: str
    side: str  # Buy: long, Sell: short, "": no position
    size: str  # always positive
    category: str = ""
    entryPrice: str = ""
    avgPrice: str = ""
    markPrice: str = ""
    unrealisedPnl: str = ""
    leverage: str = ""
    liqPrice: str = ""  # "" when the position cannot be liquidated (or none)
    updatedTime: str = ""


class WalletCoin(msgspec.Struct, frozen=True):
    coin: str
    walletBalance: str
    availableToWithdraw: str = ""  # "" on newer unified accounts
    locked: str = ""  # spot open orders
    totalOrderIM: str = ""  # margin held by open orders
    totalPositionIM: str = ""  # margin held by positions


class WalletItem(msgspec.Struct, frozen=True):
    coin: list[WalletCoin]
    accountType: str = ""


class Push(msgspec.Struct, Generic[T], frozen=True):
    topic: str
    creationTime: int  # ms
    data: list[T]
    id: str = ""


class Reply(msgspec.Struct, frozen=True):  # any frame, read only far enough to route it
    topic: str | None = None
    op: str | None = None  # auth, subscribe, pong
    success: bool | None = None
    ret_msg: str = ""


_reply = msgspec.json.Decoder(Reply)
_orders = msgspec.json.Decoder(Push[OrderItem])
_executions = msgspec.json.Decoder(Push[ExecutionItem])
_positions = msgspec.json.Decoder(Push[PositionItem])
_wallets = msgspec.json.Decoder(Push[WalletItem])


# --- items -> events ---


def _side(text: str) -> Side:
    if text not in ("Buy", "Sell"):
        raise FrameError(f"unknown side {text!r}")
    return "buy" if text == "Buy" else "sell"


def _symbol(raw_symbol: str, category: str) -> str:
    kind: Category = "spot" if category == "spot" else "linear"
    return symbol_of(raw_symbol, kind)


def order_event(account: str, item: OrderItem, category: str, recv_ts: int) -> AccountOrder:
    status = ORDER_STATUS.get(item.orderStatus)
    if status is None:
        raise FrameError(f"unknown orderStatus {item.orderStatus!r}")
    avg = optional_decimal(item.avgPrice, "avgPrice")
    return AccountOrder(
        account=account, exchange=NAME, symbol=_symbol(item.symbol, category), order_id=item.orderId,
        side=_side(item.side), price=None if item.orderType == "Market" else decimal_of(item.price, "price"),
        size=decimal_of(item.qty, "qty"), filled=decimal_of(item.cumExecQty, "cumExecQty"), status=status,
        order_type=item.orderType.lower(), client_id=item.orderLinkId, avg_price=avg or None,
        closing=CREATE_CLOSING.get(item.createType, ""), ts=ms_to_us(ms_of(item.updatedTime, "updatedTime")),
        recv_ts=recv_ts)


def fill_event(account: str, item: ExecutionItem, category: str, recv_ts: int) -> AccountFill:
    symbol = _symbol(item.symbol, category)
    # contracts pay fees in their settle coin, the quote of the symbol (BTCPERP: USDC)
    fee_asset = item.feeCurrency or symbol.split("-")[1]
    return AccountFill(
        account=account, exchange=NAME, symbol=symbol, order_id=item.orderId, fill_id=item.execId,
        side=_side(item.side), price=decimal_of(item.execPrice, "execPrice"),
        size=decimal_of(item.execQty, "execQty"), fee=decimal_of(item.execFee, "execFee"),
        fee_asset=fee_asset,
        closing=EXEC_CLOSING.get(item.execType) or CREATE_CLOSING.get(item.createType, ""),
        ts=ms_to_us(ms_of(item.execTime, "execTime")), recv_ts=recv_ts)


def position_event(account: str, item: PositionItem, category: str, ts_ms: int, recv_ts: int) -> Position:
    size = decimal_of(item.size, "size")
    entry = optional_decimal(item.entryPrice or item.avgPrice, "entryPrice")
    updated = ms_of(item.updatedTime, "updatedTime") if item.updatedTime else ts_ms
    return Position(
        account=account, exchange=NAME, symbol=_symbol(item.symbol, category),
        size=-size if item.side == "Sell" else size, entry_price=entry if size else None,
        mark_price=optional_decimal(item.markPrice, "markPrice"),
        unrealized_pnl=optional_decimal(item.unrealisedPnl, "unrealisedPnl"),
        leverage=optional_decimal(item.leverage, "leverage"),
        liquidation_price=optional_decimal(item.liqPrice, "liqPrice") or None if size else None,
        ts=ms_to_us(updated), recv_ts=recv_ts)


def balance_events(account: str, item: WalletItem, ts_ms: int, recv_ts: int) -> list[Balance]:
    """Per coin: the wallet balance, and what is free of orders and positions (availableToWithdraw
    where it is still sent)."""
    events = []
    for c in item.coin:
        total = decimal_of(c.walletBalance, "walletBalance")
        if c.availableToWithdraw:
            available = decimal_of(c.availableToWithdraw, "availableToWithdraw")
        else:
            held = (c.locked, c.totalOrderIM, c.totalPositionIM)
            available = total - sum((optional_decimal(v, "margin") or Decimal(0) for v in held), Decimal(0))
        events.append(Balance(account=account, exchange=NAME, asset=c.coin, total=total, available=available,
                              ts=ms_to_us(ts_ms), recv_ts=recv_ts))
    return events


class Categorized(Protocol):
    """Every item says its category, or its list does (REST: result.category)."""

    @property
    def category(self) -> str: ...


I = TypeVar("I", bound=Categorized)


def read(items: Sequence[I], convert: Callable[[I, str], E], list_category: str = "") -> list[E]:
    """convert(item, category) of every linear and spot item; the others are left out."""
    events: list[E] = []
    for item in items:
        category = item.category or list_category
        if category in READ_CATEGORIES:
            events.append(convert(item, category))
    return events


# --- the socket's frames ---


def parse_frame(raw: bytes | str, recv_ts: int, account: str) -> list[AnyEvent]:
    """A frame of wss://stream.bybit.com/v5/private -> events; acks and pongs -> [].

    A refused auth raises AuthRejected ({"success":false,"ret_msg":"...","op":"auth"}).
    {"id":"5923240c6880ab-c59f-420b-9adb-3639adc9dd90","topic":"order","creationTime":1672364262474,
     "data":[{"category":"linear","symbol":"BTCUSDT","orderId":"5cf98598-39a7-459e-97bf-76ca765ee020",
     "side":"Sell","orderType":"Market","price":"72.5","qty":"1","orderStatus":"Filled", ...}]}
    """
    reply = decode(_reply, raw)
    if reply.topic is None:
        if reply.op == "auth" and reply.success is False:
            raise AuthRejected(f"bybit auth refused: {reply.ret_msg}")
        if reply.success is False:
            raise FrameError(f"bybit refused {reply.op!r}: {reply.ret_msg}")
        if reply.op is None:
            raise FrameError("neither a topic nor an op")
        return []  # auth/subscribe acks, {"op":"pong",...}
    topic = reply.topic.partition(".")[0]  # "order" or a categorised "order.linear"
    return _TOPIC_PARSERS[topic](raw, recv_ts, account) if topic in _TOPIC_PARSERS else _unknown(topic)


def _unknown(topic: str) -> list[AnyEvent]:
    raise FrameError(f"unknown private topic {topic!r}")


def _order_push(raw: bytes | str, recv_ts: int, account: str) -> list[AnyEvent]:
    convert = partial(order_event, account, recv_ts=recv_ts)
    events: list[AnyEvent] = [*read(decode(_orders, raw).data, convert)]
    return events


def _execution_push(raw: bytes | str, recv_ts: int, account: str) -> list[AnyEvent]:
    items = [i for i in decode(_executions, raw).data if i.execType not in NOT_FILLS]
    events: list[AnyEvent] = [*read(items, partial(fill_event, account, recv_ts=recv_ts))]
    return events


def _position_push(raw: bytes | str, recv_ts: int, account: str) -> list[AnyEvent]:
    msg = decode(_positions, raw)
    convert = partial(position_event, account, ts_ms=msg.creationTime, recv_ts=recv_ts)
    events: list[AnyEvent] = [*read(msg.data, convert)]
    return events


def _wallet_push(raw: bytes | str, recv_ts: int, account: str) -> list[AnyEvent]:
    msg = decode(_wallets, raw)
    events: list[AnyEvent] = [b for item in msg.data for b in balance_events(account, item, msg.creationTime,
                                                                            recv_ts)]
    return events


_TOPIC_PARSERS: dict[str, Callable[[bytes | str, int, str], list[AnyEvent]]] = {
    "order": _order_push, "execution": _execution_push, "position": _position_push, "wallet": _wallet_push,
}
