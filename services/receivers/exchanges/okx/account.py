"""OKX v5 private side: one socket per account on /ws/v5/private (login, then the orders, positions
and account channels once the login is acknowledged; the text "ping" every 20 s), and the signed
REST snapshot reconciliation compares the stored state with. Pure parts: account_parse.py.

The subscription waits for the login's ack ({"event":"login","code":"0"}): OKX answers a
subscription sent before it with 60011 "Please log in". The account's Keepalive.reply sends it.
REST (https://www.okx.com/docs-v5/en/#overview-rest-authentication): headers OK-ACCESS-KEY,
OK-ACCESS-SIGN, OK-ACCESS-TIMESTAMP, OK-ACCESS-PASSPHRASE; "the request will expire 30 seconds after
the timestamp". A refused key is HTTP 401 with the venue's code (50111 Invalid OK-ACCESS-KEY,
50113 Invalid Sign, 50105 passphrase incorrect, 50102 timestamp expired, ...).

Swap sizes are contracts (ctVal coins): the private side keeps one ctVal table (CONTRACTS), the
built-in market values until snapshot() has read public/instruments, then refreshed hourly; every
account's parser reads it, so a swap unknown before the first snapshot is refused frame by frame
(counted), and its fills reach the store through that snapshot's reconciliation.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Generic, TypeVar

import msgspec

from services.receivers.exchanges.okx.account_parse import (
    AccountItem,
    Envelope,
    FillItem,
    OrderItem,
    PositionItem,
    balance_events,
    fill_event,
    login_sign,
    order_event,
    parse_frame,
    position_event,
    readable,
    reads_position,
    rest_prehash,
    rest_sign,
)
from services.receivers.exchanges.okx.market import CT_VAL, NAME, PING, fetch_contract_values
from services.receivers.frames import FrameError, decode, ms_to_us
from services.receivers.private import AccountApi, AuthRejected, Link, Login
from services.receivers.rest import BadResponse, VenueClient
from services.receivers.venue import Keepalive, Message, Parse
from shared.accounts import Account, Credentials
from shared.events import AccountFill, AccountOrder, AccountSnapshot, AnyEvent, now_us

T = TypeVar("T")
URL_KEY = "okx_private"
# Port 443, as the public feeds (market.WS_URL): the documented :8443 is being retired
PRIVATE_WS_URL = "wss://ws.okx.com/ws/v5/private"
PING_INTERVAL_S = 20  # "ping" before 30 s of silence ("the connection will break ... 30 seconds")
REST_WEIGHT = 1  # each endpoint allows 10-60 requests per 2 s per user; the venue's one budget paces all
ORDERS_PATH, ORDERS_PAGE = "/api/v5/trade/orders-pending", 100  # "The maximum is 100"
FILLS_PATH, FILLS_PAGE = "/api/v5/trade/fills", 100
POSITIONS_PATH = "/api/v5/account/positions"
BALANCE_PATH = "/api/v5/account/balance"
FILLS_REACH_MS = 3 * 24 * 3600 * 1000  # trade/fills: "the last 3 days"
MAX_PAGES = 20
CONTRACTS_REFRESH_S = 3600.0
# HTTP 200 answers with these codes refuse the key too (frozen API key, key of another environment)
AUTH_CODES = frozenset({"50100", "50101", "50105", "50111", "50113", "50114"})
_encoder = msgspec.json.Encoder()
SUBSCRIBE = _encoder.encode({"op": "subscribe", "args": [
    {"channel": "orders", "instType": "ANY"}, {"channel": "positions", "instType": "ANY"},
    {"channel": "account"}]}).decode()


@dataclass
class ContractValues:
    """The private side's ctVal table: read by every account's parser, filled by snapshot()."""

    table: dict[str, Decimal] = field(default_factory=lambda: dict(CT_VAL))
    loaded_at: float = float("-inf")  # monotonic seconds of the last load

    async def refresh(self, client: VenueClient) -> None:
        """Load public/instruments through the venue's client when the table is an hour old."""
        if time.monotonic() - self.loaded_at < CONTRACTS_REFRESH_S:
            return
        self.table.update(await fetch_contract_values(client))
        self.loaded_at = time.monotonic()


CONTRACTS = ContractValues()


def login_message(credentials: Credentials, timestamp_s: str) -> str:
    """{"op":"login","args":[{"apiKey","passphrase","timestamp","sign"}]}."""
    arg = {"apiKey": credentials.key, "passphrase": credentials.passphrase, "timestamp": timestamp_s,
           "sign": login_sign(credentials.secret, timestamp_s)}
    return _encoder.encode({"op": "login", "args": [arg]}).decode()


def subscribe_after_login(raw: bytes | str) -> Message | None:
    """Keepalive.reply: the login's ack is answered with the subscription; nothing else is."""
    text = raw if isinstance(raw, str) else raw.decode(errors="replace")
    if '"login"' not in text:
        return None
    try:
        envelope = msgspec.json.decode(text, type=Envelope)
    except msgspec.DecodeError:
        return None
    return SUBSCRIBE if envelope.event == "login" and envelope.code == "0" else None


def _credentials(link: Link) -> Credentials:
    if link.credentials is None:
        raise AuthRejected("okx needs an API key: none is stored for this account")
    return link.credentials


