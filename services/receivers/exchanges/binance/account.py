"""Binance USD-M futures: the private side of one account, its user data stream.

A listenKey is made by POST /fapi/v1/listenKey (the API key alone), lives 60 minutes, and a PUT
extends it another 60 (-1125: it is gone, make a new one); one connection lives 24 hours.
https://developers.binance.com/docs/derivatives/usds-margined-futures/user-data-streams/Connect
Since the 2026 URL split the stream is read on the private entry point,
wss://fstream.binance.com/private/ws?listenKey=<key>&events=<E1>/<E2>, the legacy /ws/<key>
retiring on 2026-04-23 (Important-WebSocket-Change-Notice page). `events` is an allow list: an
event it does not name never arrives, so listenKeyExpired is named with the two data events.
The server pings every 3 minutes and the websocket client answers; an account may stay silent
for hours, so the idle timeout is long and a dead socket is found by the client's own pings.
Signing and the REST snapshot: account_rest.py.
"""
from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Literal

import msgspec

from services.receivers.exchanges.binance.account_rest import (
    call,
    closing_of,
    net_legs,
    positive,
    snapshot,
    status_of,
)
from services.receivers.exchanges.binance.symbols import NAME, symbol_of
from services.receivers.frames import decode, finite, ms_to_us
from services.receivers.private import AccountApi, Link, Login, SessionExpired
from services.receivers.venue import Message, Parse
from shared.accounts import Account
from shared.events import AccountFill, AccountOrder, AnyEvent, Balance, Position, Side

URL_KEY = "binance_private"
PRIVATE_WS_URL = "wss://fstream.binance.com/private/ws"
LISTEN_KEY_PATH = "/fapi/v1/listenKey"  # POST / PUT / DELETE, weight 1 each (Start/Keepalive pages)
EVENTS = ("ORDER_TRADE_UPDATE", "ACCOUNT_UPDATE", "listenKeyExpired")
RENEW_S = 1800.0  # PUT every 30 minutes: a key lives 60
MAX_AGE_S = 24 * 3600.0  # "A single connection is only valid for 24 hours"
IDLE_TIMEOUT_S = 6 * 3600.0  # a quiet account sends nothing for hours; pings prove the socket alive
FILL_EXECUTIONS = frozenset({"TRADE", "CALCULATED"})  # CALCULATED: the liquidation's execution


# --- the socket: its url, and keeping its listenKey alive ---


def private_url(base_url: str, listen_key: str) -> str:
    """ws mode of the private entry point: one listenKey, the events allowed through."""
    return f"{base_url.rstrip('/')}?listenKey={listen_key}&events={'/'.join(EVENTS)}"


class ListenKey(msgspec.Struct, frozen=True):
    listenKey: str


_listen_key = msgspec.json.Decoder(ListenKey)


async def login(link: Link, base_url: str) -> Login:
    """POST listenKey (the account's active key, extended, or a new one) -> the socket's url."""
    key = decode(_listen_key, await call(link, "POST", LISTEN_KEY_PATH, weight=1)).listenKey
    return Login(url=private_url(base_url, key), token=key)


async def renew(link: Link, login: Login) -> Sequence[Message]:
    """PUT listenKey: another 60 minutes; -1125 (gone) raises SessionExpired. Nothing to send."""
    await call(link, "PUT", LISTEN_KEY_PATH, weight=1)
    return []


# --- the frames, each beside its events (Event-Order-Update, Event-Balance-and-Position-Update,
# Event-User-Data-Stream-Expired pages under usds-margined-futures/user-data-streams) ---


class OrderDetail(msgspec.Struct, frozen=True):
    """The "o" object of ORDER_TRADE_UPDATE."""

    symbol: str = msgspec.field(name="s")
    client_id: str = msgspec.field(name="c")
    side: Literal["BUY", "SELL"] = msgspec.field(name="S")
    order_type: str = msgspec.field(name="o")
    quantity: Decimal = msgspec.field(name="q")
    price: Decimal = msgspec.field(name="p")  # "0" on a market order
    avg_price: Decimal = msgspec.field(name="ap")
    execution: str = msgspec.field(name="x")  # NEW, CANCELED, CALCULATED, EXPIRED, TRADE, AMENDMENT
    status: str = msgspec.field(name="X")
    order_id: int = msgspec.field(name="i")
    last_quantity: Decimal = msgspec.field(name="l")
    filled: Decimal = msgspec.field(name="z")
    last_price: Decimal = msgspec.field(name="L")
    trade_time: int = msgspec.field(name="T")
    trade_id: int = msgspec.field(name="t")
    fee_asset: str = msgspec.field(name="N", default="")  # "will not push if no commission"
    fee: Decimal = msgspec.field(name="n", default=Decimal(0))  # paid: > 0 a cost
    realized_pnl: Decimal | None = msgspec.field(name="rp", default=None)


class OrderTradeUpdate(msgspec.Struct, frozen=True):
    event_time: int = msgspec.field(name="E")
    order: OrderDetail = msgspec.field(name="o")


