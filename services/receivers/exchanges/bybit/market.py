"""Bybit v5 public websockets: USDT/USDC perpetuals (category "linear") and spot, one module.

Docs: https://bybit-exchange.github.io/docs/v5/ws/connect
A push is {"topic": "<channel>[.<interval>].<SYMBOL>", "type": "snapshot"|"delta", "ts": ms,
"data": ...}; replies to our own requests carry "op" (subscribe acks, pongs) and are not data.
Both endpoints speak the same channels, so every parse function takes the category. The two
records, VENUE ("bybit", linear) and SPOT_VENUE ("bybit_spot"), are in bybit/__init__.py; events
of both say exchange="bybit", the symbol tells spot from perpetual.
REST (funding, spot, open interest): Get Tickers, https://bybit-exchange.github.io/docs/v5/market/tickers
(GET /v5/market/tickers), and instruments-info for the funding intervals.
"""
from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from decimal import Decimal
from functools import lru_cache
from typing import Annotated, Generic, Literal, Protocol, TypeVar

import msgspec

from services.receivers.frames import (
    DECODE_ERRORS,
    MAGNITUDE,
    FrameError,
    SymbolTable,
    decimal_of,
    decode,
    finite,
    finite_pair,
    funding_rate,
    ms_to_us,
    multiply,
    normalized,
    split_concatenated,
)
from services.receivers.rest import VenueClient
from services.receivers.venue import (
    Facts,
    Feed,
    Item,
    Parse,
    Venue,
    socket,
    ws_url,
)
from shared.events import (
    AnyEvent,
    Candle,
    Liquidation,
    MarkPrice,
    OpenInterest,
    SpotPrice,
    Trade,
    now_us,
)
from shared.settings import Settings

T = TypeVar("T")
Category = Literal["linear", "spot"]
Millis = Annotated[int, msgspec.Meta(ge=0, lt=10**15)]  # epoch milliseconds

NAME = "bybit"  # registry name of the linear feed, and the exchange of every event
SPOT_NAME = "bybit_spot"  # registry name of the spot feed
CATEGORY: Category = "linear"
WS_URL = "wss://stream.bybit.com/v5/public/linear"
SPOT_WS_URL = "wss://stream.bybit.com/v5/public/spot"
PING = '{"op":"ping"}'
PING_INTERVAL_S = 20  # connect page: "send the ping heartbeat packet every 20 seconds"
IDLE_CUTOFF_S = 600  # connect page: no ping-pong and no data -> "cut off after 10 minutes"
MAX_ARGS_CHARS = 21_000  # connect page: one public connection's "args" array, in characters
SPOT_MAX_ARGS_PER_REQUEST = 10  # connect page: "Spot can input up to 10 args for each subscription request"
MAX_ARGS_PER_REQUEST: int | None = None  # connect page: "No args limit for Futures and Spread for now"
DEFAULT_FUNDING_INTERVAL_HOURS = Decimal(8)  # when neither the frame nor the caller's table says
# our channel -> the topic carrying it: funding (linear) and prices (spot) both ride on tickers
TOPICS = {"trades": "publicTrade", "candles": "kline.1", "funding": "tickers", "prices": "tickers",
          "liquidations": "allLiquidation"}
# every channel of a category; allLiquidation covers contracts only, so not spot
CHANNELS_OF: dict[Category, tuple[str, ...]] = {
    "linear": ("trades", "candles", "funding", "liquidations"), "spot": ("trades", "candles", "prices")}
KLINE_INTERVALS = {"1": "1m", "3": "3m", "5": "5m", "15": "15m", "30": "30m", "60": "1h", "120": "2h",
                   "240": "4h", "360": "6h", "720": "12h", "D": "1d", "W": "1w", "M": "1M"}

REST_URL = "https://api.bybit.com"
# rate-limit page: "600 requests within a 5-second window per IP" on HTTP, every request the same.
REST_WEIGHT_PER_MINUTE = 7200
REST_QUOTE = "USDT"  # the pair polled for an asset: <ASSET>USDT, linear and spot
INSTRUMENT_PAGE = 1000  # "Limit for data size per page. [1, 1000]. Default: 500"
MAX_INSTRUMENT_PAGES = 20


# --- subscribe ---

_encoder = msgspec.json.Encoder()


