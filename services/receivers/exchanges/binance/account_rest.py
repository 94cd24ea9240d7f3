"""Binance USD-M futures: the signed REST of one account. Signing, the one way every private call
is made (the venue's one client and weight budget, refusals told apart), and the snapshot the
reconciliation compares the stored state with.

SIGNED endpoints (USER_DATA): the query string, recvWindow and timestamp included, signed with
HMAC-SHA256 of the API secret, hex; the key travels in the X-MBX-APIKEY header. USER_STREAM
endpoints (the listenKey) take the key alone.
https://developers.binance.com/docs/derivatives/usds-margined-futures/general-info
"""
from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Awaitable, Callable, Sequence
from decimal import Decimal
from typing import Literal, TypeVar
from urllib.parse import urlencode

import msgspec

from services.receivers.exchanges.binance.symbols import NAME, symbol_of
from services.receivers.frames import FrameError, decode, finite, ms_to_us
from services.receivers.private import AuthRejected, Link, SessionExpired
from services.receivers.rest import BadResponse
from shared.events import AccountFill, AccountOrder, AccountSnapshot, Balance, Closing, OrderStatus, Position

T = TypeVar("T")
Pairs = Sequence[tuple[str, str]]
API_KEY_HEADER = "X-MBX-APIKEY"
RECV_WINDOW_MS = 5000  # the docs' default and recommended ceiling (General Info, Timing security)
# Error-Codes page: -2014 "API-key format invalid.", -2015 "Invalid API-key, IP, or permissions for
# action.", -1022 "Signature for this request is not valid."; -1125 "This listenKey does not exist.".
# HTTP 403 is Binance's WAF, not a refused key (General Info), so only 401 and these codes refuse.
# https://developers.binance.com/docs/derivatives/usds-margined-futures/error-code
AUTH_CODES = frozenset({-2014, -2015, -1022})
LISTEN_KEY_GONE = -1125
# userTrades and forceOrders look back at most 7 days per query (their pages); a longer lookback
# is cut to that, and the snapshot says so in fills_since
LOOKBACK_MS = 7 * 86_400_000
PAGE = 1000  # userTrades and income: "limit ... max 1000"
MAX_PAGES = 20
STATUSES: dict[str, OrderStatus] = {  # Common-Definition page, order status
    "NEW": "new", "PARTIALLY_FILLED": "partially_filled", "FILLED": "filled", "CANCELED": "canceled",
    "REJECTED": "rejected", "EXPIRED": "expired", "EXPIRED_IN_MATCH": "expired",
}


def signature(secret: str, payload: str) -> str:
    """HMAC-SHA256 of the total params (query string + body) with the secret, lower-case hex."""
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def signed_query(params: Pairs, secret: str, now_ms: int, recv_window_ms: int = RECV_WINDOW_MS) -> list[
        tuple[str, str]]:
    """params + recvWindow + timestamp + signature of that query string, in the order sent."""
    pairs = [*params, ("recvWindow", str(recv_window_ms)), ("timestamp", str(now_ms))]
    return [*pairs, ("signature", signature(secret, urlencode(pairs)))]


class ErrorAnswer(msgspec.Struct, frozen=True):
    """Every refused call: {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."}."""

    code: int = 0
    msg: str = ""


_error = msgspec.json.Decoder(ErrorAnswer)