def order_events(msg: OrderTradeUpdate, account: str, recv_ts: int) -> list[AnyEvent]:
    """One order update -> AccountOrder at the event time, plus an AccountFill when it carries one.

    {"e":"ORDER_TRADE_UPDATE","T":1731954087444,"E":1731954087444,"o":{"s":"BTCUSDT","c":"x1",
     "S":"BUY","o":"LIMIT","f":"GTC","q":"0.002","p":"91739.90","ap":"91739.90000","sp":"0",
     "x":"TRADE","X":"FILLED","i":482255808281,"l":"0.002","z":"0.002","L":"91739.90",
     "n":"0.09173990","N":"USDT","T":1731954087444,"t":5612428004,...,"rp":"0",...}}
    """
    o = msg.order
    symbol, closing = symbol_of(o.symbol), closing_of(o.client_id)
    side: Side = "buy" if o.side == "BUY" else "sell"
    events: list[AnyEvent] = [AccountOrder(
        account=account, exchange=NAME, symbol=symbol, order_id=str(o.order_id), side=side,
        price=positive(o.price, "price"), size=finite(o.quantity, "quantity"),
        filled=finite(o.filled, "filled"), status=status_of(o.status), order_type=o.order_type.lower(),
        client_id=o.client_id, avg_price=positive(o.avg_price, "average price"), closing=closing,
        ts=ms_to_us(msg.event_time), recv_ts=recv_ts,
    )]
    if o.execution in FILL_EXECUTIONS and finite(o.last_quantity, "last quantity") > 0:
        events.append(AccountFill(
            account=account, exchange=NAME, symbol=symbol, order_id=str(o.order_id), fill_id=str(o.trade_id),
            side=side, price=finite(o.last_price, "last price"), size=o.last_quantity,
            fee=finite(o.fee, "commission"), fee_asset=o.fee_asset,
            realized_pnl=None if o.realized_pnl is None else finite(o.realized_pnl, "realized pnl"),
            closing=closing, ts=ms_to_us(o.trade_time), recv_ts=recv_ts,
        ))
    return events


class BalanceEntry(msgspec.Struct, frozen=True):
    asset: str = msgspec.field(name="a")
    wallet: Decimal = msgspec.field(name="wb")
    cross_wallet: Decimal = msgspec.field(name="cw")


class PositionEntry(msgspec.Struct, frozen=True):
    symbol: str = msgspec.field(name="s")
    amount: Decimal = msgspec.field(name="pa")  # signed
    entry_price: Decimal = msgspec.field(name="ep")
    unrealized_pnl: Decimal = msgspec.field(name="up")
    side: str = msgspec.field(name="ps", default="BOTH")  # BOTH (one-way mode), LONG / SHORT (hedge)


class AccountData(msgspec.Struct, frozen=True):
    reason: str = msgspec.field(name="m", default="")
    balances: list[BalanceEntry] = msgspec.field(name="B", default_factory=list)
    positions: list[PositionEntry] = msgspec.field(name="P", default_factory=list)


class AccountUpdate(msgspec.Struct, frozen=True):
    event_time: int = msgspec.field(name="E")
    data: AccountData = msgspec.field(name="a")


def account_events(msg: AccountUpdate, account: str, recv_ts: int) -> list[AnyEvent]:
    """One ACCOUNT_UPDATE -> a Balance per changed asset and a Position per changed symbol (only
    what changed is sent); a hedge-mode symbol's rows are netted (account_rest.net_legs).

    {"e":"ACCOUNT_UPDATE","T":1731954087444,"E":1731954087444,"a":{"B":[{"a":"USDT",
     "wb":"642.76097079","cw":"642.76097079","bc":"0"}],"P":[{"s":"BTCUSDT","pa":"0.002",
     "ep":"91739.9","cr":"0","up":"-0.03508665","mt":"cross","iw":"0","ps":"BOTH","ma":"USDT",
     "bep":"91785.76995"}],"m":"ORDER"}}
    """
    ts, data = ms_to_us(msg.event_time), msg.data
    events: list[AnyEvent] = [
        Balance(account=account, exchange=NAME, asset=b.asset, total=finite(b.wallet, "wallet"),
                available=finite(b.cross_wallet, "cross wallet"), ts=ts, recv_ts=recv_ts)
        for b in data.balances
    ]
    netted = net_legs([(p.symbol, p.amount, p.entry_price, p.unrealized_pnl) for p in data.positions])
    events += [
        Position(account=account, exchange=NAME, symbol=symbol_of(symbol), size=size, entry_price=entry,
                 unrealized_pnl=pnl, ts=ts, recv_ts=recv_ts)
        for symbol, (size, entry, pnl) in netted.items()
    ]
    return events


class Envelope(msgspec.Struct, frozen=True):
    e: str = ""  # event type
    E: int = 0  # event time, ms


_envelope = msgspec.json.Decoder(Envelope)
_order_update = msgspec.json.Decoder(OrderTradeUpdate)
_account_update = msgspec.json.Decoder(AccountUpdate)


def parse_frame(raw: bytes | str, recv_ts: int, account: str) -> list[AnyEvent]:
    """A user data frame -> events. listenKeyExpired ({"e":"listenKeyExpired","E":..,"listenKey":..})
    ends the session: no event comes until a new key is used. Events not asked for -> []."""
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogatepass")
    envelope = decode(_envelope, raw)
    if envelope.e == "ORDER_TRADE_UPDATE":
        return order_events(decode(_order_update, raw), account, recv_ts)
    if envelope.e == "ACCOUNT_UPDATE":
        return account_events(decode(_account_update, raw), account, recv_ts)
    if envelope.e == "listenKeyExpired":
        raise SessionExpired(f"binance listenKeyExpired at {envelope.E} ms")  # the key itself is a secret
    return []


def parser(account: Account) -> Parse:
    """The parse of one account's frames: every event names the account's id."""
    def parse(raw: bytes | str, recv_ts: int) -> list[AnyEvent]:
        return parse_frame(raw, recv_ts, account.id)

    return parse


ACCOUNT = AccountApi(
    url_key=URL_KEY, login=login, parser=parser, snapshot=snapshot, renew=renew, renew_s=RENEW_S,
    max_age_s=MAX_AGE_S, idle_timeout_s=IDLE_TIMEOUT_S,
)