def subscriptions(symbols: Iterable[str], category: Category = CATEGORY,
                  channels: Iterable[str] | None = None) -> list[Item[str]]:
    """(channel, topic) per symbol and channel: every channel of the category unless told."""
    wanted = list(CHANNELS_OF[category] if channels is None else channels)
    return [(c, f"{TOPICS[c]}.{symbol.upper()}") for symbol in symbols for c in wanted]


def topics(symbols: Iterable[str], category: Category = CATEGORY) -> list[str]:
    """Our topics per symbol; allLiquidation covers contracts only, so not spot."""
    return [topic for _, topic in subscriptions(symbols, category)]


def connections(all_topics: Iterable[str]) -> list[list[str]]:
    """Topics split across connections so no connection's args pass MAX_ARGS_CHARS."""
    groups: list[list[str]] = [[]]
    used = 2  # the brackets of the JSON array
    for topic in all_topics:
        cost = len(topic) + 3  # two quotes and a comma
        if groups[-1] and used + cost > MAX_ARGS_CHARS:
            groups.append([])
            used = 2
        groups[-1].append(topic)
        used += cost
    return [group for group in groups if group]


def subscribe_requests(connection_topics: list[str], category: Category = CATEGORY) -> list[str]:
    """{"op":"subscribe","args":[...]} text frames for one connection, 10 args each on spot."""
    step = SPOT_MAX_ARGS_PER_REQUEST if category == "spot" else max(len(connection_topics), 1)
    return [_encoder.encode({"op": "subscribe", "args": connection_topics[i : i + step]}).decode()
            for i in range(0, len(connection_topics), step)]


def _sockets(venue: Venue, settings: Settings, parse: Parse, symbols: Sequence[str], channels: Sequence[str],
             category: Category) -> list[Feed]:
    """Topics split so no socket's args pass MAX_ARGS_CHARS; spot subscribes 10 args a request."""
    channel_of = {topic: c for c, topic in subscriptions(symbols, category, channels)}
    url = ws_url(venue, settings)
    return [
        socket(venue, settings, str(n), url, parse, tuple(sorted({channel_of[t] for t in part})),
               subscribe_requests(part, category))
        for n, part in enumerate(connections(channel_of))
    ]


def linear_sockets(venue: Venue, settings: Settings, parse: Parse) -> list[Feed]:
    """Linear perpetuals: publicTrade, kline.1, tickers, allLiquidation."""
    part = settings.venues.bybit
    return _sockets(venue, settings, parse, part.symbols, part.channels, "linear")


def spot_sockets(venue: Venue, settings: Settings, parse: Parse) -> list[Feed]:
    """Spot: publicTrade, kline.1, tickers (the last price)."""
    part = settings.venues.bybit_spot
    return _sockets(venue, settings, parse, part.symbols, part.channels, "spot")


# --- websocket pushes, each beside its parse ---


@lru_cache(maxsize=8192)  # called for every event; a venue has a few thousand symbols
def symbol_of(raw_symbol: str, category: Category) -> str:
    """BTCUSDT -> BTC-USDT (spot) or BTC-USDT-PERP (linear)."""
    if not (raw_symbol.isascii() and raw_symbol.isalnum()):
        raise FrameError(f"unsupported symbol {raw_symbol!r}")  # dated futures: BTC-26DEC25
    if category == "linear" and raw_symbol.endswith("PERP") and len(raw_symbol) > 4:
        # USDC perpetuals are named BTCPERP, ETHPERP ("publicTrade.BTCPERP" in
        # https://bybit-exchange.github.io/docs/derivatives/ws-public/trade)
        return normalized(raw_symbol[:-4], "USDC", perpetual=True)
    base, quote = split_concatenated(raw_symbol)
    return normalized(base, quote, perpetual=category == "linear")


class Push(msgspec.Struct, Generic[T], frozen=True):
    topic: str  # e.g. publicTrade.BTCUSDT, kline.1.BTCUSDT
    type: Literal["snapshot", "delta"]
    ts: Millis  # when Bybit generated the push
    data: T
    cs: int | None = None  # cross sequence (tickers)


class PublicTrade(msgspec.Struct, frozen=True, gc=False):
    """A publicTrade fill: what its Trade reads. "L" (tick direction), "BT" (block trade) and "seq"
    (matching sequence) are left unread: no code reads them, so a malformed one refuses no trade."""

    T: Millis  # fill time
    s: str  # symbol, e.g. BTCUSDT
    S: Literal["Buy", "Sell"]  # taker side
    v: Decimal  # quantity, base coin (a linear contract is one coin)
    p: Decimal  # price
    i: str  # trade id


