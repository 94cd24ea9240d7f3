"""Binance USD-M futures and Binance spot ("binance_spot"): websocket market streams.

Futures: https://developers.binance.com/docs/derivatives/usds-margined-futures/websocket-market-streams
Spot: https://developers.binance.com/docs/binance-spot-api-docs/web-socket-streams
Combined streams arrive wrapped as {"stream": "<name>", "data": <payload>}; stream names are
lower-case. Both close a connection after 24 hours. The futures server pings every 3 minutes
(pong within 10), the spot server every 20 s (pong within a minute); the websockets library
answers pings itself. Spot is a second feed with its own url, limits and `parse_frame_spot`;
events of both say exchange="binance", the symbol tells spot from perpetual.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from functools import lru_cache, partial
from types import MappingProxyType, ModuleType
from typing import Any, Generic, Literal, TypeVar, Union

import msgspec

from services.receivers.frames import (
    FrameError,
    ReconnectNotice,
    annualized,
    decimal_of,
    decode,
    finite,
    ms_to_us,
    multiply,
    normalized,
    split_concatenated,
)
from shared.events import AnyEvent, Candle, FundingRate, Liquidation, MarkPrice, Trade

NAME = "binance"
WS_URL = "wss://fstream.binance.com"
# The connect page once said 200 streams a connection and now says 1024: 200 is safe under both.
MAX_STREAMS_PER_CONNECTION = 200
MAX_CONNECTION_AGE_S = 24 * 3600  # "A single connection is only valid for 24 hours"
MAX_INCOMING_MESSAGES_PER_S = 10  # subscribe/ping frames we send; more -> disconnected
# Funding is every 8 h by default; /fapi/v1/fundingInfo lists the symbols moved to 4 h or 1 h,
# which the markPrice stream does not say (Mark-Price-Stream page, Get-Funding-Rate-Info page).
FUNDING_INTERVAL_HOURS = Decimal(8)
NO_TABLE: Mapping[str, Decimal] = MappingProxyType({})

SPOT_NAME = "binance_spot"  # registry name of the spot feed (its sockets and settings), not an exchange
EXCHANGE = "binance"  # the exchange every event names, futures and spot alike: the symbol tells the market
SPOT_WS_URL = "wss://stream.binance.com:9443"
SPOT_MAX_STREAMS_PER_CONNECTION = 1024  # "A single connection can listen to a maximum of 1024 streams."
SPOT_MAX_CONNECTION_AGE_S = 24 * 3600
SPOT_MAX_INCOMING_MESSAGES_PER_S = 5



def combined_stream_url(base_url: str, streams: Iterable[str]) -> str:
    """/stream?streams=a/b/c: the combined-stream endpoint."""
    return f"{base_url.rstrip('/')}/stream?streams={'/'.join(streams)}"


def subscribe_message(streams: Iterable[str], request_id: int) -> bytes:
    """A live SUBSCRIBE on an open connection; Binance acks it with {"result":null,"id":n}."""
    return msgspec.json.encode({"method": "SUBSCRIBE", "params": list(streams), "id": request_id})


def _streams(symbols: Iterable[str], suffix: str) -> list[str]:
    return [f"{symbol.lower()}@{suffix}" for symbol in symbols]


def agg_trade_streams(symbols: Iterable[str]) -> list[str]:
    """Stream names are lower-case: btcusdt@aggTrade."""
    return _streams(symbols, "aggTrade")


def kline_streams(symbols: Iterable[str], interval: str = "1m") -> list[str]:
    """btcusdt@kline_1m: the open bar, pushed every 250 ms while it trades."""
    return _streams(symbols, f"kline_{interval}")


def mark_price_streams(symbols: Iterable[str]) -> list[str]:
    """btcusdt@markPrice@1s: mark, index and funding every second (plain @markPrice is 3 s)."""
    return _streams(symbols, "markPrice@1s")


def force_order_streams(symbols: Iterable[str]) -> list[str]:
    """btcusdt@forceOrder: at most the latest liquidation per symbol per second (a snapshot)."""
    return _streams(symbols, "forceOrder")


def spot_trade_streams(symbols: Iterable[str]) -> list[str]:
    """Spot btcusdt@trade: every raw trade (spot aggTrade would merge fills of one taker)."""
    return _streams(symbols, "trade")


class AggTrade(msgspec.Struct, frozen=True, gc=False, tag_field="e", tag="aggTrade"):
    """<symbol>@aggTrade payload."""

    E: int  # event time, ms
    s: str  # symbol, e.g. BTCUSDT
    a: int  # aggregate trade id
    p: Decimal  # price
    q: Decimal  # quantity, base asset
    f: int  # first trade id
    l: int  # last trade id  # noqa: E741
    T: int  # trade time, ms
    m: bool  # is the buyer the market maker? true -> the taker sold
    nq: Decimal | None = None  # quantity without RPI orders (newer frames)


class KlineBar(msgspec.Struct, frozen=True, gc=False):
    """The "k" object of a kline payload."""

    t: int  # kline start (open) time, ms
    T: int  # kline close time, ms
    s: str  # symbol
    i: str  # interval, "1m"
    o: Decimal  # open
    c: Decimal  # close
    h: Decimal  # high
    l: Decimal  # low  # noqa: E741
    v: Decimal  # base asset volume
    n: int  # number of trades
    x: bool  # is this kline closed?
    V: Decimal  # taker buy base asset volume ("q", "Q": quote volumes, unused)


class Kline(msgspec.Struct, frozen=True, gc=False, tag_field="e", tag="kline"):
    """<symbol>@kline_<interval> payload."""

    E: int  # event time, ms
    s: str  # symbol
    k: KlineBar


class MarkPriceUpdate(msgspec.Struct, frozen=True, gc=False, tag_field="e", tag="markPriceUpdate"):
    """<symbol>@markPrice@1s payload."""

    E: int  # event time, ms
    s: str  # symbol
    p: Decimal  # mark price
    i: Decimal  # index price
    r: Decimal  # funding rate, per interval ("" on dated contracts, which symbol_of refuses anyway)
    T: int  # next funding time, ms ("P": estimated settle price, unused)


class ForceOrderDetail(msgspec.Struct, frozen=True, gc=False):
    """The "o" object of a forceOrder payload: the liquidation order itself."""

    s: str  # symbol
    S: Literal["BUY", "SELL"]  # order side: SELL closes a long
    q: Decimal  # original quantity
    p: Decimal  # order (bankruptcy) price
    ap: Decimal  # average fill price
    X: str  # order status, e.g. FILLED
    z: Decimal  # filled accumulated quantity
    T: int  # order trade time, ms ("o" type, "f" time in force, "l" last fill: unused)


class ForceOrder(msgspec.Struct, frozen=True, gc=False, tag_field="e", tag="forceOrder"):
    """<symbol>@forceOrder payload."""

    E: int  # event time, ms
    o: ForceOrderDetail


class SpotTrade(msgspec.Struct, frozen=True, gc=False, tag_field="e", tag="trade"):
    """Spot <symbol>@trade payload."""

    E: int  # event time, ms
    s: str  # symbol, e.g. BNBBTC
    t: int  # trade id
    p: Decimal  # price
    q: Decimal  # quantity, base asset
    T: int  # trade time, ms
    m: bool  # is the buyer the market maker? true -> the taker sold ("M": ignore)


class ServerShutdown(msgspec.Struct, frozen=True, tag_field="e", tag="serverShutdown"):
    """Sent "when the server is about to shutdown, resulting in disconnection. Please establish a
    new connection as soon as possible" (spot General-WSS-information page). Raw streams send the
    payload alone, combined streams wrap it as stream "!serverShutdown". The USD-M pages do not
    list it; a futures socket that sends it is treated the same way."""

    E: int  # event time, ms


def server_shutdown(msg: ServerShutdown, recv_ts: int) -> list[AnyEvent]:
    """{"stream":"!serverShutdown","data":{"e":"serverShutdown","E":1770123456789}} -> reconnect now."""
    raise ReconnectNotice(f"serverShutdown at {msg.E} ms")


T = TypeVar("T")


class Wrapped(msgspec.Struct, Generic[T], frozen=True, gc=False):
    """A combined-stream frame: {"stream": "<name>", "data": <payload>}."""

    stream: str
    data: T


Combined = Wrapped[msgspec.Raw]  # the wrapper with its payload left undecoded


class Bare(msgspec.Struct, frozen=True):
    """What a frame without the wrapper says about itself: an event type, or an RPC id."""

    e: str = ""  # event type of a raw-stream payload
    id: int | None = None  # set on replies to SUBSCRIBE / UNSUBSCRIBE
    error: Any = None  # {"code":..,"msg":..} on a refused request


_bare = msgspec.json.Decoder(Bare)
_mark_price = msgspec.json.Decoder(MarkPriceUpdate)


@lru_cache(maxsize=8192)  # called for every event; a venue has a few thousand symbols
def symbol_of(raw_symbol: str) -> str:
    """USD-M perpetuals: BTCUSDT -> BTC-USDT-PERP."""
    base, quote = split_concatenated(raw_symbol)
    return normalized(base, quote, perpetual=True)


@lru_cache(maxsize=8192)
def spot_symbol_of(raw_symbol: str) -> str:
    """Spot: BTCUSDT -> BTC-USDT."""
    base, quote = split_concatenated(raw_symbol)
    return normalized(base, quote, perpetual=False)


def agg_trade_events(msg: AggTrade, recv_ts: int) -> list[AnyEvent]:
    """One aggTrade payload -> one Trade; the taker sold when the buyer is the maker.

    {"e":"aggTrade","E":123456789,"s":"BTCUSDT","a":5933014,"p":"0.001","q":"100",
     "f":100,"l":105,"T":123456785,"m":true}
    """
    return [
        Trade(
            exchange=NAME, symbol=symbol_of(msg.s), raw_symbol=msg.s, trade_id=str(msg.a),
            price=finite(msg.p, "price"), size=finite(msg.q, "size"),
            side="sell" if msg.m else "buy", ts=ms_to_us(msg.T), recv_ts=recv_ts,
        )
    ]


def kline_events(msg: Kline, recv_ts: int) -> list[AnyEvent]:
    """One kline payload -> one Candle at its open time; closed once "x" says so.

    {"e":"kline","E":1638747660000,"s":"BTCUSDT","k":{"t":1638747660000,"T":1638747719999,
     "s":"BTCUSDT","i":"1m","f":100,"L":200,"o":"0.0010","c":"0.0020","h":"0.0025",
     "l":"0.0015","v":"1000","n":100,"x":false,"q":"1.0000","V":"500","Q":"0.500","B":"123456"}}
    """
    k = msg.k
    return [
        Candle(
            exchange=NAME, symbol=symbol_of(k.s), raw_symbol=k.s, interval=k.i,
            open=finite(k.o, "open"), high=finite(k.h, "high"), low=finite(k.l, "low"),
            close=finite(k.c, "close"), volume=finite(k.v, "volume"), trades=k.n,
            buy_volume=finite(k.V, "buy volume"), closed=k.x, ts=ms_to_us(k.t), recv_ts=recv_ts,
        )
    ]


def mark_price_events(msg: MarkPriceUpdate, recv_ts: int,
                      funding_hours: Mapping[str, Decimal] = NO_TABLE) -> list[AnyEvent]:
    """One markPriceUpdate -> MarkPrice and FundingRate (next funding time from "T"); the
    interval from funding_hours (fundingInfo: the symbols moved off 8 h), else 8 hours.

    {"e":"markPriceUpdate","E":1562305380000,"s":"BTCUSDT","p":"11794.15000000",
     "i":"11784.62659091","P":"11784.25641265","r":"0.00038167","T":1562306400000}
    """
    symbol, ts, rate = symbol_of(msg.s), ms_to_us(msg.E), finite(msg.r, "funding rate")
    hours = funding_hours.get(msg.s, FUNDING_INTERVAL_HOURS)
    return [
        MarkPrice(
            exchange=NAME, symbol=symbol, raw_symbol=msg.s, mark_price=finite(msg.p, "mark price"),
            index_price=finite(msg.i, "index price"), ts=ts, recv_ts=recv_ts,
        ),
        FundingRate(
            exchange=NAME, symbol=symbol, raw_symbol=msg.s, rate=rate, interval_hours=hours,
            annualized=annualized(rate, hours), next_funding_ts=ms_to_us(msg.T),
            ts=ts, recv_ts=recv_ts,
        ),
    ]


def force_order_events(msg: ForceOrder, recv_ts: int) -> list[AnyEvent]:
    """One forceOrder -> one Liquidation: the order's side as sent, filled size at average price.

    {"e":"forceOrder","E":1568014460893,"o":{"s":"BTCUSDT","S":"SELL","o":"LIMIT","f":"IOC",
     "q":"0.014","p":"9910","ap":"9910","X":"FILLED","l":"0.014","z":"0.014","T":1568014460893}}
    """
    o = msg.o
    price, size = finite(o.ap, "average price"), finite(o.z, "filled quantity")
    return [
        Liquidation(
            exchange=NAME, symbol=symbol_of(o.s), raw_symbol=o.s, side="sell" if o.S == "SELL" else "buy",
            price=price, size=size, usd_value=multiply(price, size, "usd value"),
            ts=ms_to_us(o.T), recv_ts=recv_ts,
        )
    ]


def spot_trade_events(msg: SpotTrade, recv_ts: int) -> list[AnyEvent]:
    """One spot trade payload -> one Trade on binance; the taker sold when the buyer is the maker.

    {"e":"trade","E":1672515782136,"s":"BNBBTC","t":12345,"p":"0.001","q":"100",
     "T":1672515782136,"m":true,"M":true}
    """
    return [
        Trade(
            exchange=EXCHANGE, symbol=spot_symbol_of(msg.s), raw_symbol=msg.s, trade_id=str(msg.t),
            price=finite(msg.p, "price"), size=finite(msg.q, "size"),
            side="sell" if msg.m else "buy", ts=ms_to_us(msg.T), recv_ts=recv_ts,
        )
    ]


# All-market streams, one stream for every USD-M symbol (Mark-Price-Stream-for-All-market and
# All-Market-Liquidation-Order-Streams pages): !markPrice@arr@1s sends a LIST of markPriceUpdate
# payloads, !forceOrder@arr one forceOrder payload at a time.
ALL_MARKET_STREAMS = {"funding": "!markPrice@arr@1s", "liquidations": "!forceOrder@arr"}


class SymbolOnly(msgspec.Struct, frozen=True):
    s: str  # symbol; delivery contracts carry their date: BTCUSDT_250627


_symbol_only = msgspec.json.Decoder(SymbolOnly)


def all_mark_price_events(items: list[msgspec.Raw], recv_ts: int,
                          funding_hours: Mapping[str, Decimal] = NO_TABLE) -> list[AnyEvent]:
    """!markPrice@arr@1s payload -> MarkPrice and FundingRate per perpetual; delivery contracts
    (no funding, "r" is "") are skipped, every other item is parsed as strictly as one symbol's.

    [{"e":"markPriceUpdate","E":1562305380000,"s":"BTCUSDT","p":"11185.87786614",
      "i":"11784.62659091","P":"11784.25641265","r":"0.00030000","T":1562306400000}]
    """
    events: list[AnyEvent] = []
    for item in items:
        if "_" not in decode(_symbol_only, item).s:
            events += mark_price_events(decode(_mark_price, item), recv_ts, funding_hours)
    return events


# The payloads of every stream, told apart by their event type "e" (a tagged union), each
# with its events; !markPrice@arr@1s is the one whose payload is a list. A frame is decoded
# once, straight into its payload, whichever stream it comes from.
FUTURES: dict[Any, Callable[[Any, int], list[AnyEvent]]] = {
    AggTrade: agg_trade_events, Kline: kline_events, MarkPriceUpdate: mark_price_events,
    ForceOrder: force_order_events, ServerShutdown: server_shutdown, list: all_mark_price_events,
}
SPOT: dict[Any, Callable[[Any, int], list[AnyEvent]]] = {
    SpotTrade: spot_trade_events, ServerShutdown: server_shutdown,
}


class Payloads:
    """A feed's decoders: combined-stream frames, bare payloads, and each payload alone."""

    def __init__(self, payloads: dict[Any, Callable[..., list[AnyEvent]]],
                 funding_hours: Mapping[str, Decimal] | None = None) -> None:
        """funding_hours: symbol -> interval for the funding payloads (a table filled elsewhere)."""
        structs = [kind for kind in payloads if kind is not list]
        union = Union[tuple(structs + ([list[msgspec.Raw]] if list in payloads else []))]  # noqa: UP007
        self.events = dict(payloads)
        if funding_hours is not None:
            for kind in (MarkPriceUpdate, list):
                if kind in payloads:
                    self.events[kind] = partial(payloads[kind], funding_hours=funding_hours)
        self.wrapped = msgspec.json.Decoder(Wrapped[union])  # type: ignore[valid-type]
        self.bare = msgspec.json.Decoder(union)
        self.alone = {kind: msgspec.json.Decoder(kind) for kind in structs}

    def parse(self, raw: bytes | str, recv_ts: int) -> list[AnyEvent]:
        """A combined-stream frame (or a bare payload) -> events; subscription acks -> []."""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogatepass")  # a lone surrogate -> FrameError below
        if raw.startswith(b'{"stream"'):
            data = decode(self.wrapped, raw).data
        else:
            bare = decode(_bare, raw)
            if not bare.e and bare.id is not None and bare.error is None:
                return []  # {"result":null,"id":1}: a subscription ack, not data
            if bare.error is not None or not bare.e:
                raise FrameError(f"not a market-data frame: event {bare.e!r}, error {bare.error!r}")
            data = decode(self.bare, raw)
        return self.events[type(data)](data, recv_ts)

    def payload(self, kind: type) -> Callable[[bytes | msgspec.Raw, int], list[AnyEvent]]:
        """The parse of one payload kind alone: raw payload bytes -> its events."""
        decoder, events = self.alone[kind], self.events[kind]
        return lambda raw, recv_ts: events(decode(decoder, raw), recv_ts)


