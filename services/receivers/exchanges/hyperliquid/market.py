"""Hyperliquid websocket market data: subscribe messages, the socket plan, each push beside its parse.

Docs: https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/websocket
Every push is {"channel": "<type>", "data": ...}. A subscription is acknowledged with
{"channel":"subscriptionResponse",...}; {"method":"ping"} is answered with {"channel":"pong"}.
The server closes a connection it has sent nothing to for 60 s, so a quiet subscription needs
our pings (websocket/timeouts-and-heartbeats page).
"""
from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any, Generic, Literal, TypeVar

import msgspec

from services.receivers.exchanges.hyperliquid.symbols import FUNDING_INTERVAL_HOURS, HOUR_US, NAME, symbol_of
from services.receivers.frames import (
    DECODE_ERRORS,
    MAGNITUDE,
    FrameError,
    SymbolTable,
    decode,
    finite,
    finite_pair,
    funding_rate,
    ms_to_us,
    multiply,
)
from services.receivers.venue import Feed, Item, Parse, Venue, channels_of, chunks, socket, ws_url
from shared.events import AnyEvent, Candle, MarkPrice, OpenInterest, Trade
from shared.settings import Settings

T = TypeVar("T")
ChannelParse = Callable[[bytes, int], list[AnyEvent]]  # one channel's frames (bytes) -> events

# Sent as plain text right after the handshake (the python SDK's websocket_manager skips it).
GREETING = b"Websocket connection established."
ALL_COINS = "all"  # traders.coins = ["all"]: every listed perpetual, resolved from `meta` at start


# --- subscribe ---


def subscribe_message(subscription: dict[str, str]) -> bytes:
    """{"method":"subscribe","subscription":{...}}: one message per coin and type, no batching."""
    return msgspec.json.encode({"method": "subscribe", "subscription": subscription})


def trades_subscription(coin: str) -> bytes:
    """Every trade of one coin, with buyer and seller addresses."""
    return subscribe_message({"type": "trades", "coin": coin})


def candle_subscription(coin: str, interval: str = "1m") -> bytes:
    """The open candle of one coin, pushed as it changes."""
    return subscribe_message({"type": "candle", "coin": coin, "interval": interval})


def active_asset_ctx_subscription(coin: str) -> bytes:
    """Funding, open interest, mark and oracle prices of one perp."""
    return subscribe_message({"type": "activeAssetCtx", "coin": coin})


SUBSCRIPTIONS: dict[str, Callable[[str], bytes]] = {
    "trades": trades_subscription,
    "candles": candle_subscription,
    "funding": active_asset_ctx_subscription,
}


def trader_coins(settings: Settings) -> list[str]:
    """The coins whose trades name the traders to track: traders.coins while tracking is enabled,
    none otherwise. ["all"] must be resolved from `meta` first (services/receivers/traders/coins.py);
    left unresolved it adds nothing."""
    part = settings.traders
    if not part.enabled or part.coins == [ALL_COINS]:
        return []
    return list(part.coins)


def subscriptions(settings: Settings) -> list[Item[bytes]]:
    """Every configured channel of hyperliquid_coins, then the trades of each traders' coin not
    already subscribed: discovery reads the buyers and sellers of those trades."""
    part = settings.venues.hyperliquid
    items: list[Item[bytes]] = [(c, SUBSCRIPTIONS[c](coin)) for coin in part.symbols for c in part.channels]
    traded = set(part.symbols) if "trades" in part.channels else set()
    for coin in dict.fromkeys(trader_coins(settings)):
        if coin not in traded:
            items.append(("trades", trades_subscription(coin)))
    return items


def sockets(venue: Venue, settings: Settings, parse: Parse) -> list[Feed]:
    """One subscribe message per coin and channel, up to the subscriptions one socket may carry
    (the per-IP limit, so per socket too); {"method":"ping"} keeps a quiet socket open."""
    url = ws_url(venue, settings)
    return [
        socket(venue, settings, str(n), url, parse, channels_of(chunk), [message for _, message in chunk])
        for n, chunk in enumerate(chunks(subscriptions(settings), venue.limits.streams_per_socket))
    ]


# --- websocket pushes, each beside its parse ---


class Push(msgspec.Struct, Generic[T], frozen=True, gc=False):
    """Every server message: the subscription type and its data."""

    channel: str
    data: T


def _expect(push: Push[Any], channel: str) -> None:
    if push.channel != channel:
        raise FrameError(f"expected {channel}, got {push.channel!r}")