class TradesPush(msgspec.Struct, frozen=True, gc=False):
    """A publicTrade push: its fills. The topic is known before the decode (the frame's first bytes,
    or the Reply's topic); "type" and "ts" (when the push was made) are left unread."""

    data: list[PublicTrade]


_ws_trades = msgspec.json.Decoder(TradesPush)


def parse_public_trade(raw: bytes | str, recv_ts: int, category: Category = CATEGORY) -> list[AnyEvent]:
    """publicTrade.{symbol} -> one Trade per fill; S is already the taker side.

    {"topic":"publicTrade.BTCUSDT","type":"snapshot","ts":1672304486868,"data":[{"T":1672304486865,
     "s":"BTCUSDT","S":"Buy","v":"0.001","p":"16578.50","L":"PlusTick",
     "i":"20f43950-d8dd-5b31-9112-a178eb6023af","BT":false,"seq":1783284617}]}
    """
    return trades_of(decode(_ws_trades, raw).data, recv_ts, category)


class TradeRow(Protocol):
    """A trade as a publicTrade push and a recent-trade answer (history.RecentTrade) both give it."""

    @property
    def T(self) -> int: ...  # fill time, ms
    @property
    def s(self) -> str: ...  # symbol
    @property
    def S(self) -> Literal["Buy", "Sell"]: ...  # taker side
    @property
    def v(self) -> Decimal: ...  # quantity, base coin
    @property
    def p(self) -> Decimal: ...  # price
    @property
    def i(self) -> str: ...  # trade id


# category -> raw symbol -> normalized symbol, read by subscript in the trade loop
SYMBOLS: dict[Category, SymbolTable[str]] = {
    "linear": SymbolTable(lambda raw_symbol: symbol_of(raw_symbol, "linear")),
    "spot": SymbolTable(lambda raw_symbol: symbol_of(raw_symbol, "spot")),
}


def trades_of(trades: Iterable[TradeRow], recv_ts: int, category: Category) -> list[AnyEvent]:
    """Trades, pushed (publicTrade) or from the REST history (recent-trade): the same Trade.

    A loop, not a comprehension: Python 3.11 makes a function object for each comprehension. The
    range check is inline (frames.MAGNITUDE); finite_pair() is called only when it fails."""
    symbols = SYMBOLS[category]
    events: list[AnyEvent] = []
    for t in trades:
        symbol, price, size = symbols[t.s], t.p, t.v
        if not (price.is_finite() and size.is_finite() and price.adjusted() < MAGNITUDE > size.adjusted()):
            finite_pair(price, "price", size, "size")
        # Trade(exchange, symbol, raw_symbol, trade_id, price, size, side): by position, a third cheaper
        events.append(Trade(NAME, symbol, t.s, t.i, price, size, "buy" if t.S == "Buy" else "sell",
                            ts=t.T * 1000, recv_ts=recv_ts))
    return events


class Kline(msgspec.Struct, frozen=True):
    start: Millis  # open time
    end: Millis  # close time
    interval: str  # "1", "5", "60", "D", ...
    open: Decimal
    close: Decimal
    high: Decimal
    low: Decimal
    volume: Decimal  # base coin
    turnover: Decimal  # quote coin
    confirm: bool  # the candle has closed
    timestamp: Millis  # last match in the candle


_ws_klines = msgspec.json.Decoder(Push[list[Kline]])


def parse_kline(raw: bytes | str, recv_ts: int, category: Category = CATEGORY) -> list[AnyEvent]:
    """kline.{interval}.{symbol} -> Candle per bar, ts = open time, closed from confirm.

    {"topic":"kline.5.BTCUSDT","data":[{"start":1672324800000,"end":1672325099999,"interval":"5",
     "open":"16649.5","close":"16677","high":"16677","low":"16608","volume":"2.081",
     "turnover":"34666.4005","confirm":false,"timestamp":1672324988882}],"ts":1672324988882,"type":"snapshot"}
    """
    msg = decode(_ws_klines, raw)
    raw_symbol = msg.topic.rpartition(".")[2]  # the bars carry no symbol: the topic ends with it
    symbol = symbol_of(raw_symbol, category)
    events: list[AnyEvent] = []
    for k in msg.data:
        interval = KLINE_INTERVALS.get(k.interval)
        if interval is None:
            raise FrameError(f"unknown kline interval {k.interval!r}")
        events.append(Candle(
            exchange=NAME, symbol=symbol, raw_symbol=raw_symbol, interval=interval,
            open=finite(k.open, "open"), high=finite(k.high, "high"), low=finite(k.low, "low"),
            close=finite(k.close, "close"), volume=finite(k.volume, "volume"), closed=k.confirm,
            source="exchange", ts=ms_to_us(k.start), recv_ts=recv_ts))
    return events


