"""The user's own Hyperliquid addresses: read by address, no key (a Hyperliquid "account" is the
address tradehub reads; trading keys never reach tradehub).

Socket (https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/websocket/subscriptions):
`userFills` ({isSnapshot?, user, fills: [WsFill]}; the first message is the recent fills with
isSnapshot true) and `userEvents` (channel "user": {fills}, {funding}, {liquidation} or
{nonUserCancel}). The snapshot batch is kept: a fill's identity is its tid, so fills already stored
change nothing, and those missed while disconnected are caught before the REST snapshot runs.
Funding payments, liquidation notices and cancels by the venue carry no fill: their effect reaches
the balances, positions and orders of the next REST snapshot; a liquidation's own fills carry a
`liquidation` block, which marks them closing="liquidation".
Per IP, user-specific subscriptions may cover at most 10 users (rate-limits-and-user-limits page).

REST (info endpoint, https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/info-endpoint
and its perpetuals page): clearinghouseState (weight 2) -> positions and the USDC margin balance,
openOrders (weight 20) -> open orders, userFillsByTime (weight 20, +1 per 20 fills) -> fills since.
"""
from __future__ import annotations

import re
from decimal import Decimal

import msgspec

from services.receivers.exchanges.hyperliquid.market import GREETING, NOT_DATA, subscribe_message
from services.receivers.exchanges.hyperliquid.symbols import INFO_PATH, NAME, symbol_of
from services.receivers.exchanges.hyperliquid.traders import (
    STATE_WEIGHT,
    ClearinghouseState,
    WireFill,
    fill_pages,
)
from services.receivers.frames import FrameError, decode, divide, finite, ms_to_us
from services.receivers.private import AuthRejected, Link, Login
from services.receivers.venue import Parse
from shared.accounts import Account
from shared.events import (
    AccountFill,
    AccountOrder,
    AccountSnapshot,
    AnyEvent,
    Balance,
    Closing,
    Position,
    now_us,
)

URL_KEY = "hyperliquid_private"
USERS_PER_IP = 10  # "10 unique users across user-specific websocket subscriptions"
OPEN_ORDERS_WEIGHT = 20  # "All other documented info requests have weight 20"
COLLATERAL = "USDC"  # perpetuals are margined in USDC
ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")


# --- subscribe ---


def user_fills_subscription(address: str) -> bytes:
    return subscribe_message({"type": "userFills", "user": address})


def user_events_subscription(address: str) -> bytes:
    return subscribe_message({"type": "userEvents", "user": address})


def address_of(link: Link) -> str:
    address = link.account.address
    if not ADDRESS.fullmatch(address):
        raise AuthRejected(f"hyperliquid: account {link.account.id} has no valid address to read")
    return address.lower()


async def login(link: Link, base_url: str) -> Login:
    """The two user subscriptions of the account's address; nothing to sign."""
    address = address_of(link)
    return Login(url=base_url, messages=[user_fills_subscription(address), user_events_subscription(address)])


# --- fills ---


def own_liquidation(fill: WireFill, address: str) -> bool:
    """The liquidation block is on both fills of a liquidation: ours when it names us (or no one)."""
    block = fill.liquidation
    return block is not None and (block.liquidatedUser is None or block.liquidatedUser.lower() == address)


def account_fill(fill: WireFill, account: Account, recv_ts: int) -> AccountFill | None:
    """One fill -> AccountFill; a spot pair named by index ("@107") is left out (only spotMeta names it).

    {"coin":"AVAX","px":"18.435","sz":"93.53","side":"B","time":1681222254710,"startPosition":"26.86",
     "dir":"Open Long","closedPnl":"0.0","hash":"0xa166...","oid":90542681,"crossed":false,
     "fee":"0.01","tid":118906512037719,"feeToken":"USDC"}
    """
    if fill.coin.startswith("@"):
        return None
    closing: Closing = "liquidation" if own_liquidation(fill, account.address.lower()) else ""
    return AccountFill(
        account=account.id, exchange=NAME, symbol=symbol_of(fill.coin), order_id=str(fill.oid),
        fill_id=str(fill.tid), side="buy" if fill.side == "B" else "sell", price=finite(fill.px, "px"),
        size=finite(fill.sz, "sz"), fee=finite(fill.fee, "fee"), fee_asset=fill.feeToken,
        realized_pnl=finite(fill.closedPnl, "closedPnl"), closing=closing, ts=ms_to_us(fill.time),
        recv_ts=recv_ts)


class UserFills(msgspec.Struct, frozen=True):
    user: str
    fills: list[WireFill]
    isSnapshot: bool = False  # true on the first message; absent (not false) afterwards


class UserEvent(msgspec.Struct, frozen=True):
    """userEvents data: one of fills, funding, liquidation, nonUserCancel (only fills are read)."""

    fills: list[WireFill] | None = None


class Push(msgspec.Struct, frozen=True):
    channel: str


class FillsPush(msgspec.Struct, frozen=True):
    data: UserFills


class EventPush(msgspec.Struct, frozen=True):
    data: UserEvent


_push = msgspec.json.Decoder(Push)
_fills_push = msgspec.json.Decoder(FillsPush)
_event_push = msgspec.json.Decoder(EventPush)


