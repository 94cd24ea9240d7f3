"""Bybit v5 public websockets: USDT/USDC perpetuals (category "linear") and spot, one module.

Docs: https://bybit-exchange.github.io/docs/v5/ws/connect
A push is {"topic": "<channel>[.<interval>].<SYMBOL>", "type": "snapshot"|"delta", "ts": ms,
"data": ...}; replies to our own requests carry "op" (subscribe acks, pongs) and are not data.
Both endpoints speak the same channels, so every parse function takes the category. The
registry lists the linear feed as "bybit" (this module) and the spot feed as "bybit_spot"
(SPOT below); events of both say exchange="bybit", the symbol tells spot from perpetual.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from types import ModuleType
from typing import Annotated, Generic, Literal, TypeVar

import msgspec

from services.receivers.frames import FrameError, annualized, decode_frame, finite, ms_to_us, multiply
from services.receivers.frames import normalized, split_concatenated
from shared.events import AnyEvent, Candle, FundingRate, Liquidation, MarkPrice, OpenInterest, SpotPrice, Trade

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
KLINE_INTERVALS = {"1": "1m", "3": "3m", "5": "5m", "15": "15m", "30": "30m", "60": "1h", "120": "2h",
                   "240": "4h", "360": "6h", "720": "12h", "D": "1d", "W": "1w", "M": "1M"}


def topics(symbols: Iterable[str], category: Category = CATEGORY) -> list[str]:
    """Our topics per symbol; allLiquidation covers contracts only, so not spot."""
    channels = ["publicTrade", "kline.1", "tickers"] + (["allLiquidation"] if category == "linear" else [])
    return [f"{channel}.{symbol.upper()}" for symbol in symbols for channel in channels]


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


T = TypeVar("T")


class Push(msgspec.Struct, Generic[T], frozen=True):
    """Every data push; the payload type depends on the channel."""

    topic: str  # e.g. publicTrade.BTCUSDT, kline.1.BTCUSDT
    type: Literal["snapshot", "delta"]
    ts: Millis  # when Bybit generated the push
    data: T
    cs: int | None = None  # cross sequence (tickers)


class PublicTrade(msgspec.Struct, frozen=True):
    T: Millis  # fill time
    s: str  # symbol, e.g. BTCUSDT
    S: Literal["Buy", "Sell"]  # taker side
    v: Decimal  # quantity, base coin (a linear contract is one coin)
    p: Decimal  # price
    i: str  # trade id
    L: str | None = None  # tick direction, contracts only
    BT: bool = False  # block trade
    seq: int | None = None  # matching sequence; several messages may share one


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


class Ticker(msgspec.Struct, frozen=True):
    """tickers.*: a linear delta carries only the fields that changed, so all are optional."""

    symbol: str
    lastPrice: Decimal | None = None
    markPrice: Decimal | None = None
    indexPrice: Decimal | None = None
    openInterest: Decimal | None = None  # base coin on linear contracts
    openInterestValue: Decimal | None = None  # in the quote coin (USDT/USDC), taken as USD
    fundingRate: Decimal | None = None
    nextFundingTime: Millis | None = None  # sent as a string: "1673280000000"
    fundingIntervalHour: Decimal | None = None  # REST tickers carry it; used when a push does


class AllLiquidation(msgspec.Struct, frozen=True):
    T: Millis  # updated time
    s: str  # symbol
    S: Literal["Buy", "Sell"]  # POSITION side: "Buy" = a long was liquidated
    v: Decimal  # executed size, base coin
    p: Decimal  # bankruptcy price


class Reply(msgspec.Struct, frozen=True):
    """Any frame, read only far enough to route it: pushes have a topic, replies an op."""

    topic: str | None = None
    op: str | None = None  # subscribe, ping (linear/spot pong), pong (option pong)
    success: bool | None = None
    ret_msg: str = ""


_encoder = msgspec.json.Encoder()
_reply = msgspec.json.Decoder(Reply)
_trades = msgspec.json.Decoder(Push[list[PublicTrade]])
_klines = msgspec.json.Decoder(Push[list[Kline]])
_tickers = msgspec.json.Decoder(Push[Ticker], strict=False)  # strict=False: times sent as strings
_liquidations = msgspec.json.Decoder(Push[list[AllLiquidation]])
_TAKER = {"Buy": "buy", "Sell": "sell"} as_const = None  # placeholder, replaced below