class WsTrade(msgspec.Struct, frozen=True, gc=False):
    """One element of a trades push (WsTrade in the docs): what its Trade reads. "hash" (the L1
    transaction hash) is left unread: no code reads it, so a malformed one refuses no trade."""

    coin: str  # "BTC" for a perp; "@107" or "PURR/USDC" for a spot pair
    side: Literal["A", "B"]  # taker side: B = bid side, the taker bought; A = ask side, sold
    px: Decimal  # price
    sz: Decimal  # size in coins
    time: int  # ms
    tid: int  # trade id, "ID unique across all assets"
    users: tuple[str, str] | None = None  # [buyer, seller] addresses


_trades = msgspec.json.Decoder(Push[list[WsTrade]])
_NO_USERS: tuple[None, None] = (None, None)  # a trade without its buyer and seller
# How Hyperliquid starts every trades push: decoded straight away, without reading the channel first
TRADES_START = b'{"channel":"trades",'
_START = len(TRADES_START)  # raw[:_START] == TRADES_START: a str frame is simply not equal


def parse_trades(raw: bytes, recv_ts: int) -> list[AnyEvent]:
    """A trades push -> Trades, keeping buyer and seller addresses (users = [buyer, seller]).

    {"channel":"trades","data":[{"coin":"BTC","side":"B","px":"72581.0","sz":"0.00017",
     "time":1787259217020,"hash":"0x0000000000000000000000000000000000000000000000000000000000000000",
     "tid":877707108085800,
     "users":["0x9b54264d7502f80163ea949038aad771eae67e38","0x706bb519b05b7dc01d048af9a5e29d1ef5d6d9e3"]}]}
    """
    push = decode(_trades, raw)
    _expect(push, "trades")
    return trades_of(push.data, recv_ts)


_SYMBOLS = SymbolTable(symbol_of)  # read by subscript in the trade loop


def trades_of(trades: list[WsTrade], recv_ts: int) -> list[AnyEvent]:
    """A loop, not a comprehension: Python 3.11 makes a function object for each comprehension. The
    range check is inline (frames.MAGNITUDE); finite_pair() is called only when it fails."""
    events: list[AnyEvent] = []
    for t in trades:
        symbol, price, size = _SYMBOLS[t.coin], t.px, t.sz
        if not (price.is_finite() and size.is_finite() and price.adjusted() < MAGNITUDE > size.adjusted()):
            finite_pair(price, "price", size, "size")
        buyer, seller = t.users or _NO_USERS
        # Trade(exchange, symbol, raw_symbol, trade_id, price, size, side): by position, a third cheaper
        events.append(Trade(NAME, symbol, t.coin, str(t.tid), price, size, "buy" if t.side == "B" else "sell",
                            buyer=buyer, seller=seller, ts=t.time * 1000, recv_ts=recv_ts))
    return events


class WsCandle(msgspec.Struct, frozen=True):
    """A candle push (Candle in the docs): the open bar, updated in place."""

    t: int  # open time, ms
    T: int  # close time, ms
    s: str  # coin
    i: str  # interval, "1m"
    o: Decimal  # open
    c: Decimal  # close
    h: Decimal  # high
    l: Decimal  # low  # noqa: E741
    v: Decimal  # volume in coins
    n: int  # number of trades


# Candle[] in the docs; captured frames carry one object: accept both.
_candle = msgspec.json.Decoder(Push[WsCandle | list[WsCandle]])


def parse_candle(raw: bytes, recv_ts: int) -> list[AnyEvent]:
    """A candle push -> Candle at its open time, never closed: the venue only updates the open bar.

    {"channel":"candle","data":{"t":1754956800000,"T":1754956859999,"s":"BTC","i":"1m",
     "o":"64000.0","c":"64010.0","h":"64020.0","l":"63990.0","v":"12.5","n":42}}
    """
    push = decode(_candle, raw)
    _expect(push, "candle")
    bars = push.data if isinstance(push.data, list) else [push.data]
    return [
        Candle(
            exchange=NAME, symbol=symbol_of(c.s), raw_symbol=c.s, interval=c.i,
            open=finite(c.o, "open"), high=finite(c.h, "high"), low=finite(c.l, "low"),
            close=finite(c.c, "close"), volume=finite(c.v, "volume"), trades=c.n,
            closed=False, ts=ms_to_us(c.t), recv_ts=recv_ts,
        )
        for c in bars
    ]


class PerpsAssetCtx(msgspec.Struct, frozen=True):
    """The ctx of activeAssetCtx for a perp; typed number in the docs, strings on the wire."""

    funding: Decimal  # current hourly funding rate, a fraction
    openInterest: Decimal  # in coins
    oraclePx: Decimal  # oracle (index) price: a weighted median of CEX spot prices
    markPx: Decimal  # mark price, used for margining
    midPx: Decimal | None = None  # book mid, null without a two-sided book
    premium: Decimal | None = None  # mark vs oracle, input of the funding rate
    dayNtlVlm: Decimal | None = None  # 24 h notional volume, USD
    prevDayPx: Decimal | None = None  # price 24 h ago