class Ticker(msgspec.Struct, frozen=True):  # a linear delta holds only changed fields
    symbol: str
    lastPrice: Decimal | None = None
    markPrice: Decimal | None = None
    indexPrice: Decimal | None = None
    openInterest: Decimal | None = None  # base coin on linear contracts
    openInterestValue: Decimal | None = None  # in the quote coin (USDT/USDC), taken as USD
    fundingRate: Decimal | None = None
    nextFundingTime: Millis | None = None  # sent as a string: "1673280000000"
    fundingIntervalHour: Decimal | None = None  # REST tickers carry it; used when a push does


_ws_tickers = msgspec.json.Decoder(Push[Ticker], strict=False)  # strict=False: times sent as strings


def parse_tickers(raw: bytes | str, recv_ts: int, category: Category = CATEGORY,
                  funding_hours: Mapping[str, Decimal] | None = None) -> list[AnyEvent]:
    """tickers.{symbol}: linear -> FundingRate, MarkPrice, OpenInterest; spot -> SpotPrice.

    Linear sends a snapshot, then deltas holding only what changed ("If a response param is not
    found in the message, then its value has not changed", /docs/v5/websocket/public/ticker), so an
    event is made only from fields present in this frame; nothing is remembered here.
    funding_hours: symbol -> funding interval (instruments-info fundingInterval / 60), used
    when the push has no fundingIntervalHour; 8 h otherwise.
    {"topic":"tickers.BTCUSDT","type":"snapshot","data":{"symbol":"BTCUSDT","markPrice":"17217.33",
     "indexPrice":"17227.36","openInterest":"68744.761","openInterestValue":"1183601235.91",
     "nextFundingTime":"1673280000000","fundingRate":"-0.000212", ...},"cs":24987956059,"ts":1673272861686}
    """
    msg = decode(_ws_tickers, raw)
    t, ts = msg.data, ms_to_us(msg.ts)
    symbol = symbol_of(t.symbol, category)
    if category == "spot":
        if t.lastPrice is None:
            return []
        return [SpotPrice(exchange=NAME, symbol=symbol, raw_symbol=t.symbol,
                          price=finite(t.lastPrice, "lastPrice"), ts=ts, recv_ts=recv_ts)]
    events: list[AnyEvent] = []
    if t.fundingRate is not None:
        rate, hours = finite(t.fundingRate, "fundingRate"), _funding_hours(t, funding_hours or {})
        events.append(funding_rate(
            NAME, symbol, t.symbol, rate, hours, ts=ts, recv_ts=recv_ts,
            next_funding_ts=None if t.nextFundingTime is None else ms_to_us(t.nextFundingTime)))
    if t.markPrice is not None:  # a delta with only indexPrice makes no MarkPrice (mark is required)
        events.append(MarkPrice(
            exchange=NAME, symbol=symbol, raw_symbol=t.symbol, mark_price=finite(t.markPrice, "markPrice"),
            index_price=None if t.indexPrice is None else finite(t.indexPrice, "indexPrice"),
            ts=ts, recv_ts=recv_ts))
    if t.openInterest is not None:
        contracts = finite(t.openInterest, "openInterest")
        events.append(OpenInterest(
            exchange=NAME, symbol=symbol, raw_symbol=t.symbol, contracts=contracts, base=contracts,
            usd=None if t.openInterestValue is None else finite(t.openInterestValue, "openInterestValue"),
            ts=ts, recv_ts=recv_ts))
    return events


def _funding_hours(ticker: Ticker, table: Mapping[str, Decimal]) -> Decimal:
    """The push's own fundingIntervalHour, else the caller's table, else 8 hours."""
    hours = ticker.fundingIntervalHour
    if hours is None:
        return table.get(ticker.symbol, DEFAULT_FUNDING_INTERVAL_HOURS)
    return hours


