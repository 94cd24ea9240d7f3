"""Hyperliquid perpetuals: websocket market data and the REST info endpoint.

Docs: https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/websocket
Every push is {"channel": "<type>", "data": ...}. A subscription is acknowledged with
{"channel":"subscriptionResponse",...}; {"method":"ping"} is answered with {"channel":"pong"}.
The server closes a connection it has sent nothing to for 60 s, so a quiet subscription needs
our pings (websocket/timeouts-and-heartbeats page).

Coin "BTC" is BTC-USD-PERP: the venue names its perps <COIN>-USD ("PURR-USD and HYPE-USD"),
quotes them in dollars and takes USDC only as collateral. Strictly, most oracles are USDT
prices paid out in USDC with no conversion (a quanto; PURR and HYPE use USDC prices), but the
venue applies no FX either way, so its own "USD" label is the honest quote
(trading/contract-specifications page). Perps are linear: 1 contract = 1 coin.
REST (funding, open interest): the info endpoint, perpetuals
https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/info-endpoint/perpetuals
("Retrieve perpetuals asset contexts (includes mark price, current funding, open interest, etc.)").
"""
from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from decimal import Decimal
from functools import lru_cache
from typing import Any, Generic, Literal, TypeVar

import msgspec

from services.receivers.frames import (
    FrameError,
    decode,
    finite,
    funding_rate,
    ms_to_us,
    multiply,
    normalized,
)
from services.receivers.rest import VenueClient
from services.receivers.venue import (
    Feed,
    Item,
    Keepalive,
    Limits,
    Parse,
    RestApi,
    Venue,
    channels_of,
    chunks,
    facts_free,
    socket,
    ws_url,
)
from shared.events import AnyEvent, Candle, MarkPrice, OpenInterest, Trade, now_us
from shared.settings import Settings

T = TypeVar("T")
ChannelParse = Callable[[bytes, int], list[AnyEvent]]  # one channel's frames (bytes) -> events

NAME = "hyperliquid"
WS_URL = "wss://api.hyperliquid.xyz/ws"
IDLE_TIMEOUT_S = 60  # "close any connection if it hasn't sent a message to it in the last 60 seconds"
PING_INTERVAL_S = 30  # a ping when we have been quiet this long keeps us inside the 60 s
PING = b'{"method":"ping"}'
# Per IP (api/rate-limits page): connections, subscriptions, messages we send per minute.
MAX_CONNECTIONS = 100
MAX_SUBSCRIPTIONS = 1000
MAX_MESSAGES_PER_MINUTE = 2000
MESSAGE_SPACING_S = 0.035  # between our subscribe messages: about 1700 a minute, under 2000
# Funding is paid every hour (trading/funding page); activeAssetCtx "funding" is that hourly rate.
FUNDING_INTERVAL_HOURS = Decimal(1)
_HOUR_US = 3600 * 1_000_000
# Sent as plain text right after the handshake (the python SDK's websocket_manager skips it).
GREETING = b"Websocket connection established."

REST_URL = "https://api.hyperliquid.xyz"
# rate-limits page: REST requests share 1200 weight per minute per IP; metaAndAssetCtxs, like
# every info request not listed at weight 2 or 60, weighs 20.
REST_WEIGHT_PER_MINUTE = 1200
META_AND_ASSET_CTXS_WEIGHT = 20


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


def sockets(venue: Venue, settings: Settings, parse: Parse) -> list[Feed]:
    """One subscribe message per coin and channel, up to MAX_SUBSCRIPTIONS a socket (the per-IP
    limit, so per socket too); {"method":"ping"} keeps a quiet socket open."""
    part = settings.venues.hyperliquid
    items: list[Item[bytes]] = [(c, SUBSCRIPTIONS[c](coin)) for coin in part.symbols for c in part.channels]
    url = ws_url(venue, settings)
    return [
        socket(venue, settings, str(n), url, parse, channels_of(chunk), [message for _, message in chunk])
        for n, chunk in enumerate(chunks(items, venue.limits.streams_per_socket))
    ]