def futures_parser(funding_hours: Mapping[str, Decimal]) -> Callable[[bytes | str, int], list[AnyEvent]]:
    """parse_frame reading funding intervals from funding_hours (kept fresh by the receivers)."""
    return Payloads(FUTURES, funding_hours).parse


_FUTURES, _SPOT = Payloads(FUTURES), Payloads(SPOT)
parse_frame, parse_frame_spot = _FUTURES.parse, _SPOT.parse
parse_agg_trade, parse_kline = _FUTURES.payload(AggTrade), _FUTURES.payload(Kline)
parse_mark_price, parse_force_order = _FUTURES.payload(MarkPriceUpdate), _FUTURES.payload(ForceOrder)
parse_spot_trade = _SPOT.payload(SpotTrade)


def channel_of(stream: str) -> str:
    """btcusdt@kline_1m -> kline, btcusdt@markPrice@1s -> markPrice, !forceOrder@arr -> !forceOrder."""
    if stream.startswith("!"):  # all-market: the channel comes first
        return stream.partition("@")[0]
    return stream.partition("@")[2].partition("@")[0].split("_")[0]


# binance_spot as the registry sees a feed: a namespace holding NAME, WS_URL and parse_frame.
spot = ModuleType(f"{__name__}.spot", "Binance spot, the second feed of binance.py.")
vars(spot).update(
    NAME=SPOT_NAME, WS_URL=SPOT_WS_URL, MAX_STREAMS_PER_CONNECTION=SPOT_MAX_STREAMS_PER_CONNECTION,
    MAX_CONNECTION_AGE_S=SPOT_MAX_CONNECTION_AGE_S,
    MAX_INCOMING_MESSAGES_PER_S=SPOT_MAX_INCOMING_MESSAGES_PER_S,
    parse_frame=parse_frame_spot, trade_streams=spot_trade_streams,
    EXCHANGE=EXCHANGE,  # what its events, gaps and feed states name: the venue, not the socket
)