class AllLiquidation(msgspec.Struct, frozen=True):
    T: Millis  # updated time
    s: str  # symbol
    S: Literal["Buy", "Sell"]  # POSITION side: "Buy" = a long was liquidated
    v: Decimal  # executed size, base coin
    p: Decimal  # bankruptcy price


_ws_liquidations = msgspec.json.Decoder(Push[list[AllLiquidation]])


def parse_all_liquidation(raw: bytes | str, recv_ts: int, category: Category = CATEGORY) -> list[AnyEvent]:
    """allLiquidation.{symbol} -> Liquidation; Bybit sends the POSITION side, so it is flipped.

    "When you receive a Buy update, this means that a long position has been liquidated"
    (/docs/v5/websocket/public/all-liquidation): the liquidation order of a long is a sell.
    {"topic":"allLiquidation.ROSEUSDT","type":"snapshot","ts":1739502303204,
     "data":[{"T":1739502302929,"s":"ROSEUSDT","S":"Sell","v":"20000","p":"0.04499"}]}
    """
    if category != "linear":
        raise FrameError("allLiquidation exists for contracts only")
    msg = decode(_ws_liquidations, raw)
    events: list[AnyEvent] = []
    for liq in msg.data:
        price, size = finite(liq.p, "price"), finite(liq.v, "size")
        events.append(Liquidation(
            exchange=NAME, symbol=symbol_of(liq.s, category), raw_symbol=liq.s,
            side="sell" if liq.S == "Buy" else "buy", price=price, size=size,
            usd_value=multiply(price, size, "usd value"), ts=ms_to_us(liq.T), recv_ts=recv_ts))
    return events


class Reply(msgspec.Struct, frozen=True):  # any frame, read only far enough to route it
    topic: str | None = None
    op: str | None = None  # subscribe, ping (linear/spot pong), pong (option pong)
    success: bool | None = None
    ret_msg: str = ""


_ws_reply = msgspec.json.Decoder(Reply)


# How Bybit starts every publicTrade push: such a frame is decoded as one straight away, and only
# one that does not decode so takes the Reply's way (which says what is wrong with it)
TRADES_START = b'{"topic":"publicTrade.'
_START = len(TRADES_START)  # raw[:_START] == TRADES_START: a str frame is simply not equal

# topic's first segment -> parse function of the whole frame
CHANNELS: dict[str, Callable[[bytes | str, int, Category], list[AnyEvent]]] = {
    "publicTrade": parse_public_trade,
    "kline": parse_kline,
    "tickers": parse_tickers,
    "allLiquidation": parse_all_liquidation,
}
SPOT_CHANNELS = frozenset({"publicTrade", "kline", "tickers"})


def _routed(raw: bytes | str, recv_ts: int, category: Category,
            funding_hours: Mapping[str, Decimal] | None) -> list[AnyEvent]:
    """Any frame, routed by its Reply: acks, pongs and refusals, then a parse per topic."""
    reply = decode(_ws_reply, raw)
    if reply.topic is None:
        if reply.op is None:
            raise FrameError("neither a topic nor an op")
        if reply.success is False:  # e.g. a refused subscription: worth counting, not data
            raise FrameError(f"bybit refused {reply.op!r}: {reply.ret_msg}")
        return []  # {"success":true,"op":"subscribe"|"ping",...} or {"op":"pong",...}
    channel = reply.topic.partition(".")[0]
    parse = CHANNELS.get(channel)
    if parse is None or (category == "spot" and channel not in SPOT_CHANNELS):
        raise FrameError(f"unknown {category} topic {reply.topic!r}")
    if channel == "tickers":
        return parse_tickers(raw, recv_ts, category, funding_hours)
    return parse(raw, recv_ts, category)


def _parser(category: Category, funding_hours: Mapping[str, Decimal] | None) -> Parse:
    """The parse of one category's frames: publicTrade pushes (most frames) decoded straight away, each
    other frame routed by its Reply (_routed)."""
    decode_trades = _ws_trades.decode

    def parse(raw: bytes | str, recv_ts: int) -> list[AnyEvent]:
        if raw[:_START] == TRADES_START:
            try:
                trades = decode_trades(raw).data
            except DECODE_ERRORS:
                trades = None  # the Reply's way says what is wrong with it
            if trades is not None:
                return trades_of(trades, recv_ts, category)
        return _routed(raw, recv_ts, category, funding_hours)

    return parse