# --- websocket pushes, each beside its parse ---


@lru_cache(maxsize=8192)  # called for every event; a venue has a few thousand symbols
def symbol_of(coin: str) -> str:
    """Perp "BTC" -> BTC-USD-PERP; spot "PURR/USDC" -> PURR-USDC; "@107" needs spotMeta -> FrameError."""
    if coin.startswith("@") or not coin:
        raise FrameError(f"spot pair {coin!r} is named by index: resolve it with spotMeta first")
    base, slash, quote = coin.partition("/")
    if slash:
        if not base or not quote:
            raise FrameError(f"malformed spot pair {coin!r}")
        return normalized(base, quote, perpetual=False)
    return normalized(coin, "USD", perpetual=True)


class Push(msgspec.Struct, Generic[T], frozen=True):
    """Every server message: the subscription type and its data."""

    channel: str
    data: T


def _expect(push: Push[Any], channel: str) -> None:
    if push.channel != channel:
        raise FrameError(f"expected {channel}, got {push.channel!r}")


class WsTrade(msgspec.Struct, frozen=True):
    """One element of a trades push (WsTrade in the docs)."""

    coin: str  # "BTC" for a perp; "@107" or "PURR/USDC" for a spot pair
    side: Literal["A", "B"]  # taker side: B = bid side, the taker bought; A = ask side, sold
    px: Decimal  # price
    sz: Decimal  # size in coins
    time: int  # ms
    tid: int  # trade id, "ID unique across all assets"
    hash: str = ""  # L1 transaction hash
    users: tuple[str, str] | None = None  # [buyer, seller] addresses


_trades = msgspec.json.Decoder(Push[list[WsTrade]])