# --- REST (funding, spot, open interest) ---
# USD-M: https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api
# Spot: https://developers.binance.com/docs/binance-spot-api-docs/rest-api/market-data-endpoints
from collections.abc import Collection, Sequence  # noqa: E402  (appended section)

from services.receivers.rest import VenueClient  # noqa: E402
from shared.events import OpenInterest, SpotPrice, now_us  # noqa: E402

REST_URL = "https://fapi.binance.com"
REST_WEIGHT_PER_MINUTE = 2400  # USD-M REQUEST_WEIGHT per minute per IP (exchangeInfo rateLimits)
SPOT_REST_URL = "https://api.binance.com"
SPOT_REST_WEIGHT_PER_MINUTE = 6000  # spot REQUEST_WEIGHT per minute per IP (exchangeInfo rateLimits)
QUOTE = "USDT"  # the perpetuals and spot pairs polled for an asset: <ASSET>USDT


class PremiumIndex(msgspec.Struct, frozen=True):
    """GET /fapi/v1/premiumIndex: mark price and funding of one symbol (Mark-Price page)."""

    symbol: str
    markPrice: Decimal
    lastFundingRate: str  # the rate of the running interval; "" on delivery (dated) contracts
    nextFundingTime: int  # ms; 0 on delivery contracts
    time: int  # ms
    indexPrice: Decimal | None = None  # ("estimatedSettlePrice", "interestRate": unused)