def parser(account: Account) -> Parse:
    """The address's pushes -> AccountFills; acks, pongs and the greeting -> []."""

    def fills(wire: list[WireFill], recv_ts: int) -> list[AnyEvent]:
        events: list[AnyEvent] = []
        for fill in wire:
            event = account_fill(fill, account, recv_ts)
            if event is not None:
                events.append(event)
        return events

    def parse(raw: bytes | str, recv_ts: int) -> list[AnyEvent]:
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogatepass")
        if raw == GREETING:
            return []
        channel = decode(_push, raw).channel
        if channel in NOT_DATA:
            return []
        if channel == "userFills":
            return fills(decode(_fills_push, raw).data.fills, recv_ts)
        if channel == "user":
            return fills(decode(_event_push, raw).data.fills or [], recv_ts)
        raise FrameError(f"unhandled channel {channel!r}: {raw[:200]!r}")  # includes {"channel":"error"}

    return parse


# --- the REST snapshot ---


class OpenOrder(msgspec.Struct, frozen=True):
    """An element of openOrders: sz is what remains; origSz and cloid are on the live answers."""

    coin: str
    side: str  # B buy, A sell
    limitPx: Decimal
    sz: Decimal
    oid: int
    timestamp: int  # ms, when placed
    origSz: Decimal | None = None
    cloid: str | None = None


_open_orders = msgspec.json.Decoder(list[OpenOrder])
_state = msgspec.json.Decoder(ClearinghouseState)


def account_order(order: OpenOrder, account: str, recv_ts: int) -> AccountOrder | None:
    """A resting limit order; its filled part is origSz - sz (0 when origSz is not given)."""
    if order.coin.startswith("@"):
        return None
    remaining = finite(order.sz, "sz")
    size = finite(order.origSz, "origSz") if order.origSz is not None else remaining
    filled = size - remaining
    return AccountOrder(
        account=account, exchange=NAME, symbol=symbol_of(order.coin), order_id=str(order.oid),
        side="buy" if order.side == "B" else "sell", price=finite(order.limitPx, "limitPx"), size=size,
        filled=filled, status="partially_filled" if filled else "new", order_type="limit",
        client_id=order.cloid or "", ts=ms_to_us(order.timestamp), recv_ts=recv_ts)


def parse_open_orders(raw: bytes, account: str, recv_ts: int) -> list[AccountOrder]:
    """[{"coin":"BTC","limitPx":"29792.0","oid":91490942,"side":"A","sz":"0.0","timestamp":1681247412573}]"""
    orders = (account_order(o, account, recv_ts) for o in decode(_open_orders, raw))
    return [o for o in orders if o is not None]


def parse_state(raw: bytes, account: str, recv_ts: int) -> tuple[list[Position], list[Balance]]:
    """clearinghouseState -> the positions (mark = positionValue / |szi|) and the USDC balance:
    total the account value, available what may be withdrawn."""
    state = decode(_state, raw)
    ts = ms_to_us(state.time)
    positions: list[Position] = []
    for item in state.assetPositions:
        p = item.position
        size = finite(p.szi, "szi")
        if not size:
            continue
        positions.append(Position(
            account=account, exchange=NAME, symbol=symbol_of(p.coin), size=size,
            entry_price=None if p.entryPx is None else finite(p.entryPx, "entryPx"),
            mark_price=divide(finite(p.positionValue, "positionValue"), abs(size), "mark"),
            unrealized_pnl=finite(p.unrealizedPnl, "unrealizedPnl"),
            leverage=None if p.leverage is None else finite(p.leverage.value, "leverage"),
            ts=ts, recv_ts=recv_ts))
    summary = state.marginSummary
    total = finite(summary.accountValue, "accountValue")
    used = summary.totalMarginUsed or Decimal(0)
    available = state.withdrawable if state.withdrawable is not None else total - used
    balance = Balance(account=account, exchange=NAME, asset=COLLATERAL, total=total,
                      available=finite(available, "withdrawable"), ts=ts, recv_ts=recv_ts)
    return positions, [balance]


async def read_fills(link: Link, address: str, since_ms: int) -> list[AccountFill]:
    """Every fill from since_ms (inclusive), paged by time as the tracker pages (traders.fill_pages)."""
    seen, found = set[tuple[int, int]](), list[AccountFill]()
    async for page in fill_pages(link.client, address, since_ms):
        recv_ts = now_us()
        for fill in page:
            key = (fill.tid, fill.time)
            event = None if key in seen else account_fill(fill, link.account, recv_ts)
            seen.add(key)
            if event is not None:
                found.append(event)
    return found


async def snapshot(link: Link, fills_since_us: int) -> AccountSnapshot:
    """clearinghouseState, openOrders and userFillsByTime of the address, from the venue's budget."""
    address, account = address_of(link), link.account.id
    body = {"type": "clearinghouseState", "user": address}
    state = await link.client.post(INFO_PATH, body, weight=STATE_WEIGHT)
    positions, balances = parse_state(state, account, now_us())
    body = {"type": "openOrders", "user": address}
    raw = await link.client.post(INFO_PATH, body, weight=OPEN_ORDERS_WEIGHT)
    orders = parse_open_orders(raw, account, now_us())
    fills = await read_fills(link, address, fills_since_us // 1000)
    now = now_us()
    return AccountSnapshot(account=account, exchange=NAME, reason="connect", open_orders=orders,
                           balances=balances, positions=positions, fills=fills, fills_since=fills_since_us,
                           ts=now, recv_ts=now)
