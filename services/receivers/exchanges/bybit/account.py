"""Bybit v5 private side: one socket per account on wss://stream.bybit.com/v5/private (auth, then
the order, execution, position and wallet topics, {"op":"ping"} every 20 s), and the signed REST
snapshot reconciliation compares the stored state with. Pure parts: account_parse.py.

REST signing (https://bybit-exchange.github.io/docs/v5/guide): headers X-BAPI-API-KEY,
X-BAPI-TIMESTAMP, X-BAPI-RECV-WINDOW and X-BAPI-SIGN; the server takes a call when
server_time - recv_window <= timestamp < server_time + 1000. A refused key is answered with
retCode 10003 (API key is invalid), 10004 (Error sign) and their kin (AUTH_CODES), or HTTP 401;
an HTTP 403 means an IP rate limit or region, not the key, so it is not an AuthRejected.
"""
from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Generic, TypeVar

import msgspec

from services.receivers.exchanges.bybit.account_parse import (
    NOT_FILLS,
    TOPICS,
    ExecutionItem,
    OrderItem,
    PositionItem,
    WalletItem,
    auth_signature,
    balance_events,
    fill_event,
    order_event,
    parse_frame,
    position_event,
    read,
    rest_prehash,
    rest_signature,
)
from services.receivers.exchanges.bybit.market import NAME, PING, PING_INTERVAL_S
from services.receivers.frames import FrameError, decode, ms_to_us
from services.receivers.private import AccountApi, AuthRejected, Link, Login
from services.receivers.rest import BadResponse
from services.receivers.venue import Keepalive, Parse
from shared.accounts import Account, Credentials
from shared.events import AccountFill, AccountOrder, AccountSnapshot, AnyEvent, Balance, Position, now_us

T = TypeVar("T")
URL_KEY = "bybit_private"
PRIVATE_WS_URL = "wss://stream.bybit.com/v5/private"  # ws/connect, "WebSocket private stream"
AUTH_EXPIRES_MS = 10_000  # "expires; is greater than your current timestamp": the auth is good this long
RECV_WINDOW_MS = 20_000  # our calls' X-BAPI-RECV-WINDOW (default 5000): room for the client's retries
REST_WEIGHT = 1  # rate-limit page: 600 requests per 5 s per IP, every request the same
# retCodes of a refused key (v5/error): invalid key, wrong sign, no permission, authentication
# failed, banned, IP not bound to the key, expired key (derivatives 33004, spot -2015)
AUTH_CODES = frozenset({10003, 10004, 10005, 10007, 10008, 10010, 33004, -2015})
# linear orders and positions: "either symbol, baseCoin or settleCoin is required"
SETTLE_COINS = ("USDT", "USDC")
ORDERS_PATH, ORDERS_PAGE = "/v5/order/realtime", 50  # open orders (openOnly=0), "[1, 50]"
POSITIONS_PATH, POSITIONS_PAGE = "/v5/position/list", 200  # "[1, 200]"
EXECUTIONS_PATH, EXECUTIONS_PAGE = "/v5/execution/list", 100  # "[1, 100]"
WALLET_PATH = "/v5/account/wallet-balance"
FILL_WINDOW_MS = 7 * 24 * 3600 * 1000  # execution/list: "endTime - startTime <= 7 days"
MAX_FILL_WINDOWS = 4  # fills older than 28 days are not asked for: the snapshot's fills_since says so
MAX_PAGES = 20
_encoder = msgspec.json.Encoder()
SUBSCRIBE = _encoder.encode({"op": "subscribe", "args": list(TOPICS)}).decode()


def auth_message(credentials: Credentials, expires_ms: int) -> str:
    """{"req_id":"auth","op":"auth","args":[api_key, expires, signature]}."""
    signature = auth_signature(credentials.secret, expires_ms)
    return _encoder.encode({"req_id": "auth", "op": "auth", "args": [credentials.key, expires_ms, signature]}
                           ).decode()


def signed_headers(credentials: Credentials, timestamp_ms: int, query: str,
                   recv_window_ms: int = RECV_WINDOW_MS) -> dict[str, str]:
    """The four headers of a signed GET whose query string is `query`."""
    prehash = rest_prehash(timestamp_ms, credentials.key, recv_window_ms, query)
    return {"X-BAPI-API-KEY": credentials.key, "X-BAPI-TIMESTAMP": str(timestamp_ms),
            "X-BAPI-RECV-WINDOW": str(recv_window_ms),
            "X-BAPI-SIGN": rest_signature(credentials.secret, prehash)}


def query_string(params: Mapping[str, str]) -> str:
    """The query as sent and as signed, in the given order ("queryString (no need to sort)")."""
    return "&".join(f"{key}={value}" for key, value in params.items())


def _credentials(link: Link) -> Credentials:
    if link.credentials is None:
        raise AuthRejected("bybit needs an API key: none is stored for this account")
    return link.credentials


async def login(link: Link, base_url: str) -> Login:
    """Auth and the four topics, sent in order right after connect (Bybit answers them in order)."""
    expires_ms = now_us() // 1000 + AUTH_EXPIRES_MS
    return Login(url=base_url, messages=(auth_message(_credentials(link), expires_ms), SUBSCRIBE))