class FundingInfo(msgspec.Struct, frozen=True):
    """GET /fapi/v1/fundingInfo: only symbols whose interval or caps were adjusted are listed."""

    symbol: str
    fundingIntervalHours: int


class OpenInterestSnapshot(msgspec.Struct, frozen=True):
    """GET /fapi/v1/openInterest (Open-Interest page)."""

    symbol: str
    openInterest: Decimal  # in contracts; a USD-M contract is one unit of the base asset
    time: int  # ms


class TickerPrice(msgspec.Struct, frozen=True):
    """Spot GET /api/v3/ticker/price: no time in the answer, so events carry the receive time."""

    symbol: str
    price: Decimal


_premium_index = msgspec.json.Decoder(PremiumIndex | list[PremiumIndex])
_funding_info = msgspec.json.Decoder(list[FundingInfo])
_open_interest = msgspec.json.Decoder(OpenInterestSnapshot)
_ticker_price = msgspec.json.Decoder(TickerPrice | list[TickerPrice])


def _listed(items: object) -> list:  # type: ignore[type-arg]
    return items if isinstance(items, list) else [items]


def funding_intervals(raw: bytes) -> dict[str, Decimal]:
    """fundingInfo -> symbol: interval hours; a symbol absent from it funds every 8 hours.

    [{"symbol":"BLZUSDT","adjustedFundingRateCap":"0.02500000","adjustedFundingRateFloor":"-0.02500000",
      "fundingIntervalHours":8,"disclaimer":false}]
    """
    intervals = {}
    for item in decode(_funding_info, raw):
        if item.fundingIntervalHours <= 0:
            raise FrameError(f"funding interval of {item.fundingIntervalHours} hours for {item.symbol}")
        intervals[item.symbol] = Decimal(item.fundingIntervalHours)
    return intervals


