"""Binance websocket market streams: USD-M futures and spot, their payloads and their sockets.

Futures: https://developers.binance.com/docs/derivatives/usds-margined-futures/websocket-market-streams
Spot: https://developers.binance.com/docs/binance-spot-api-docs/web-socket-streams
Combined streams arrive wrapped as {"stream": "<name>", "data": <payload>}; stream names are
lower-case and travel in the url, so a socket sends no subscribe message. Events of both markets
say exchange="binance": the symbol tells spot from perpetual.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from functools import partial
from typing import Any, Generic, Literal, TypeVar, Union

import msgspec

from services.receivers.exchanges.binance.symbols import (
    FUNDING_INTERVAL_HOURS,
    NAME,
    spot_symbol_of,
    symbol_of,
)
from services.receivers.frames import (
    DECODE_ERRORS,
    MAGNITUDE,
    FrameError,
    ReconnectNotice,
    SymbolTable,
    decode,
    finite,
    finite_pair,
    funding_rate,
    ms_to_us,
    multiply,
)
from services.receivers.venue import (
    NO_FACTS,
    Facts,
    Feed,
    Item,
    Parse,
    Venue,
    channels_of,
    chunks,
    socket,
    ws_url,
)
from shared.events import AnyEvent, Candle, Liquidation, MarkPrice, Trade
from shared.settings import Settings

T = TypeVar("T")
StreamNames = Callable[[Iterable[str]], list[str]]

# All-market streams, one stream for every USD-M symbol (Mark-Price-Stream-for-All-market and
# All-Market-Liquidation-Order-Streams pages): !markPrice@arr@1s sends a LIST of markPriceUpdate
# payloads, !forceOrder@arr one forceOrder payload at a time.
ALL_MARKET_STREAMS = {"funding": "!markPrice@arr@1s", "liquidations": "!forceOrder@arr"}


# --- subscribe: stream names, in the url of a combined stream ---


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


def channel_of(stream: str) -> str:
    """btcusdt@kline_1m -> kline, btcusdt@markPrice@1s -> markPrice, !forceOrder@arr -> !forceOrder."""
    if stream.startswith("!"):  # all-market: the channel comes first
        return stream.partition("@")[0]
    return stream.partition("@")[2].partition("@")[0].split("_")[0]


STREAMS: dict[str, StreamNames] = {
    "trades": agg_trade_streams,
    "candles": kline_streams,
    "funding": mark_price_streams,
    "liquidations": force_order_streams,
}
SPOT_STREAMS: dict[str, StreamNames] = {"trades": spot_trade_streams}


def _sockets(venue: Venue, settings: Settings, parse: Parse, symbols: Sequence[str], channels: Sequence[str],
             streams_of: Mapping[str, StreamNames], all_market: Mapping[str, str]) -> list[Feed]:
    """Combined streams in the url, at most streams_per_socket each; no subscribe messages."""
    items: list[Item[str]] = [
        (c, stream)
        for symbol in symbols
        for c in channels
        if c not in all_market
        for stream in streams_of[c]([symbol])
    ]
    items += [(c, stream) for c, stream in all_market.items() if c in channels]
    base = ws_url(venue, settings)
    return [
        socket(venue, settings, str(n), combined_stream_url(base, [stream for _, stream in part]), parse,
               channels_of(part))
        for n, part in enumerate(chunks(items, venue.limits.streams_per_socket))
    ]


def futures_sockets(venue: Venue, settings: Settings, parse: Parse) -> list[Feed]:
    """USD-M: aggTrade, kline_1m, markPrice@1s, forceOrder; or every perpetual's funding and liquidations."""
    part = settings.venues.binance
    all_market = ALL_MARKET_STREAMS if part.all_market else {}
    return _sockets(venue, settings, parse, part.symbols, part.channels, STREAMS, all_market)


def spot_sockets(venue: Venue, settings: Settings, parse: Parse) -> list[Feed]:
    """Spot: trade."""
    part = settings.venues.binance_spot
    return _sockets(venue, settings, parse, part.symbols, part.channels, SPOT_STREAMS, {})


# --- payloads, each beside its events ---