def refusal(exc: BadResponse) -> AuthRejected | SessionExpired | None:
    """A refused key or signature -> AuthRejected, a listenKey gone -> SessionExpired; else None.
    The message is Binance's code and text, which never repeat a key."""
    try:
        answer = _error.decode(exc.body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        answer = ErrorAnswer()
    if answer.code == LISTEN_KEY_GONE:
        return SessionExpired(f"binance {answer.code} {answer.msg}")
    if exc.status == 401 or answer.code in AUTH_CODES:
        return AuthRejected(f"binance {answer.code or f'HTTP {exc.status}'} {answer.msg}".rstrip())
    return None


def now_ms() -> int:
    return time.time_ns() // 1_000_000


async def call(link: Link, method: str, path: str, *, weight: float, params: Pairs = (),
               signed: bool = False) -> bytes:
    """One private call through the venue's client: key header, signed when asked, refusals mapped."""
    credentials = link.credentials
    if credentials is None:
        raise AuthRejected("binance needs an API key and secret")
    pairs = signed_query(params, credentials.secret, now_ms()) if signed else list(params)
    try:
        return await link.client.request(method, path, params=pairs or None, weight=weight,
                                         headers={API_KEY_HEADER: credentials.key})
    except BadResponse as exc:
        refused = refusal(exc)
        if refused is None:
            raise
        raise refused from exc


def closing_of(client_id: str) -> Closing:
    """Special client order ids: "autoclose-..." a liquidation, "adl_autoclose" an ADL
    (Event-Order-Update page; "settlement_autoclose-" is a delisting's settlement, not a closing)."""
    if client_id.startswith("autoclose-"):
        return "liquidation"
    return "adl" if client_id == "adl_autoclose" else ""


def status_of(status: str) -> OrderStatus:
    found = STATUSES.get(status)
    if found is None:
        raise FrameError(f"unknown order status {status!r}")
    return found


def positive(value: Decimal, what: str) -> Decimal | None:
    """A price Binance sends as "0" when there is none (a market order, no fill yet) -> None."""
    return value if finite(value, what) > 0 else None


# --- the answers, each beside its events ---


class OpenOrder(msgspec.Struct, frozen=True):
    """GET /fapi/v1/openOrders item (Current-All-Open-Orders page)."""

    symbol: str
    orderId: int
    clientOrderId: str
    side: Literal["BUY", "SELL"]
    type: str
    status: str
    price: Decimal
    origQty: Decimal
    executedQty: Decimal
    avgPrice: Decimal
    updateTime: int


def open_order_events(items: list[OpenOrder], account: str, recv_ts: int) -> list[AccountOrder]:
    return [
        AccountOrder(
            account=account, exchange=NAME, symbol=symbol_of(o.symbol), order_id=str(o.orderId),
            side="buy" if o.side == "BUY" else "sell", price=positive(o.price, "price"),
            size=finite(o.origQty, "quantity"), filled=finite(o.executedQty, "filled"),
            status=status_of(o.status), order_type=o.type.lower(), client_id=o.clientOrderId,
            avg_price=positive(o.avgPrice, "average price"), closing=closing_of(o.clientOrderId),
            ts=ms_to_us(o.updateTime), recv_ts=recv_ts,
        )
        for o in items
    ]


class AccountAsset(msgspec.Struct, frozen=True):
    """GET /fapi/v3/account "assets" item (Account-Information-V3 page)."""

    asset: str
    walletBalance: Decimal
    crossWalletBalance: Decimal


class AccountInfo(msgspec.Struct, frozen=True):
    assets: list[AccountAsset]


def balance_events(info: AccountInfo, account: str, ts: int, recv_ts: int) -> list[Balance]:
    """Wallet balance as total and the cross wallet balance as available: the two figures the
    stream's ACCOUNT_UPDATE carries too (wb, cw), so stream and snapshot compare. Assets with an
    empty wallet (the multi-assets list names every quote asset) are left out."""
    return [
        Balance(account=account, exchange=NAME, asset=a.asset, total=finite(a.walletBalance, "wallet"),
                available=finite(a.crossWalletBalance, "cross wallet"), ts=ts, recv_ts=recv_ts)
        for a in info.assets
        if a.walletBalance or a.crossWalletBalance
    ]


class PositionRisk(msgspec.Struct, frozen=True):
    """GET /fapi/v3/positionRisk item (Position-Information-V3 page)."""

    symbol: str
    positionAmt: Decimal
    entryPrice: Decimal
    markPrice: Decimal
    unRealizedProfit: Decimal
    positionSide: str = "BOTH"


Leg = tuple[str, Decimal, Decimal, Decimal]  # raw symbol, signed amount, entry price, unrealized pnl


def net_legs(legs: Sequence[Leg]) -> dict[str, tuple[Decimal, Decimal | None, Decimal]]:
    """A symbol's rows -> (signed size, entry price, unrealized pnl). One-way mode has one row (BOTH);
    hedge mode a LONG and a SHORT leg, netted here into the one position a symbol has in tradehub:
    sizes and PnL add up, the entry price is the open leg's, none when both legs are open."""
    rows: dict[str, list[Leg]] = {}
    for leg in legs:
        rows.setdefault(leg[0], []).append(leg)
    netted = {}
    for symbol, found in rows.items():
        size = sum((finite(amount, "position") for _, amount, _, _ in found), Decimal(0))
        entries = [positive(entry, "entry price") for _, amount, entry, _ in found if amount]
        pnl = sum((finite(upnl, "unrealized pnl") for _, _, _, upnl in found), Decimal(0))
        netted[symbol] = (size, entries[0] if len(entries) == 1 else None, pnl)
    return netted


def position_events(items: list[PositionRisk], account: str, ts: int, recv_ts: int) -> list[Position]:
    """Open positions; the zero rows Binance lists for a symbol that only has an order resting are
    not positions."""
    marks = {p.symbol: positive(p.markPrice, "mark price") for p in items}
    netted = net_legs([(p.symbol, p.positionAmt, p.entryPrice, p.unRealizedProfit) for p in items])
    return [
        Position(account=account, exchange=NAME, symbol=symbol_of(symbol), size=size, entry_price=entry,
                 mark_price=marks[symbol], unrealized_pnl=pnl, ts=ts, recv_ts=recv_ts)
        for symbol, (size, entry, pnl) in netted.items()
        if size
    ]


class ForceOrder(msgspec.Struct, frozen=True):
    """GET /fapi/v1/forceOrders item (Users-Force-Orders page): the account's liquidation and ADL orders."""

    orderId: int
    symbol: str
    clientOrderId: str


class Income(msgspec.Struct, frozen=True):
    """GET /fapi/v1/income item (Get-Income-History page); only COMMISSION is asked for."""

    symbol: str
    time: int


class UserTrade(msgspec.Struct, frozen=True):
    """GET /fapi/v1/userTrades item (Account-Trade-List page)."""

    id: int
    orderId: int
    symbol: str
    side: Literal["BUY", "SELL"]
    price: Decimal
    qty: Decimal
    commission: Decimal  # paid: the sign the stream's "n" has
    commissionAsset: str
    realizedPnl: Decimal
    time: int


def fill_events(trades: list[UserTrade], closings: dict[int, Closing], account: str,
                recv_ts: int) -> list[AccountFill]:
    """userTrades -> fills; whether a fill closed a position by force comes from forceOrders."""
    return [
        AccountFill(
            account=account, exchange=NAME, symbol=symbol_of(t.symbol), order_id=str(t.orderId),
            fill_id=str(t.id), side="buy" if t.side == "BUY" else "sell", price=finite(t.price, "price"),
            size=finite(t.qty, "quantity"), fee=finite(t.commission, "commission"),
            fee_asset=t.commissionAsset, realized_pnl=finite(t.realizedPnl, "realized pnl"),
            closing=closings.get(t.orderId, ""), ts=ms_to_us(t.time), recv_ts=recv_ts,
        )
        for t in trades
    ]


_open_orders = msgspec.json.Decoder(list[OpenOrder])
_account = msgspec.json.Decoder(AccountInfo)
_positions = msgspec.json.Decoder(list[PositionRisk])
_force_orders = msgspec.json.Decoder(list[ForceOrder])
_incomes = msgspec.json.Decoder(list[Income])
_trades = msgspec.json.Decoder(list[UserTrade])


async def pages(fetch: Callable[[int], Awaitable[list[T]]], start_ms: int, time_of: Callable[[T], int],
                key_of: Callable[[T], object]) -> list[T]:
    """A time-ordered list of at most PAGE items per answer: ask again from the last item's time
    (inclusive, so items sharing that millisecond are not lost) while answers come back full."""
    seen: dict[object, T] = {}
    for _ in range(MAX_PAGES):
        items = await fetch(start_ms)
        fresh = [item for item in items if key_of(item) not in seen]
        seen.update((key_of(item), item) for item in items)
        if len(items) < PAGE or not fresh:
            break
        start_ms = max(time_of(item) for item in items)
    return list(seen.values())


async def traded_symbols(link: Link, start_ms: int, end_ms: int) -> set[str]:
    """The symbols the account paid commission in since start_ms: every fill pays one."""
    async def fetch(start: int) -> list[Income]:
        params = [("incomeType", "COMMISSION"), ("startTime", str(start)), ("endTime", str(end_ms)),
                  ("limit", str(PAGE))]
        return decode(_incomes, await call(link, "GET", "/fapi/v1/income", params=params, weight=30,
                                           signed=True))

    found = await pages(fetch, start_ms, lambda i: i.time, lambda i: (i.symbol, i.time))
    return {i.symbol for i in found if i.symbol}


async def user_trades(link: Link, symbol: str, start_ms: int, end_ms: int) -> list[UserTrade]:
    async def fetch(start: int) -> list[UserTrade]:
        params = [("symbol", symbol), ("startTime", str(start)), ("endTime", str(end_ms)),
                  ("limit", str(PAGE))]
        return decode(_trades, await call(link, "GET", "/fapi/v1/userTrades", params=params, weight=5,
                                          signed=True))

    return await pages(fetch, start_ms, lambda t: t.time, lambda t: t.id)


async def snapshot(link: Link, fills_since_us: int) -> AccountSnapshot:
    """Open orders, balances, positions, and the fills since `fills_since_us` (at most 7 days back)
    of every symbol the account touched: open orders, positions, forced closes, commissions paid."""
    account, as_of_ms = link.account.id, now_ms()
    orders = decode(_open_orders, await call(link, "GET", "/fapi/v1/openOrders", weight=40, signed=True))
    # the fills up to after the open orders were listed: an order that ended before the list has all
    # its fills in the window, so a fill between the two calls cannot make a filled order look canceled
    end_ms = now_ms()
    start_ms = max(fills_since_us // 1000, end_ms - LOOKBACK_MS)
    window = [("startTime", str(start_ms)), ("endTime", str(end_ms))]
    info = decode(_account, await call(link, "GET", "/fapi/v3/account", weight=5, signed=True))
    risks = decode(_positions, await call(link, "GET", "/fapi/v3/positionRisk", weight=5, signed=True))
    forced = decode(_force_orders, await call(link, "GET", "/fapi/v1/forceOrders", weight=50, signed=True,
                                              params=[*window, ("limit", "100")]))
    symbols = {o.symbol for o in orders} | {p.symbol for p in risks if p.positionAmt}
    symbols |= {f.symbol for f in forced} | await traded_symbols(link, start_ms, end_ms)
    trades = [t for symbol in sorted(symbols) for t in await user_trades(link, symbol, start_ms, end_ms)]
    closings = {f.orderId: closing_of(f.clientOrderId) for f in forced}
    ts, recv_ts = ms_to_us(as_of_ms), time.time_ns() // 1000
    return AccountSnapshot(
        account=account, exchange=NAME, reason="connect",
        open_orders=open_order_events(orders, account, recv_ts),
        balances=balance_events(info, account, ts, recv_ts),
        positions=position_events(risks, account, ts, recv_ts),
        fills=fill_events(trades, closings, account, recv_ts), fills_since=ms_to_us(start_ms),
        ts=ts, recv_ts=recv_ts,
    )
