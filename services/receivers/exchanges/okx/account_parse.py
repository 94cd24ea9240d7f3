"""OKX v5 private side, the pure part: the two signatures and the account's frames and REST answers
read into AccountOrder / AccountFill / Balance / Position (no network, no clock).

Login: https://www.okx.com/docs-v5/en/#overview-websocket-login (sign = Base64(HMAC-SHA256(secret,
timestamp + "GET" + "/users/self/verify")), timestamp in seconds). REST: https://www.okx.com/docs-v5/en/#overview-rest-authentication
(OK-ACCESS-SIGN = Base64(HMAC-SHA256(secret, timestamp + method + requestPath + body)), timestamp
ISO 8601 with milliseconds). Channels: orders (#order-book-trading-trade-ws-order-channel),
positions and account (#trading-account-websocket-positions-channel, -account-channel).
Swap sizes are contracts: they become base currency with a ctVal table, as the market feed's
(market.base_size); a swap missing from the table is refused (FrameError), never guessed.
Spot, margin and linear swap items are read; futures, options, event contracts (tradehub names no
dated instrument) and inverse swaps (contracts of USD: a base size would need a price) are left
out. Margin positions count in posCcy and are not read. OKX counts a fee as negative: the events
turn it round.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable
from decimal import Decimal
from typing import Generic, TypeVar

import msgspec

from services.receivers.exchanges.okx.market import NAME, PONG, RECONNECT_NOTICE, CtVal, base_size, symbol_of
from services.receivers.frames import (
    FrameError,
    ReconnectNotice,
    decimal_of,
    decode,
    ms_of,
    ms_to_us,
    optional_decimal,
)
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
READ_TYPES = frozenset({"SPOT", "MARGIN", "SWAP"})
VERIFY_PATH = "/users/self/verify"  # the login's fixed requestPath
ORDER_STATE: dict[str, OrderStatus] = {  # orders channel "state"
    "live": "new", "partially_filled": "partially_filled", "filled": "filled", "canceled": "canceled",
    "mmp_canceled": "canceled",
}
# orders channel "category": the liquidation engine's and auto-deleveraging's orders
CATEGORY_CLOSING: dict[str, Closing] = {
    "full_liquidation": "liquidation", "partial_liquidation": "liquidation", "adl": "adl"}
# trade/fills "subType": 100-107 (partial) liquidation, 125-128 ADL
SUBTYPE_CLOSING: dict[str, Closing] = {**{str(n): "liquidation" for n in range(100, 108)},
                                       **{str(n): "adl" for n in range(125, 129)}}
# login refused (websocket error codes): invalid timestamp, invalid apiKey, timestamp expired,
# invalid sign, login failed, wrong passphrase, API key doesn't exist
LOGIN_REFUSED = frozenset({"60004", "60005", "60006", "60007", "60009", "60024", "60031"})


# --- signatures ---


def _base64_hmac(secret: str, text: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), text.encode(), hashlib.sha256).digest()).decode()


def login_sign(secret: str, timestamp_s: str) -> str:
    """The login's sign: Base64(HMAC-SHA256(secret, timestamp + "GET" + "/users/self/verify"))."""
    return _base64_hmac(secret, f"{timestamp_s}GET{VERIFY_PATH}")


def rest_prehash(timestamp: str, method: str, request_path: str, body: str = "") -> str:
    """timestamp + method + requestPath (with its query) + body."""
    return f"{timestamp}{method.upper()}{request_path}{body}"


def rest_sign(secret: str, prehash: str) -> str:
    """OK-ACCESS-SIGN: Base64(HMAC-SHA256(secret, prehash))."""
    return _base64_hmac(secret, prehash)


# --- what the socket and REST send, as far as we read it (numbers as strings, "" when empty) ---


class OrderItem(msgspec.Struct, frozen=True):
    """An orders channel item, or an orders-pending item (without the fill fields)."""

    instType: str
    instId: str
    ordId: str
    sz: str  # contracts (SWAP); base currency, or quote for a quote_ccy spot market order
    ordType: str  # market, limit, post_only, fok, ioc, ...
    side: str
    state: str
    uTime: str  # ms
    px: str = ""  # "" for a market order
    clOrdId: str = ""
    accFillSz: str = "0"
    avgPx: str = ""
    tgtCcy: str = ""  # quote_ccy: a spot market order sized in the quote currency
    category: str = ""  # normal, twap, adl, full_liquidation, partial_liquidation, delivery, ddh
    tradeId: str = ""  # the last fill's; "0" on a liquidation or ADL order
    fillSz: str = ""
    fillPx: str = ""
    fillTime: str = ""
    fillFee: str = ""  # negative: charged
    fillFeeCcy: str = ""
    fillPnl: str = ""


class FillItem(msgspec.Struct, frozen=True):
    """A trade/fills item."""

    instType: str
    instId: str
    tradeId: str  # negative for liquidation and ADL fills
    ordId: str
    billId: str
    side: str
    fillPx: str
    fillSz: str
    fee: str  # "The trading fee deduction is negative"
    feeCcy: str
    ts: str
    fillTime: str = ""
    fillPnl: str = ""
    subType: str = ""