class AggTrade(msgspec.Struct, frozen=True, gc=False, tag_field="e", tag="aggTrade"):
    """<symbol>@aggTrade payload: what its Trade reads. "E" (event time), "f" and "l" (first and
    last trade id) and "nq" (the quantity without RPI orders, in newer frames) are left unread: no
    code reads them, so a malformed one refuses no trade."""

    s: str  # symbol, e.g. BTCUSDT
    id: int = msgspec.field(name="a")  # aggregate trade id, consecutive per symbol (the gap key)
    p: Decimal  # price
    q: Decimal  # quantity, base asset
    T: int  # trade time, ms
    m: bool  # is the buyer the market maker? true -> the taker sold


def agg_trade_events(msg: AggTrade, recv_ts: int) -> list[AnyEvent]:
    """One aggTrade payload -> one Trade; the taker sold when the buyer is the maker.

    {"e":"aggTrade","E":123456789,"s":"BTCUSDT","a":5933014,"p":"0.001","q":"100",
     "f":100,"l":105,"T":123456785,"m":true}
    """
    return [_trade(msg, _SYMBOLS[msg.s], recv_ts)]


def _trade(msg: AggTrade | SpotTrade, symbol: str, recv_ts: int) -> Trade:
    """The Trade of an aggTrade or a spot trade payload (the parsers' trade paths inline it)."""
    price, size = msg.p, msg.q
    finite_pair(price, "price", size, "size")
    return Trade(exchange=NAME, symbol=symbol, raw_symbol=msg.s, trade_id=str(msg.id), price=price, size=size,
                 side="sell" if msg.m else "buy", ts=msg.T * 1000, recv_ts=recv_ts)


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


class MarkPriceUpdate(msgspec.Struct, frozen=True, gc=False, tag_field="e", tag="markPriceUpdate"):
    """<symbol>@markPrice@1s payload."""

    E: int  # event time, ms
    s: str  # symbol
    p: Decimal  # mark price
    i: Decimal  # index price
    r: Decimal  # funding rate, per interval ("" on dated contracts, which symbol_of refuses anyway)
    T: int  # next funding time, ms ("P": estimated settle price, unused)


_mark_price = msgspec.json.Decoder(MarkPriceUpdate)


def mark_price_events(msg: MarkPriceUpdate, recv_ts: int,
                      funding_hours: Mapping[str, Decimal] = NO_FACTS) -> list[AnyEvent]:
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
        funding_rate(NAME, symbol, msg.s, rate, hours, next_funding_ts=ms_to_us(msg.T),
                     ts=ts, recv_ts=recv_ts),
    ]


class SymbolOnly(msgspec.Struct, frozen=True):
    s: str  # symbol; delivery contracts carry their date: BTCUSDT_250627


_symbol_only = msgspec.json.Decoder(SymbolOnly)


def all_mark_price_events(items: list[msgspec.Raw], recv_ts: int,
                          funding_hours: Mapping[str, Decimal] = NO_FACTS) -> list[AnyEvent]:
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


class SpotTrade(msgspec.Struct, frozen=True, gc=False, tag_field="e", tag="trade"):
    """Spot <symbol>@trade payload: what its Trade reads ("E", event time, and "M" left unread)."""

    s: str  # symbol, e.g. BNBBTC
    id: int = msgspec.field(name="t")  # trade id, consecutive per symbol (the gap key)
    p: Decimal  # price
    q: Decimal  # quantity, base asset
    T: int  # trade time, ms
    m: bool  # is the buyer the market maker? true -> the taker sold ("M": ignore)


def spot_trade_events(msg: SpotTrade, recv_ts: int) -> list[AnyEvent]:
    """One spot trade payload -> one Trade on binance; the taker sold when the buyer is the maker.

    {"e":"trade","E":1672515782136,"s":"BNBBTC","t":12345,"p":"0.001","q":"100",
     "T":1672515782136,"m":true,"M":true}
    """
    return [_trade(msg, _SPOT_SYMBOLS[msg.s], recv_ts)]


class ServerShutdown(msgspec.Struct, frozen=True, tag_field="e", tag="serverShutdown"):
    """Sent "when the server is about to shutdown, resulting in disconnection. Please establish a
    new connection as soon as possible" (spot General-WSS-information page). Raw streams send the
    payload alone, combined streams wrap it as stream "!serverShutdown". The USD-M pages do not
    list it; a futures socket that sends it is treated the same way."""

    E: int  # event time, ms


def server_shutdown(msg: ServerShutdown, recv_ts: int) -> list[AnyEvent]:
    """{"stream":"!serverShutdown","data":{"e":"serverShutdown","E":1770123456789}} -> reconnect now."""
    raise ReconnectNotice(f"serverShutdown at {msg.E} ms")