class ActiveAssetCtx(msgspec.Struct, frozen=True):
    """An activeAssetCtx push (WsActiveAssetCtx in the docs)."""

    coin: str
    ctx: PerpsAssetCtx


_active_asset_ctx = msgspec.json.Decoder(Push[ActiveAssetCtx])


def parse_active_asset_ctx(raw: bytes, recv_ts: int) -> list[AnyEvent]:
    """An activeAssetCtx push -> FundingRate (hourly), MarkPrice and OpenInterest.

    The push carries no time, so every event is stamped with recv_ts; funding is paid on the
    hour, so the next funding is the next full hour after it.
    {"channel":"activeAssetCtx","data":{"coin":"BTC","ctx":{"funding":"0.0000125",
     "openInterest":"32227.66018","prevDayPx":"63564.0","dayNtlVlm":"1128098483.2000689507",
     "premium":"-0.0002483354","oraclePx":"64429.0","markPx":"64405.0","midPx":"64412.5",
     "impactPxs":["64404.4","64413.0"],"dayBaseVlm":"17577.61508"}}}
    """
    push = decode(_active_asset_ctx, raw)
    _expect(push, "activeAssetCtx")
    coin, ctx = push.data.coin, push.data.ctx
    symbol, ts = symbol_of(coin), recv_ts
    rate, mark = finite(ctx.funding, "funding rate"), finite(ctx.markPx, "mark price")
    oi = finite(ctx.openInterest, "open interest")
    return [
        funding_rate(
            NAME, symbol, coin, rate, FUNDING_INTERVAL_HOURS,
            next_funding_ts=(ts // HOUR_US + 1) * HOUR_US, ts=ts, recv_ts=recv_ts,
        ),
        MarkPrice(
            exchange=NAME, symbol=symbol, raw_symbol=coin, mark_price=mark,
            index_price=finite(ctx.oraclePx, "oracle price"), ts=ts, recv_ts=recv_ts,
        ),
        OpenInterest(
            exchange=NAME, symbol=symbol, raw_symbol=coin, contracts=oi, base=oi,
            usd=multiply(oi, mark, "open interest usd"), ts=ts, recv_ts=recv_ts,
        ),
    ]


class AllMids(msgspec.Struct, frozen=True):
    """An allMids push: coin -> book mid price."""

    mids: dict[str, Decimal]


_all_mids = msgspec.json.Decoder(Push[AllMids])


def parse_all_mids(raw: bytes, recv_ts: int) -> list[AnyEvent]:
    """An allMids push -> nothing, on purpose.

    A perp's mid is the order-book mid: not its mark (that comes from activeAssetCtx) and not
    a spot price. Spot pairs appear as "@<index>", which only spotMeta (a REST call, not a pure
    parse) turns into BASE-QUOTE, and the push carries no exchange time. The frame is still
    checked, so a malformed one is counted.
    {"channel":"allMids","data":{"mids":{"BTC":"64412.5","ETH":"3227.45","@107":"38.123"}}}
    """
    _expect(decode(_all_mids, raw), "allMids")
    return []


class ChannelOnly(msgspec.Struct, frozen=True):
    """The first look at a frame: its channel, data left undecoded."""

    channel: str


_channel = msgspec.json.Decoder(ChannelOnly)

# channel -> parse function of the whole frame
CHANNELS: dict[str, ChannelParse] = {
    "trades": parse_trades, "candle": parse_candle,
    "activeAssetCtx": parse_active_asset_ctx, "allMids": parse_all_mids,
}
NOT_DATA = frozenset({"subscriptionResponse", "pong"})  # acks and keepalive answers


def parse_frame(raw: bytes | str, recv_ts: int) -> list[AnyEvent]:
    """Any frame from the socket -> events; acks, pongs and the greeting -> []."""
    if raw[:_START] == TRADES_START:
        try:
            push = _trades.decode(raw)
        except DECODE_ERRORS:
            push = None  # the channel's way below says what is wrong with it
        if push is not None and push.channel == "trades":
            return trades_of(push.data, recv_ts)
    if isinstance(raw, str):
        return parse_frame(raw.encode("utf-8", "surrogatepass"), recv_ts)  # a lone surrogate -> FrameError
    if raw == GREETING:
        return []
    channel = decode(_channel, raw).channel
    if channel in NOT_DATA:
        return []
    parse = CHANNELS.get(channel)
    if parse is None:  # includes {"channel":"error","data":"<why>"}
        raise FrameError(f"unhandled channel {channel!r}: {raw[:200]!r}")
    return parse(raw, recv_ts)