class PositionItem(msgspec.Struct, frozen=True):
    instType: str
    instId: str
    posSide: str  # long, short, net (then pos is signed)
    pos: str
    uTime: str
    avgPx: str = ""
    markPx: str = ""
    upl: str = ""
    lever: str = ""
    liqPx: str = ""  # "" when none


class BalanceDetail(msgspec.Struct, frozen=True):
    ccy: str
    cashBal: str
    availBal: str = ""
    availEq: str = ""
    frozenBal: str = ""
    uTime: str = ""


class AccountItem(msgspec.Struct, frozen=True):
    details: list[BalanceDetail]
    uTime: str = ""


class Arg(msgspec.Struct, frozen=True):
    channel: str
    instType: str = ""


class Push(msgspec.Struct, Generic[T], frozen=True):
    arg: Arg
    data: list[T]


class Envelope(msgspec.Struct, frozen=True):  # any JSON frame, read only far enough to route it
    arg: Arg | None = None
    event: str | None = None  # login, subscribe, error, notice, channel-conn-count
    code: str | None = None
    msg: str = ""


_envelope = msgspec.json.Decoder(Envelope)
_orders = msgspec.json.Decoder(Push[OrderItem])
_positions = msgspec.json.Decoder(Push[PositionItem])
_accounts = msgspec.json.Decoder(Push[AccountItem])


# --- items -> events ---


def readable(inst_type: str, inst_id: str) -> bool:
    """Spot, margin and linear swaps: what this side reads."""
    return inst_type in READ_TYPES and not inst_id.endswith("-USD-SWAP")


def _side(text: str) -> Side:
    if text not in ("buy", "sell"):
        raise FrameError(f"unknown side {text!r}")
    return "buy" if text == "buy" else "sell"


def _base(inst_id: str, text: str, ct_val: CtVal, what: str) -> Decimal:
    return base_size(inst_id, decimal_of(text, what), ct_val)[0]


def order_event(account: str, item: OrderItem, ct_val: CtVal, recv_ts: int) -> AccountOrder:
    status = ORDER_STATE.get(item.state)
    if status is None:
        raise FrameError(f"unknown order state {item.state!r}")
    filled = _base(item.instId, item.accFillSz or "0", ct_val, "accFillSz")
    # a spot market order sized in the quote currency: its base size is what it filled
    size = filled if item.tgtCcy == "quote_ccy" else _base(item.instId, item.sz, ct_val, "sz")
    return AccountOrder(
        account=account, exchange=NAME, symbol=symbol_of(item.instId), order_id=item.ordId,
        side=_side(item.side), price=optional_decimal(item.px, "px") if item.ordType != "market" else None,
        size=size, filled=filled, status=status, order_type=item.ordType, client_id=item.clOrdId,
        avg_price=optional_decimal(item.avgPx, "avgPx") or None,
        closing=CATEGORY_CLOSING.get(item.category, ""),
        ts=ms_to_us(ms_of(item.uTime, "uTime")), recv_ts=recv_ts)


def order_fill(account: str, item: OrderItem, ct_val: CtVal, recv_ts: int) -> AccountFill | None:
    """The fill an orders push carries, if any. A liquidation or ADL order's carries tradeId "0": that
    fill is left to the REST snapshot, where it has its own (negative) tradeId."""
    if item.tradeId in ("", "0") or item.fillSz in ("", "0"):
        return None
    return AccountFill(
        account=account, exchange=NAME, symbol=symbol_of(item.instId), order_id=item.ordId,
        fill_id=fill_id(item.instId, item.tradeId), side=_side(item.side),
        price=decimal_of(item.fillPx, "fillPx"), size=_base(item.instId, item.fillSz, ct_val, "fillSz"),
        fee=-decimal_of(item.fillFee or "0", "fillFee"),
        fee_asset=item.fillFeeCcy, realized_pnl=optional_decimal(item.fillPnl, "fillPnl"),
        closing=CATEGORY_CLOSING.get(item.category, ""), ts=ms_to_us(ms_of(item.fillTime, "fillTime")),
        recv_ts=recv_ts)


def fill_id(inst_id: str, trade_id: str) -> str:
    """A tradeId counts per instrument: prefixed with it, it names one fill of the account."""
    return f"{inst_id}:{trade_id}"


def fill_event(account: str, item: FillItem, ct_val: CtVal, recv_ts: int) -> AccountFill:
    return AccountFill(
        account=account, exchange=NAME, symbol=symbol_of(item.instId), order_id=item.ordId,
        fill_id=fill_id(item.instId, item.tradeId), side=_side(item.side),
        price=decimal_of(item.fillPx, "fillPx"), size=_base(item.instId, item.fillSz, ct_val, "fillSz"),
        fee=-decimal_of(item.fee, "fee"),
        fee_asset=item.feeCcy, realized_pnl=optional_decimal(item.fillPnl, "fillPnl"),
        closing=SUBTYPE_CLOSING.get(item.subType, ""),
        ts=ms_to_us(ms_of(item.fillTime or item.ts, "fillTime")),
        recv_ts=recv_ts)