def parser(account: Account) -> Parse:
    """The account's frames -> its events (account=account.id)."""
    account_id = account.id

    def parse(raw: bytes | str, recv_ts: int) -> list[AnyEvent]:
        return parse_frame(raw, recv_ts, account_id)

    return parse


# --- signed REST ---


class Page(msgspec.Struct, Generic[T], frozen=True):
    items: list[T] = msgspec.field(default_factory=list, name="list")
    nextPageCursor: str = ""
    category: str = ""


class Answer(msgspec.Struct, Generic[T], frozen=True):
    """The v5 envelope; a refused call's result is {}."""

    retCode: int
    result: T
    retMsg: str = ""
    time: int = 0  # ms


_order_pages = msgspec.json.Decoder(Answer[Page[OrderItem]])
_position_pages = msgspec.json.Decoder(Answer[Page[PositionItem]])
_execution_pages = msgspec.json.Decoder(Answer[Page[ExecutionItem]])
_wallets = msgspec.json.Decoder(Answer[Page[WalletItem]])


async def signed_get(link: Link, path: str, params: Mapping[str, str],
                     decoder: msgspec.json.Decoder[Answer[T]]) -> Answer[T]:
    """One signed GET through the venue's client; a refused key raises AuthRejected."""
    query = query_string(params)
    headers = signed_headers(_credentials(link), now_us() // 1000, query)
    try:
        raw = await link.client.request("GET", f"{path}?{query}", headers=headers, weight=REST_WEIGHT)
    except BadResponse as exc:
        if exc.status == 401:
            raise AuthRejected(f"bybit HTTP 401 for {path}") from exc
        raise
    answer = decode(decoder, raw)
    if answer.retCode in AUTH_CODES:
        raise AuthRejected(f"bybit {answer.retCode} {answer.retMsg}")
    if answer.retCode != 0:
        raise FrameError(f"bybit retCode {answer.retCode} for {path}: {answer.retMsg}")
    return answer


async def pages(link: Link, path: str, params: Mapping[str, str],
                decoder: msgspec.json.Decoder[Answer[Page[T]]]) -> list[Answer[Page[T]]]:
    """Every page of a cursor-paged list."""
    answers = [await signed_get(link, path, params, decoder)]
    while answers[-1].result.nextPageCursor:
        if len(answers) == MAX_PAGES:
            raise FrameError(f"{path} still had pages after {MAX_PAGES}")
        params = {**params, "cursor": answers[-1].result.nextPageCursor}
        answers.append(await signed_get(link, path, params, decoder))
    return answers


async def snapshot(link: Link, fills_since_us: int) -> AccountSnapshot:
    """Open orders and positions (linear, both settle coins), the unified wallet's balances, and
    the linear fills since fills_since_us (at most MAX_FILL_WINDOWS weeks back)."""
    account, recv_ts = link.account.id, now_us()
    orders: list[AccountOrder] = []
    positions: list[Position] = []
    for coin in SETTLE_COINS:
        linear = {"category": "linear", "settleCoin": coin}
        asked = {**linear, "openOnly": "0", "limit": str(ORDERS_PAGE)}
        for page in await pages(link, ORDERS_PATH, asked, _order_pages):
            convert = partial(order_event, account, recv_ts=recv_ts)
            orders += read(page.result.items, convert, page.result.category)
        asked = {**linear, "limit": str(POSITIONS_PAGE)}
        for held in await pages(link, POSITIONS_PATH, asked, _position_pages):
            at = partial(position_event, account, ts_ms=held.time, recv_ts=recv_ts)
            positions += read(held.result.items, at, held.result.category)
    wallet = await signed_get(link, WALLET_PATH, {"accountType": "UNIFIED"}, _wallets)
    balances: list[Balance] = [b for item in wallet.result.items
                               for b in balance_events(account, item, wallet.time, recv_ts)]
    since_ms, fills = await _fills(link, fills_since_us // 1000, wallet.time or recv_ts // 1000)
    return AccountSnapshot(
        account=account, exchange=NAME, reason="connect", open_orders=orders, balances=balances,
        positions=positions, fills=fills, fills_since=ms_to_us(since_ms), ts=now_us(), recv_ts=recv_ts)


async def _fills(link: Link, since_ms: int, now_ms: int) -> tuple[int, list[AccountFill]]:
    """(where the fills asked for start, the fills): 7-day windows from since_ms to now_ms."""
    account, recv_ts = link.account.id, now_us()
    start = max(since_ms, now_ms - MAX_FILL_WINDOWS * FILL_WINDOW_MS)
    fills: list[AccountFill] = []
    for begin in range(start, now_ms + 1, FILL_WINDOW_MS):
        window = {"category": "linear", "startTime": str(begin),
                  "endTime": str(min(begin + FILL_WINDOW_MS - 1, now_ms)), "limit": str(EXECUTIONS_PAGE)}
        for page in await pages(link, EXECUTIONS_PATH, window, _execution_pages):
            items = [i for i in page.result.items if i.execType not in NOT_FILLS]
            fills += read(items, partial(fill_event, account, recv_ts=recv_ts), page.result.category)
    return start, fills


ACCOUNT = AccountApi(
    url_key=URL_KEY,
    login=login,
    parser=parser,
    snapshot=snapshot,
    keepalive=Keepalive(PING, PING_INTERVAL_S),  # without ping-pong or data "cut off after 10 minutes"
)