def parse_premium_index(raw: bytes, recv_ts: int, *, symbols: Collection[str] | None = None,
                        interval_hours: Mapping[str, Decimal] | None = None, exchange: str = NAME,
                        quotes_perpetual: bool = True) -> list[AnyEvent]:
    """premiumIndex (one object, or a list without ?symbol) -> FundingRate per perpetual.

    Delivery contracts (lastFundingRate "") have no funding and are skipped; `symbols` keeps
    only those raw symbols. Aster's futures API answers the same shape (aster.py reuses this).
    {"symbol":"BTCUSDT","markPrice":"11793.63104562","indexPrice":"11781.80495970",
     "estimatedSettlePrice":"11781.16138815","lastFundingRate":"0.00038246","interestRate":"0.00010000",
     "nextFundingTime":1597392000000,"time":1597370495002}
    """
    events: list[AnyEvent] = []
    for item in _listed(decode(_premium_index, raw)):
        if (symbols is not None and item.symbol not in symbols) or not item.lastFundingRate:
            continue
        base, quote = split_concatenated(item.symbol)
        rate = decimal_of(item.lastFundingRate, "lastFundingRate")
        hours = (interval_hours or {}).get(item.symbol, FUNDING_INTERVAL_HOURS)
        events.append(FundingRate(
            exchange=exchange, symbol=normalized(base, quote, perpetual=quotes_perpetual),
            raw_symbol=item.symbol,
            rate=rate, interval_hours=hours, annualized=annualized(rate, hours),
            next_funding_ts=ms_to_us(item.nextFundingTime) if item.nextFundingTime else None,
            ts=ms_to_us(item.time), recv_ts=recv_ts))
    return events