# A frame of wss://stream.bybit.com/v5/public/spot -> events; acks and pongs -> []
parse_frame_spot: Parse = _parser("spot", None)
_LINEAR = _parser("linear", None)


def parse_frame_linear(raw: bytes | str, recv_ts: int,
                       funding_hours: Mapping[str, Decimal] | None = None) -> list[AnyEvent]:
    """A frame of wss://stream.bybit.com/v5/public/linear -> events; acks and pongs -> [].
    funding_hours: symbol -> funding interval (instruments-info), for tickers without their own."""
    return (_LINEAR if funding_hours is None else _parser("linear", funding_hours))(raw, recv_ts)


def linear_parser(funding_hours: Facts) -> Parse:
    """parse_frame_linear reading funding intervals from funding_hours (the venue's facts table)."""
    return _parser("linear", funding_hours)


parse_frame = parse_frame_linear  # the "bybit" (linear) feed's


# --- REST (funding, spot, open interest) ---


class RestTicker(msgspec.Struct, frozen=True):
    """One item of result.list; linear and spot share the keys we read."""

    symbol: str
    lastPrice: Decimal | None = None
    openInterest: Decimal | None = None  # linear: base coin
    openInterestValue: Decimal | None = None  # linear: quote coin (USDT), taken as USD
    fundingRate: str = ""  # linear perpetuals; "" on dated futures
    nextFundingTime: str = ""  # ms as text; "0" on dated futures
    fundingIntervalHour: str = ""  # newer answers only ("fundingIntervalHour": "8")


class RestTickerList(msgspec.Struct, frozen=True):
    category: str = ""
    items: list[RestTicker] = msgspec.field(default_factory=list, name="list")


class RestTickers(msgspec.Struct, frozen=True):
    """The v5 envelope: retCode 0 is success; `time` is the server time in ms."""

    retCode: int
    retMsg: str
    result: RestTickerList
    time: Millis


_rest_tickers = msgspec.json.Decoder(RestTickers)


def _rest_list(raw: bytes, symbols: Collection[str] | None) -> tuple[list[RestTicker], int]:
    msg = decode(_rest_tickers, raw)
    if msg.retCode != 0:
        raise FrameError(f"bybit retCode {msg.retCode}: {msg.retMsg}")
    return [t for t in msg.result.items if symbols is None or t.symbol in symbols], ms_to_us(msg.time)


def parse_rest_funding(raw: bytes, recv_ts: int, *, symbols: Collection[str] | None = None) -> list[AnyEvent]:
    """category=linear tickers -> FundingRate per perpetual, at the answer's server time.

    {"retCode":0,"retMsg":"OK","result":{"category":"linear","list":[{"symbol":"BTCUSDT",
     "fundingRate":"-0.000212","nextFundingTime":"1673280000000","fundingIntervalHour":"8", ...}]},
     "retExtInfo":{},"time":1673272861686}
    """
    items, ts = _rest_list(raw, symbols)
    events: list[AnyEvent] = []
    for t in items:
        if not t.fundingRate:
            continue  # dated futures share the linear category and have no funding
        rate = decimal_of(t.fundingRate, "fundingRate")
        hours = decimal_of(t.fundingIntervalHour, "fundingIntervalHour") if t.fundingIntervalHour \
            else DEFAULT_FUNDING_INTERVAL_HOURS
        next_ms = int(t.nextFundingTime) if t.nextFundingTime.isdigit() and t.nextFundingTime != "0" else None
        events.append(funding_rate(
            NAME, symbol_of(t.symbol, "linear"), t.symbol, rate, hours,
            next_funding_ts=None if next_ms is None else ms_to_us(next_ms), ts=ts, recv_ts=recv_ts))
    return events


def parse_rest_open_interest(raw: bytes, recv_ts: int, *,
                             symbols: Collection[str] | None = None) -> list[AnyEvent]:
    """category=linear tickers -> OpenInterest: openInterest in base coin, openInterestValue in USDT.

    {"retCode":0,"result":{"category":"linear","list":[{"symbol":"BTCUSDT","openInterest":"68744.761",
     "openInterestValue":"1183601235.91", ...}]},"time":1673272861686}
    """
    items, ts = _rest_list(raw, symbols)
    return [
        OpenInterest(exchange=NAME, symbol=symbol_of(t.symbol, "linear"), raw_symbol=t.symbol,
                     contracts=finite(t.openInterest, "openInterest"),
                     base=finite(t.openInterest, "openInterest"),
                     usd=None if t.openInterestValue is None else finite(t.openInterestValue, "value"),
                     ts=ts, recv_ts=recv_ts)
        for t in items if t.openInterest is not None
    ]