async def login(link: Link, base_url: str) -> Login:
    """The login alone: the subscription follows its ack (subscribe_after_login)."""
    timestamp_s = str(now_us() // 1_000_000)
    return Login(url=base_url, messages=(login_message(_credentials(link), timestamp_s),))


def parser_with(ct_val: Mapping[str, Decimal]) -> Callable[[Account], Parse]:
    """parser(account) reading contract values from ct_val (a table kept fresh elsewhere)."""

    def parser(account: Account) -> Parse:
        account_id = account.id

        def parse(raw: bytes | str, recv_ts: int) -> list[AnyEvent]:
            return parse_frame(raw, recv_ts, account_id, ct_val)

        return parse

    return parser


parser = parser_with(CONTRACTS.table)


# --- signed REST ---


class Answer(msgspec.Struct, Generic[T], frozen=True):
    """{"code":"0","msg":"","data":[...]}: code "0" is success."""

    code: str
    data: list[T] = []
    msg: str = ""


_orders = msgspec.json.Decoder(Answer[OrderItem])
_fills = msgspec.json.Decoder(Answer[FillItem])
_positions = msgspec.json.Decoder(Answer[PositionItem])
_balances = msgspec.json.Decoder(Answer[AccountItem])


def iso_timestamp(ts_us: int) -> str:
    """OK-ACCESS-TIMESTAMP: ISO 8601 in UTC with milliseconds, e.g. 2020-12-08T09:08:57.715Z."""
    ms = ts_us // 1000  # whole seconds and milliseconds apart: a float could round .715 down to .714
    moment = datetime.fromtimestamp(ms // 1000, UTC).replace(microsecond=ms % 1000 * 1000)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def signed_headers(credentials: Credentials, timestamp: str, method: str, request_path: str,
                   body: str = "") -> dict[str, str]:
    sign = rest_sign(credentials.secret, rest_prehash(timestamp, method, request_path, body))
    return {"OK-ACCESS-KEY": credentials.key, "OK-ACCESS-SIGN": sign, "OK-ACCESS-TIMESTAMP": timestamp,
            "OK-ACCESS-PASSPHRASE": credentials.passphrase}


async def signed_get(link: Link, path: str, params: Mapping[str, str],
                     decoder: msgspec.json.Decoder[Answer[T]]) -> list[T]:
    """One signed GET through the venue's client; a refused key raises AuthRejected."""
    request_path = f"{path}?{'&'.join(f'{k}={v}' for k, v in params.items())}" if params else path
    headers = signed_headers(_credentials(link), iso_timestamp(now_us()), "GET", request_path)
    try:
        raw = await link.client.request("GET", request_path, headers=headers, weight=REST_WEIGHT)
    except BadResponse as exc:
        if exc.status == 401:
            raise AuthRejected(_refusal_text(exc.body)) from exc
        raise
    answer = decode(decoder, raw)
    if answer.code in AUTH_CODES:
        raise AuthRejected(f"okx {answer.code} {answer.msg}")
    if answer.code != "0":
        raise FrameError(f"okx code {answer.code} for {path}: {answer.msg}")
    return answer.data


def _refusal_text(body: bytes) -> str:
    try:
        answer = msgspec.json.decode(body, type=Answer[msgspec.Raw])
    except msgspec.DecodeError:
        return "okx HTTP 401"
    return f"okx {answer.code} {answer.msg}"


async def _paged(link: Link, path: str, params: dict[str, str], decoder: msgspec.json.Decoder[Answer[T]],
                 page: int, cursor: Callable[[T], str]) -> list[T]:
    """Every page, newest first: `after` is the cursor of the last item of the page before."""
    items = await signed_get(link, path, params, decoder)
    got = len(items)
    for _ in range(MAX_PAGES - 1):
        if got < page:
            return items
        more = await signed_get(link, path, {**params, "after": cursor(items[-1])}, decoder)
        items, got = items + more, len(more)
    if got < page:
        return items
    raise FrameError(f"{path} still had pages after {MAX_PAGES}")


async def snapshot(link: Link, fills_since_us: int) -> AccountSnapshot:
    """Open orders, swap positions, balances, and the fills since fills_since_us (trade/fills
    reaches back 3 days: an older start is moved up, and fills_since says so)."""
    await CONTRACTS.refresh(link.client)
    account, recv_ts, ct_val = link.account.id, now_us(), CONTRACTS.table
    since_ms = max(fills_since_us // 1000, recv_ts // 1000 - FILLS_REACH_MS)
    asked = {"limit": str(ORDERS_PAGE)}  # every instrument type: the items say theirs
    orders: list[AccountOrder] = [
        order_event(account, order, ct_val, recv_ts)
        for order in await _paged(link, ORDERS_PATH, asked, _orders, ORDERS_PAGE, lambda o: o.ordId)
        if readable(order.instType, order.instId)]
    asked = {"begin": str(since_ms), "limit": str(FILLS_PAGE)}
    fills: list[AccountFill] = [
        fill_event(account, fill, ct_val, recv_ts)
        for fill in await _paged(link, FILLS_PATH, asked, _fills, FILLS_PAGE, lambda f: f.billId)
        if readable(fill.instType, fill.instId)]
    held = await signed_get(link, POSITIONS_PATH, {"instType": "SWAP"}, _positions)
    positions = [position_event(account, p, ct_val, recv_ts) for p in held if reads_position(p)]
    balances = [b for item in await signed_get(link, BALANCE_PATH, {}, _balances)
                for b in balance_events(account, item, recv_ts)]
    return AccountSnapshot(
        account=account, exchange=NAME, reason="connect", open_orders=orders, balances=balances,
        positions=positions, fills=fills, fills_since=ms_to_us(since_ms), ts=now_us(), recv_ts=recv_ts)


ACCOUNT = AccountApi(
    url_key=URL_KEY,
    login=login,
    parser=parser,
    snapshot=snapshot,
    # "ping" keeps the socket open; the reply subscribes once the login is acknowledged
    keepalive=Keepalive(PING, PING_INTERVAL_S, reply=subscribe_after_login),
)