def mark_prices(raw: bytes) -> dict[str, Decimal]:
    """premiumIndex -> symbol: mark price, to value open interest in USD."""
    return {item.symbol: finite(item.markPrice, "markPrice") for item in _listed(decode(_premium_index, raw))}


def parse_open_interest(raw: bytes, recv_ts: int, *, mark_price: Decimal | None = None) -> list[AnyEvent]:
    """openInterest -> OpenInterest in contracts = base units; USD at the mark price when given.

    {"openInterest":"10659.509","symbol":"BTCUSDT","time":1589437530011}
    """
    item = decode(_open_interest, raw)
    contracts = finite(item.openInterest, "openInterest")
    return [OpenInterest(
        exchange=NAME, symbol=symbol_of(item.symbol), raw_symbol=item.symbol, contracts=contracts,
        base=contracts,
        usd=None if mark_price is None else multiply(contracts, mark_price, "open interest usd"),
        ts=ms_to_us(item.time), recv_ts=recv_ts)]


def parse_ticker_price(raw: bytes, recv_ts: int, *, symbols: Collection[str] | None = None) -> list[AnyEvent]:
    """Spot ticker/price -> SpotPrice on binance (last trade price), stamped with recv_ts.

    {"symbol":"LTCBTC","price":"4.00000200"}  or a list of them
    """
    return [
        SpotPrice(exchange=EXCHANGE, symbol=spot_symbol_of(t.symbol), raw_symbol=t.symbol,
                  price=finite(t.price, "price"), source="exchange", ts=recv_ts, recv_ts=recv_ts)
        for t in _listed(decode(_ticker_price, raw)) if symbols is None or t.symbol in symbols
    ]