def parse_rest_spot(raw: bytes, recv_ts: int, *, symbols: Collection[str] | None = None) -> list[AnyEvent]:
    """category=spot tickers -> SpotPrice at lastPrice, at the answer's server time.

    {"retCode":0,"retMsg":"OK","result":{"category":"spot","list":[{"symbol":"BTCUSDT",
     "lastPrice":"20533.13","usdIndexPrice":"20784.12009279", ...}]},"retExtInfo":{},"time":1673859087947}
    """
    items, ts = _rest_list(raw, symbols)
    return [
        SpotPrice(exchange=NAME, symbol=symbol_of(t.symbol, "spot"), raw_symbol=t.symbol,
                  price=finite(t.lastPrice, "lastPrice"), source="exchange", ts=ts, recv_ts=recv_ts)
        for t in items if t.lastPrice is not None
    ]


class Instrument(msgspec.Struct, frozen=True):
    """An instruments-info item (category=linear): only what the receivers use."""

    symbol: str
    contractType: str = ""  # LinearPerpetual, LinearFutures, ...
    fundingInterval: int = 0  # minutes; 0 on dated futures


class InstrumentPage(msgspec.Struct, frozen=True):
    items: list[Instrument] = msgspec.field(default_factory=list, name="list")
    nextPageCursor: str = ""


class Instruments(msgspec.Struct, frozen=True):
    retCode: int
    retMsg: str
    result: InstrumentPage


_instruments = msgspec.json.Decoder(Instruments)


def parse_funding_intervals(raw: bytes) -> tuple[dict[str, Decimal], str]:
    """instruments-info (category=linear) -> (symbol: funding interval hours of every perpetual,
    the next page's cursor or "").

    {"retCode":0,"retMsg":"OK","result":{"category":"linear","list":[{"symbol":"BTCUSDT",
     "contractType":"LinearPerpetual","status":"Trading","fundingInterval":480, ...}],
     "nextPageCursor":""},"retExtInfo":{},"time":1735809771618}
    """
    msg = decode(_instruments, raw)
    if msg.retCode != 0:
        raise FrameError(f"bybit retCode {msg.retCode}: {msg.retMsg}")
    hours = {}
    for item in msg.result.items:
        if item.contractType == "LinearPerpetual":
            if item.fundingInterval <= 0:
                raise FrameError(f"funding interval of {item.fundingInterval} minutes for {item.symbol}")
            hours[item.symbol] = Decimal(item.fundingInterval) / 60
    return hours, msg.result.nextPageCursor


async def fetch_funding_intervals(client: VenueClient, page: int = INSTRUMENT_PAGE) -> dict[str, Decimal]:
    """Every linear perpetual's funding interval, page by page ("more than 500 linear symbols")."""
    hours: dict[str, Decimal] = {}
    params = {"category": "linear", "limit": str(page)}
    for _ in range(MAX_INSTRUMENT_PAGES):
        found, cursor = parse_funding_intervals(await client.get("/v5/market/instruments-info", params))
        hours |= found
        if not cursor:
            return hours
        params = {**params, "cursor": cursor}
    raise FrameError(f"instruments-info still had pages after {MAX_INSTRUMENT_PAGES}")


async def _tickers(client: VenueClient, category: str, assets: Sequence[str]) -> tuple[bytes, set[str]]:
    """One call answers every symbol of the category; a single symbol would be one call per asset."""
    return await client.get("/v5/market/tickers", {"category": category}), {a + REST_QUOTE for a in assets}


async def fetch_funding(client: VenueClient, assets: Sequence[str]) -> list[AnyEvent]:
    raw, wanted = await _tickers(client, "linear", assets)
    return parse_rest_funding(raw, now_us(), symbols=wanted)


async def fetch_open_interest(client: VenueClient, assets: Sequence[str]) -> list[AnyEvent]:
    raw, wanted = await _tickers(client, "linear", assets)
    return parse_rest_open_interest(raw, now_us(), symbols=wanted)


async def fetch_spot(client: VenueClient, assets: Sequence[str]) -> list[AnyEvent]:
    raw, wanted = await _tickers(client, "spot", assets)
    return parse_rest_spot(raw, now_us(), symbols=wanted)