class Wrapped(msgspec.Struct, Generic[T], frozen=True, gc=False):
    """A combined-stream frame: {"stream": "<name>", "data": <payload>}. The payload says what it
    is (its "e"), so "stream" is left unread."""

    data: T


Combined = Wrapped[msgspec.Raw]  # the wrapper with its payload left undecoded


class Bare(msgspec.Struct, frozen=True):
    """What a frame without the wrapper says about itself: an event type, or an RPC id."""

    e: str = ""  # event type of a raw-stream payload
    id: int | None = None  # set on replies to SUBSCRIBE / UNSUBSCRIBE
    error: Any = None  # {"code":..,"msg":..} on a refused request


_bare = msgspec.json.Decoder(Bare)


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
        # a union built at run time: what a type checker cannot follow, msgspec decodes
        union: Any = Union[tuple(structs + ([list[msgspec.Raw]] if list in payloads else []))]  # noqa: UP007
        self.events: dict[Any, Callable[..., list[AnyEvent]]] = dict(payloads)
        if funding_hours is not None:
            for kind in (MarkPriceUpdate, list):
                if kind in payloads:
                    self.events[kind] = partial(payloads[kind], funding_hours=funding_hours)
        self.wrapped = msgspec.json.Decoder(Wrapped[union])
        self.bare = msgspec.json.Decoder(union)
        self.alone = {kind: msgspec.json.Decoder(kind) for kind in structs}

    def parse(self, raw: bytes | str, recv_ts: int) -> list[AnyEvent]:
        """A combined-stream frame (or a bare payload) -> events; subscription acks -> []."""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogatepass")  # a lone surrogate -> FrameError below
        if raw.startswith(b'{"stream"'):
            try:  # decode(), inline: a call costs a tenth of this parse
                data = self.wrapped.decode(raw).data
            except DECODE_ERRORS as exc:
                raise FrameError(str(exc)) from exc
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


def trades_first(payloads: Payloads, kind: type[AggTrade | SpotTrade], symbols: SymbolTable[str]) -> Parse:
    """payloads.parse with the trade payload's Trade built inline (_trade(), without its calls): trades
    are most frames, and each call costs a tenth of their parse. A frame is decoded as a combined-stream
    frame first: the payloads' union holds every payload the streams send, so only another shape (a
    bare payload, a subscription ack) or a bad frame fails it, and takes payloads.parse's way, which
    says what it is."""
    decode_wrapped, events_of, general = payloads.wrapped.decode, payloads.events, payloads.parse

    def parse(raw: bytes | str, recv_ts: int) -> list[AnyEvent]:
        try:
            msg = decode_wrapped(raw).data
        except DECODE_ERRORS:
            return general(raw, recv_ts)
        if type(msg) is not kind:
            return events_of[type(msg)](msg, recv_ts)
        symbol, price, size = symbols[msg.s], msg.p, msg.q
        if not (price.is_finite() and size.is_finite() and price.adjusted() < MAGNITUDE > size.adjusted()):
            finite_pair(price, "price", size, "size")
        # Trade(exchange, symbol, raw_symbol, trade_id, price, size, side): by position, a third cheaper
        return [Trade(NAME, symbol, msg.s, str(msg.id), price, size, "sell" if msg.m else "buy",
                      ts=msg.T * 1000, recv_ts=recv_ts)]

    return parse


def futures_parser(funding_hours: Facts) -> Parse:
    """parse_frame reading funding intervals from funding_hours (the venue's facts table, kept fresh
    by the receivers)."""
    return trades_first(Payloads(FUTURES, funding_hours), AggTrade, _SYMBOLS)


_SYMBOLS, _SPOT_SYMBOLS = SymbolTable(symbol_of), SymbolTable(spot_symbol_of)
_FUTURES, _SPOT = Payloads(FUTURES), Payloads(SPOT)
parse_frame = trades_first(_FUTURES, AggTrade, _SYMBOLS)
parse_frame_spot = trades_first(_SPOT, SpotTrade, _SPOT_SYMBOLS)
parse_agg_trade, parse_kline = _FUTURES.payload(AggTrade), _FUTURES.payload(Kline)
parse_mark_price, parse_force_order = _FUTURES.payload(MarkPriceUpdate), _FUTURES.payload(ForceOrder)
parse_spot_trade = _SPOT.payload(SpotTrade)