async def fetch_funding_intervals(client: VenueClient) -> dict[str, Decimal]:
    """fundingInfo (weight 1): the symbols whose funding interval is not 8 hours."""
    return funding_intervals(await client.get("/fapi/v1/fundingInfo", weight=1))


async def fetch_funding(client: VenueClient, assets: Sequence[str]) -> list[AnyEvent]:
    """Every symbol's premiumIndex in one call (weight 10), with fundingInfo for 4 h / 1 h symbols."""
    raw = await client.get("/fapi/v1/premiumIndex", weight=10)
    intervals = await fetch_funding_intervals(client)
    return parse_premium_index(raw, now_us(), symbols={a + QUOTE for a in assets}, interval_hours=intervals)


async def fetch_open_interest(client: VenueClient, assets: Sequence[str]) -> list[AnyEvent]:
    """openInterest is per symbol (weight 1); the mark price for USD comes from premiumIndex (weight 1)."""
    events: list[AnyEvent] = []
    for asset in assets:
        params = {"symbol": asset + QUOTE}
        marks = mark_prices(await client.get("/fapi/v1/premiumIndex", params, weight=1))
        raw = await client.get("/fapi/v1/openInterest", params, weight=1)
        events += parse_open_interest(raw, now_us(), mark_price=marks.get(asset + QUOTE))
    return events


async def fetch_spot(client: VenueClient, assets: Sequence[str]) -> list[AnyEvent]:
    """ticker/price for the wanted pairs in one call: ?symbols=["BTCUSDT","ETHUSDT"] (weight 4)."""
    wanted = [a + QUOTE for a in assets]
    params = {"symbols": msgspec.json.encode(wanted).decode()}
    raw = await client.get("/api/v3/ticker/price", params, weight=4)
    return parse_ticker_price(raw, now_us(), symbols=set(wanted))
