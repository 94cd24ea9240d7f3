"""What Deribit's HTTP API says of one account (the reconciliation's truth): a bearer token from
public/auth, then the open orders, balances, positions and trades since a time.

Docs: https://docs.deribit.com/api-reference/authentication/public-auth (its example is
`GET /api/v2/public/auth` with the JSON-RPC request as the body: the secret stays out of the url),
https://docs.deribit.com/articles/authentication (HTTP: "Authorization: Bearer <Token>"), and the
methods private/get_open_orders_by_currency, private/get_account_summary, private/get_positions
(currency "any") and private/get_user_trades_by_currency_and_time ("has_more"; recent trades are
served for 24 hours, older ones only with historical=true).
Rate limits (https://docs.deribit.com/articles/rate-limits): a non-matching request costs 500
credits of a pool refilled at 10,000 a second, so 20 requests a second: weight 1 each, 1200 a minute.
"""
from __future__ import annotations

from typing import Generic, TypeVar

import msgspec

from services.receivers.exchanges.deribit.account import (
    Funds,
    RpcError,
    WireOrder,
    WirePosition,
    WireTrade,
    account_fill,
    account_order,
    balance,
    decode_result,
    position,
    refusal,
)
from services.receivers.exchanges.deribit.market import NAME
from services.receivers.frames import FrameError, decode
from services.receivers.private import AuthRejected, Link, SessionExpired
from services.receivers.rest import BadResponse, Params
from shared.events import AccountFill, AccountOrder, AccountSnapshot, Balance, Position, now_us

T = TypeVar("T")
API = "/api/v2/"
REST_URL = "https://www.deribit.com"
WEIGHT_PER_MINUTE = 1200
REQUEST_WEIGHT = 1
CURRENCIES = ("BTC", "ETH", "USDC", "USDT")  # the settlement currencies of Deribit's perpetuals
TRADES_PER_PAGE = 1000  # get_user_trades_by_currency_and_time: count, "maximum - 1000"
MOST_PAGES = 10


class Result(msgspec.Struct, Generic[T], frozen=True):
    result: T


class Token(msgspec.Struct, frozen=True):
    access_token: str


class TradesPage(msgspec.Struct, frozen=True):
    trades: list[WireTrade]
    has_more: bool = False


class ErrorReply(msgspec.Struct, frozen=True):
    error: RpcError


_token = msgspec.json.Decoder(Result[Token])
_orders = msgspec.json.Decoder(Result[list[WireOrder]])
_funds = msgspec.json.Decoder(Result[Funds])
_positions = msgspec.json.Decoder(Result[list[WirePosition]])
_trades = msgspec.json.Decoder(Result[TradesPage])
_error = msgspec.json.Decoder(ErrorReply)


def refused(exc: BadResponse) -> Exception:
    """A refused call -> AuthRejected when it names the key or the token (any HTTP status), or a
    401/403; otherwise the BadResponse itself."""
    try:
        found = refusal(decode(_error, exc.body).error)
    except FrameError:
        found = exc
    if isinstance(found, SessionExpired | AuthRejected):
        return AuthRejected(str(found))
    if exc.status in (401, 403):
        return AuthRejected(f"deribit HTTP {exc.status}")
    return exc


async def call(link: Link, method: str, *, params: Params | None = None, body: bytes | None = None,
               token: str = "") -> bytes:
    headers = {"Authorization": f"Bearer {token}"} if token else None
    try:
        return await link.client.request("GET", API + method, params=params, body=body, headers=headers,
                                         weight=REQUEST_WEIGHT)
    except BadResponse as exc:
        raise refused(exc) from exc


async def access_token(link: Link) -> str:
    """A bearer token for this snapshot's calls (client credentials, in the request body)."""
    if link.credentials is None:
        raise AuthRejected("deribit: the account has no API key")
    body = msgspec.json.encode({"jsonrpc": "2.0", "id": 1, "method": "public/auth", "params": {
        "grant_type": "client_credentials", "client_id": link.credentials.key,
        "client_secret": link.credentials.secret}})
    answer: Result[Token] = decode_result(_token, await call(link, "public/auth", body=body))
    return answer.result.access_token


async def open_orders(link: Link, token: str, currency: str) -> list[AccountOrder]:
    params = {"currency": currency, "kind": "future"}
    raw = await call(link, "private/get_open_orders_by_currency", params=params, token=token)
    answer: Result[list[WireOrder]] = decode_result(_orders, raw)
    recv_ts = now_us()
    return [o for o in (account_order(w, link.account.id, recv_ts) for w in answer.result) if o is not None]


async def funds(link: Link, token: str, currency: str) -> Balance | None:
    raw = await call(link, "private/get_account_summary", params={"currency": currency}, token=token)
    answer: Result[Funds] = decode_result(_funds, raw)
    recv_ts = now_us()
    return balance(answer.result, link.account.id, recv_ts, recv_ts)


async def positions(link: Link, token: str) -> list[Position]:
    raw = await call(link, "private/get_positions", params={"currency": "any", "kind": "future"}, token=token)
    answer: Result[list[WirePosition]] = decode_result(_positions, raw)
    recv_ts = now_us()
    held = (position(w, link.account.id, recv_ts, recv_ts) for w in answer.result)
    return [p for p in held if p is not None]


async def fills(link: Link, token: str, currency: str, since_ms: int, until_ms: int) -> list[AccountFill]:
    """The trades from since_ms, oldest first, page by page (a page ends where the next starts: its
    last trade's millisecond, served again and counted once)."""
    start, seen, found = since_ms, set[str](), list[AccountFill]()
    for _ in range(MOST_PAGES):
        params = {"currency": currency, "kind": "future", "start_timestamp": str(start),
                  "end_timestamp": str(until_ms), "count": str(TRADES_PER_PAGE), "sorting": "asc"}
        page: Result[TradesPage] = decode_result(_trades, await call(
            link, "private/get_user_trades_by_currency_and_time", params=params, token=token))
        recv_ts = now_us()
        for trade in page.result.trades:
            fill = None if trade.trade_id in seen else account_fill(trade, link.account.id, recv_ts)
            seen.add(trade.trade_id)
            if fill is not None:
                found.append(fill)
        if not page.result.has_more or not page.result.trades:
            break
        last = page.result.trades[-1].timestamp
        start = last if last > start else last + 1  # a page all in one millisecond: past it
    return found


async def snapshot(link: Link, fills_since_us: int) -> AccountSnapshot:
    """Open orders, balances and trades per settlement currency, positions at once (currency any)."""
    token = await access_token(link)
    since_ms = fills_since_us // 1000
    orders: list[AccountOrder] = []
    balances: list[Balance] = []
    trades: list[AccountFill] = []
    for currency in CURRENCIES:
        orders += await open_orders(link, token, currency)
        found = await funds(link, token, currency)
        balances += [found] if found is not None else []
        # fills up to after the currency's open orders were listed: an order that ended before the list
        # has all its fills in the window, so none can look canceled for a fill made between the calls
        trades += await fills(link, token, currency, since_ms, now_us() // 1000)
    held = await positions(link, token)
    now = now_us()
    return AccountSnapshot(account=link.account.id, exchange=NAME, reason="connect", open_orders=orders,
                           balances=balances, positions=held, fills=trades, fills_since=fills_since_us,
                           ts=now, recv_ts=now)