def position_event(account: str, item: PositionItem, ct_val: CtVal, recv_ts: int) -> Position:
    size = _base(item.instId, item.pos, ct_val, "pos")
    if item.posSide in ("long", "short"):
        size = abs(size) if item.posSide == "long" else -abs(size)
    return Position(
        account=account, exchange=NAME, symbol=symbol_of(item.instId), size=size,
        entry_price=optional_decimal(item.avgPx, "avgPx") if size else None,
        mark_price=optional_decimal(item.markPx, "markPx"),
        unrealized_pnl=optional_decimal(item.upl, "upl"), leverage=optional_decimal(item.lever, "lever"),
        liquidation_price=optional_decimal(item.liqPx, "liqPx") or None if size else None,
        ts=ms_to_us(ms_of(item.uTime, "uTime")), recv_ts=recv_ts)


def balance_events(account: str, item: AccountItem, recv_ts: int) -> list[Balance]:
    """Per currency: the cash balance, and what is available (availBal, else availEq, else cash
    less frozen: which one OKX fills depends on the account mode)."""
    events = []
    for d in item.details:
        total = decimal_of(d.cashBal, "cashBal")
        available = optional_decimal(d.availBal or d.availEq, "availBal")
        if available is None:
            available = total - (optional_decimal(d.frozenBal, "frozenBal") or Decimal(0))
        events.append(Balance(account=account, exchange=NAME, asset=d.ccy, total=total, available=available,
                              ts=ms_to_us(ms_of(d.uTime or item.uTime, "uTime")), recv_ts=recv_ts))
    return events


# --- the socket's frames ---


def parse_frame(raw: bytes | str, recv_ts: int, account: str, ct_val: CtVal) -> list[AnyEvent]:
    """A frame of wss://ws.okx.com/ws/v5/private -> events; "pong", login and subscribe acks -> [].

    A refused login raises AuthRejected ({"event":"error","code":"60009","msg":"Login failed."}).
    {"arg":{"channel":"orders","instType":"SPOT","instId":"BTC-USDT","uid":"614488474791936"},
     "data":[{"accFillSz":"0.001","avgPx":"31527.1","category":"normal","fillSz":"0.001", ...}]}
    """
    if raw == PONG or raw == PONG.encode():
        return []
    envelope = decode(_envelope, raw)
    if envelope.event is not None:
        return _event(envelope)
    if envelope.arg is None:
        raise FrameError("neither an arg nor an event")
    parse = _CHANNELS.get(envelope.arg.channel)
    if parse is None:
        raise FrameError(f"unknown private channel {envelope.arg.channel!r}")
    return parse(raw, recv_ts, account, ct_val)


def _event(envelope: Envelope) -> list[AnyEvent]:
    if envelope.event == "error":
        if envelope.code in LOGIN_REFUSED:
            raise AuthRejected(f"okx {envelope.code} {envelope.msg}")
        raise FrameError(f"okx error {envelope.code}: {envelope.msg}")  # e.g. 60011 "Please log in"
    if envelope.event == "login" and envelope.code not in (None, "0"):
        raise AuthRejected(f"okx {envelope.code} {envelope.msg}")
    if envelope.event == "notice" and envelope.code == RECONNECT_NOTICE:
        raise ReconnectNotice(f"okx {envelope.code}: {envelope.msg}")
    return []  # login and subscribe acks, other notices, channel-conn-count


def _orders_push(raw: bytes | str, recv_ts: int, account: str, ct_val: CtVal) -> list[AnyEvent]:
    events: list[AnyEvent] = []
    for item in decode(_orders, raw).data:
        if readable(item.instType, item.instId):
            events.append(order_event(account, item, ct_val, recv_ts))
            fill = order_fill(account, item, ct_val, recv_ts)
            if fill is not None:
                events.append(fill)
    return events


def _positions_push(raw: bytes | str, recv_ts: int, account: str, ct_val: CtVal) -> list[AnyEvent]:
    return [position_event(account, item, ct_val, recv_ts) for item in decode(_positions, raw).data
            if reads_position(item)]


def reads_position(item: PositionItem) -> bool:
    """A linear swap's position; a margin position counts in posCcy (base or quote) and is not read."""
    return item.instType == "SWAP" and readable(item.instType, item.instId)


def _account_push(raw: bytes | str, recv_ts: int, account: str, ct_val: CtVal) -> list[AnyEvent]:
    return [b for item in decode(_accounts, raw).data for b in balance_events(account, item, recv_ts)]


_CHANNELS: dict[str, Callable[[bytes | str, int, str, CtVal], list[AnyEvent]]] = {
    "orders": _orders_push, "positions": _positions_push, "account": _account_push,
}