def parse_trades(raw: bytes, recv_ts: int) -> list[AnyEvent]:
    """A trades push -> Trades, keeping buyer and seller addresses (users = [buyer, seller]).

    {"channel":"trades","data":[{"coin":"BTC","side":"B","px":"72581.0","sz":"0.00017",
     "time":1787259217020,"hash":"0x0000000000000000000000000000000000000000000000000000000000000000",
     "tid":877707108085800,
     "users":["0x9b54264d7502f80163ea949038aad771eae67e38","0x706bb519b05b7dc01d048af9a5e29d1ef5d6d9e3"]}]}
    """
    push = decode(_trades, raw)
    _expect(push, "trades")
    events: list[AnyEvent] = []  # a loop, not a comprehension: Python 3.11 makes a function per comprehension
    for t in push.data:
        events.append(Trade(
            exchange=NAME, symbol=symbol_of(t.coin), raw_symbol=t.coin, trade_id=str(t.tid),
            price=finite(t.px, "price"), size=finite(t.sz, "size"), side="buy" if t.side == "B" else "sell",
            buyer=t.users[0] if t.users else None, seller=t.users[1] if t.users else None,
            ts=ms_to_us(t.time), recv_ts=recv_ts))
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
            next_funding_ts=(ts // _HOUR_US + 1) * _HOUR_US, ts=ts, recv_ts=recv_ts,
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
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogatepass")  # a lone surrogate -> FrameError below
    if raw == GREETING:
        return []
    channel = decode(_channel, raw).channel
    if channel in NOT_DATA:
        return []
    parse = CHANNELS.get(channel)
    if parse is None:  # includes {"channel":"error","data":"<why>"}
        raise FrameError(f"unhandled channel {channel!r}: {raw[:200]!r}")
    return parse(raw, recv_ts)


# --- REST (funding, open interest) ---


class UniverseAsset(msgspec.Struct, frozen=True):
    """An entry of meta.universe; its position is the index of its ctx."""

    name: str  # the coin, "BTC"
    szDecimals: int = 0
    isDelisted: bool = False


class Meta(msgspec.Struct, frozen=True):
    universe: list[UniverseAsset]


class RestAssetCtx(msgspec.Struct, frozen=True):
    """A perp's context in metaAndAssetCtxs; numbers are strings."""

    funding: Decimal  # current hourly funding rate, a fraction
    openInterest: Decimal  # in coins
    markPx: Decimal
    oraclePx: Decimal | None = None
    midPx: Decimal | None = None  # null without a two-sided book


_meta_and_asset_ctxs = msgspec.json.Decoder(tuple[Meta, list[RestAssetCtx]])


def _contexts(raw: bytes, coins: Collection[str] | None) -> list[tuple[str, RestAssetCtx]]:
    meta, ctxs = decode(_meta_and_asset_ctxs, raw)
    if len(meta.universe) != len(ctxs):  # matched by position: a mismatch would pair wrong coins
        raise FrameError(f"{len(meta.universe)} assets but {len(ctxs)} contexts")
    return [(a.name, ctx) for a, ctx in zip(meta.universe, ctxs, strict=True)
            if not a.isDelisted and (coins is None or a.name in coins)]


def parse_meta_funding(raw: bytes, recv_ts: int, *, coins: Collection[str] | None = None) -> list[AnyEvent]:
    """metaAndAssetCtxs -> FundingRate per perp: hourly, paid on the hour; no time in the answer.

    [{"universe":[{"name":"BTC","szDecimals":5,"maxLeverage":50}]},
     [{"dayNtlVlm":"1169046.29406","funding":"0.0000125","impactPxs":["14.3047","14.3444"],
       "markPx":"14.3161","midPx":"14.314","openInterest":"688.11","oraclePx":"14.32",
       "premium":"0.00031774","prevDayPx":"15.322"}]]
    """
    events: list[AnyEvent] = []
    for coin, ctx in _contexts(raw, coins):
        rate = finite(ctx.funding, "funding")
        events.append(funding_rate(
            NAME, symbol_of(coin), coin, rate, FUNDING_INTERVAL_HOURS,
            next_funding_ts=(recv_ts // _HOUR_US + 1) * _HOUR_US, ts=recv_ts, recv_ts=recv_ts))
    return events


def parse_meta_open_interest(raw: bytes, recv_ts: int, *,
                             coins: Collection[str] | None = None) -> list[AnyEvent]:
    """metaAndAssetCtxs -> OpenInterest in coins (1 contract = 1 coin), USD at the mark price."""
    events: list[AnyEvent] = []
    for coin, ctx in _contexts(raw, coins):
        oi = finite(ctx.openInterest, "openInterest")
        events.append(OpenInterest(
            exchange=NAME, symbol=symbol_of(coin), raw_symbol=coin, contracts=oi, base=oi,
            usd=multiply(oi, finite(ctx.markPx, "markPx"), "open interest usd"), ts=recv_ts, recv_ts=recv_ts))
    return events


async def _meta_and_asset_ctxs_raw(client: VenueClient) -> bytes:
    return await client.post("/info", {"type": "metaAndAssetCtxs"}, weight=META_AND_ASSET_CTXS_WEIGHT)


async def fetch_funding(client: VenueClient, assets: Sequence[str]) -> list[AnyEvent]:
    """One info request answers every perp."""
    return parse_meta_funding(await _meta_and_asset_ctxs_raw(client), now_us(), coins=set(assets))


async def fetch_open_interest(client: VenueClient, assets: Sequence[str]) -> list[AnyEvent]:
    return parse_meta_open_interest(await _meta_and_asset_ctxs_raw(client), now_us(), coins=set(assets))


VENUE = Venue(
    name=NAME,
    exchange=NAME,
    ws_urls={NAME: WS_URL},
    limits=Limits(
        streams_per_socket=MAX_SUBSCRIPTIONS,
        messages_per_minute=MAX_MESSAGES_PER_MINUTE,
        message_spacing_s=MESSAGE_SPACING_S,
    ),
    keepalive=Keepalive(PING, PING_INTERVAL_S),  # closed after 60 s without a message from us
    plan=sockets,
    parser=facts_free(parse_frame),
    rest=RestApi(REST_URL, REST_WEIGHT_PER_MINUTE),
    fetchers={"funding": fetch_funding, "oi": fetch_open_interest},
)
