"""Deribit public market data: JSON-RPC 2.0 over websocket (API v2), each notification beside its parse.

Docs: https://docs.deribit.com/articles/notifications and the Subscription Channels pages.
A notification is {"jsonrpc":"2.0","method":"subscription","params":{"channel":..,"data":..}};
replies to our requests carry our "id" and a "result" (or an "error"). After
public/set_heartbeat the server sends {"method":"heartbeat","params":{"type":"test_request"}}
and closes the connection unless we answer with public/test (heartbeat_reply).

Instruments: BTC-PERPETUAL and ETH-PERPETUAL are inverse (margined in the coin, sized in
USD: "amount" and "open_interest" are USD); BTC_USDC-PERPETUAL and its kin are linear
(margined in USDC, sized in the coin).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from decimal import Decimal
from functools import lru_cache
from typing import Any, Generic, Literal, TypeVar

import msgspec

from services.receivers.frames import (
    DECODE_ERRORS,
    MAGNITUDE,
    FrameError,
    SymbolTable,
    decode,
    divide,
    exact_divide,
    finite,
    finite_pair,
    funding_rate,
    ms_to_us,
    multiply,
    normalized,
)
from services.receivers.venue import Feed, Item, Parse, Venue, channels_of, chunks, socket, ws_url
from shared.decimals import QUANTUM, quantize
from shared.events import AnyEvent, Candle, MarkPrice, OpenInterest, Trade
from shared.settings import Settings

T = TypeVar("T")
ChannelParse = Callable[[bytes, int], list[AnyEvent]]  # one channel's frames (bytes) -> events

NAME = "deribit"
WS_URL = "wss://www.deribit.com/ws/api/v2"
HEARTBEAT_INTERVAL_S = 30  # public/set_heartbeat: "The heartbeat interval in seconds, but not less than 10"
# "raw" notifications are "only available to authorized users"; public connections use 100ms.
PUBLIC_INTERVAL = "100ms"
# Funding accrues continuously but every rate is "expressed as an 8-hour interest rate"
# (support article Funding Specifications), so a rate's interval is 8 h and no funding time exists.
FUNDING_INTERVAL_HOURS = Decimal(8)
CHANNELS_PER_CONNECTION = 300  # no documented limit: a conservative split keeps a resubscribe small
TEST_REPLY_ID = 9_000_001  # the id of our public/test answers, apart from the caller's own ids
# chart.trades resolutions (minutes, or 1D) -> tradehub intervals
RESOLUTIONS = {
    "1": "1m", "3": "3m", "5": "5m", "10": "10m", "15": "15m", "30": "30m", "60": "1h",
    "120": "2h", "180": "3h", "360": "6h", "720": "12h", "1D": "1d",
}


# --- subscribe: JSON-RPC requests ---


def rpc(method: str, params: dict[str, Any], request_id: int) -> bytes:
    """One JSON-RPC 2.0 request; its reply comes back with the same id."""
    return msgspec.json.encode({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})


def subscribe_message(channels: Iterable[str], request_id: int) -> bytes:
    """public/subscribe to public channels; the result lists the channels now subscribed."""
    return rpc("public/subscribe", {"channels": list(channels)}, request_id)


def set_heartbeat_message(request_id: int, interval_s: int = HEARTBEAT_INTERVAL_S) -> bytes:
    """public/set_heartbeat: the server then asks for proof of life every interval."""
    return rpc("public/set_heartbeat", {"interval": interval_s}, request_id)


def trades_channel(instrument: str, interval: str = PUBLIC_INTERVAL) -> str:
    """trades.BTC-PERPETUAL.100ms: every trade, batched per interval."""
    return f"trades.{instrument}.{interval}"


def ticker_channel(instrument: str, interval: str = PUBLIC_INTERVAL) -> str:
    """ticker.BTC-PERPETUAL.100ms: mark, index, funding and open interest."""
    return f"ticker.{instrument}.{interval}"


def chart_trades_channel(instrument: str, resolution: str = "1") -> str:
    """chart.trades.BTC-PERPETUAL.1: the open 1-minute candle, updated as it trades."""
    return f"chart.trades.{instrument}.{resolution}"


def channel_name(channel: str, instrument: str, interval: str) -> str:
    """Our channel word -> Deribit's channel: trades, funding (ticker) or candles (chart.trades 1m)."""
    if channel == "trades":
        return trades_channel(instrument, interval)
    if channel == "funding":
        return ticker_channel(instrument, interval)
    return chart_trades_channel(instrument, "1")


def sockets(venue: Venue, settings: Settings, parse: Parse) -> list[Feed]:
    """JSON-RPC: public/set_heartbeat (the keepalive's interval), then public/subscribe; each
    test_request is answered with public/test (the keepalive's reply)."""
    part = settings.venues.deribit
    items: list[Item[str]] = [
        (c, channel_name(c, inst, part.interval)) for inst in part.symbols for c in part.channels
    ]
    url, heartbeat_s = ws_url(venue, settings), int(venue.keepalive.interval_s)
    return [
        socket(venue, settings, str(n), url, parse, channels_of(chunk), [
            set_heartbeat_message(1, heartbeat_s), subscribe_message([name for _, name in chunk], 2)])
        for n, chunk in enumerate(chunks(items, venue.limits.streams_per_socket))
    ]


# --- notifications, each beside its parse ---


@lru_cache(maxsize=8192)  # called for every event; a venue has a few thousand symbols
def symbol_of(instrument: str) -> tuple[str, bool]:
    """BTC-PERPETUAL -> (BTC-USD-PERP, inverse); BTC_USDC-PERPETUAL -> (BTC-USDC-PERP, linear)."""
    name, _, kind = instrument.rpartition("-")
    base, underscore, quote = name.partition("_")
    if kind != "PERPETUAL" or not base or (underscore and not quote) or "-" in name:
        raise FrameError(f"not a perpetual tradehub knows: {instrument!r}")
    if underscore:
        return normalized(base, quote, perpetual=True), False
    return normalized(base, "USD", perpetual=True), True


def channel_kind(channel: str) -> str:
    """trades.BTC-PERPETUAL.100ms -> trades, chart.trades.BTC-PERPETUAL.1 -> chart.trades."""
    return channel.rsplit(".", 2)[0]


class Params(msgspec.Struct, Generic[T], frozen=True):
    """params of a notification: which channel, and its data."""

    channel: str
    data: T


class Notification(msgspec.Struct, Generic[T], frozen=True):
    """A subscription notification (a JSON-RPC request without id)."""

    method: str  # "subscription"
    params: Params[T]


def _expect(note: Notification[Any], kind: str) -> None:
    if note.method != "subscription" or channel_kind(note.params.channel) != kind:
        raise FrameError(f"expected a {kind} notification, got {note.params.channel!r}")


class DeribitTrade(msgspec.Struct, frozen=True, gc=False):
    """One element of trades.{instrument}.{interval} data, and of a get_last_trades_by_instrument
    answer: what its Trade reads. "liquidation" (which side was liquidated) is left unread: no code
    reads it (the account's own trades have their own struct), so a malformed one refuses no trade."""

    trade_id: str
    timestamp: int  # ms
    instrument_name: str
    price: Decimal
    amount: Decimal  # USD for inverse perpetuals, the coin for linear ones
    direction: Literal["buy", "sell"]  # taker side ("tick_direction", "mark_price", "index_price": unused)
    trade_seq: int | None = None  # sequence of the trade within its instrument (the gap key)


_trades = msgspec.json.Decoder(Notification[list[DeribitTrade]])


def parse_trades(raw: bytes, recv_ts: int) -> list[AnyEvent]:
    """A trades notification -> Trades; inverse sizes are USD / price, the USD kept as raw_size.

    {"params":{"data":[{"trade_seq":30289442,"trade_id":"48079269","timestamp":1590484512188,
     "tick_direction":2,"price":8950,"mark_price":8948.9,"instrument_name":"BTC-PERPETUAL",
     "index_price":8955.88,"direction":"sell","amount":10}],"channel":"trades.BTC-PERPETUAL.raw"},
     "method":"subscription","jsonrpc":"2.0"}
    """
    note = decode(_trades, raw)
    _expect(note, "trades")
    return trades_of(note.params.data, recv_ts)


_SYMBOLS = SymbolTable(symbol_of)  # instrument -> (symbol, inverse), read by subscript in the trade loop


def trades_of(trades: Iterable[DeribitTrade], recv_ts: int) -> list[AnyEvent]:
    """Trades, pushed or from the REST history: inverse sizes are USD / price, the USD kept as
    raw_size; trade_seq (consecutive per instrument) kept as seq for the gap detection.

    A loop, not a comprehension: Python 3.11 makes a function object for each comprehension. The
    range check and the quotient are inline: an inexact quotient (nearly every one: 28 digits) is
    the one whose rounding to PLACES places differs from it, and is then divide()'s answer, in range.
    Any other (an exact quotient, one out of range, a price of 0) takes divide() itself."""
    events: list[AnyEvent] = []
    for t in trades:
        symbol, inverse = _SYMBOLS[t.instrument_name]
        price, amount = t.price, t.amount
        if not (price.is_finite() and amount.is_finite()
                and price.adjusted() < MAGNITUDE > amount.adjusted()):
            finite_pair(price, "price", amount, "amount")
        size, raw_size = amount, None
        if inverse:
            try:
                quotient = exact_divide(amount, price)
                size = quantize(quotient, QUANTUM)
                careful = size == quotient or size.adjusted() >= MAGNITUDE
            except ArithmeticError:
                careful = True
            if careful:
                size = divide(amount, price, "size")
            raw_size = amount
        # Trade(exchange, symbol, raw_symbol, trade_id, price, size, side, raw_size): by position, a
        # third cheaper
        events.append(Trade(NAME, symbol, t.instrument_name, t.trade_id, price, size, t.direction, raw_size,
                            seq=t.trade_seq, ts=t.timestamp * 1000, recv_ts=recv_ts))
    return events


def trade_of(t: DeribitTrade, recv_ts: int) -> Trade:
    """One trade, pushed or from the REST history (trades_of)."""
    [trade] = trades_of((t,), recv_ts)
    assert isinstance(trade, Trade)
    return trade


class Ticker(msgspec.Struct, frozen=True):
    """ticker.{instrument}.{interval} data, the fields tradehub keeps."""

    timestamp: int  # ms
    instrument_name: str
    mark_price: Decimal
    index_price: Decimal
    open_interest: Decimal  # USD for inverse perpetuals, the coin for linear ones
    current_funding: Decimal | None = None  # the funding rate now, as an 8 h rate (perpetuals)
    funding_8h: Decimal | None = None  # funding over the trailing 8 hours (perpetuals)


_ticker = msgspec.json.Decoder(Notification[Ticker])


def parse_ticker(raw: bytes, recv_ts: int) -> list[AnyEvent]:
    """A ticker notification -> MarkPrice, FundingRate (current_funding) and OpenInterest.

    current_funding is the rate in force now; funding_8h is what the last 8 hours paid, a
    trailing figure that lags, so FundingRate carries current_funding (both are 8 h rates).
    {"params":{"data":{"timestamp":1623060194301,"stats":{"volume_usd":284061480,
     "volume":7871.02139035,"price_change":0.7229,"low":35213.5,"high":36824.5},"state":"open",
     "settlement_price":36169.49,"open_interest":502097590,"min_price":35898.37,
     "max_price":36991.72,"mark_price":36446.51,"last_price":36457.5,
     "interest_value":1.7362511643080387,"instrument_name":"BTC-PERPETUAL","index_price":36441.64,
     "funding_8h":0.0000211,"estimated_delivery_price":36441.64,"current_funding":0,
     "best_bid_price":36442.5,"best_bid_amount":5000,"best_ask_price":36443,"best_ask_amount":100},
     "channel":"ticker.BTC-PERPETUAL.raw"},"method":"subscription","jsonrpc":"2.0"}
    """
    note = decode(_ticker, raw)
    _expect(note, "ticker")
    t = note.params.data
    symbol, inverse = symbol_of(t.instrument_name)
    ts, mark, oi = ms_to_us(t.timestamp), finite(t.mark_price, "mark price"), finite(t.open_interest, "oi")
    events: list[AnyEvent] = [
        MarkPrice(
            exchange=NAME, symbol=symbol, raw_symbol=t.instrument_name, mark_price=mark,
            index_price=finite(t.index_price, "index price"), ts=ts, recv_ts=recv_ts,
        ),
        OpenInterest(
            exchange=NAME, symbol=symbol, raw_symbol=t.instrument_name, contracts=oi,
            base=divide(oi, mark, "oi base") if inverse else oi,
            usd=oi if inverse else multiply(oi, mark, "oi usd"), ts=ts, recv_ts=recv_ts,
        ),
    ]
    if t.current_funding is not None:
        rate = finite(t.current_funding, "funding rate")
        events.append(funding_rate(NAME, symbol, t.instrument_name, rate, FUNDING_INTERVAL_HOURS,
                                   ts=ts, recv_ts=recv_ts))
    return events


class ChartBar(msgspec.Struct, frozen=True):
    """chart.trades.{instrument}.{resolution} data; the instrument is only in the channel name."""

    tick: int  # candle open time, ms
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal  # in the base currency
    cost: Decimal | None = None  # in the quote currency (USD for inverse perpetuals)


_chart = msgspec.json.Decoder(Notification[ChartBar])


def parse_chart_trades(raw: bytes, recv_ts: int) -> list[AnyEvent]:
    """A chart.trades notification -> Candle, never closed: the open bar is re-sent as it trades.

    {"params":{"data":{"volume":0.05219351,"tick":1573645080000,"open":8869.79,"low":8788.25,
     "high":8870.31,"cost":460,"close":8791.25},"channel":"chart.trades.BTC-PERPETUAL.1"},
     "method":"subscription","jsonrpc":"2.0"}
    """
    note = decode(_chart, raw)
    _expect(note, "chart.trades")
    _, instrument, resolution = note.params.channel.rsplit(".", 2)
    interval = RESOLUTIONS.get(resolution)
    if interval is None:
        raise FrameError(f"unknown chart resolution {resolution!r}")
    symbol, _ = symbol_of(instrument)
    c = note.params.data
    return [
        Candle(
            exchange=NAME, symbol=symbol, raw_symbol=instrument, interval=interval,
            open=finite(c.open, "open"), high=finite(c.high, "high"), low=finite(c.low, "low"),
            close=finite(c.close, "close"), volume=finite(c.volume, "volume"),
            closed=False, ts=ms_to_us(c.tick), recv_ts=recv_ts,
        )
    ]


class PeekParams(msgspec.Struct, frozen=True):
    """params as far as dispatch needs them: a channel, or a heartbeat type."""

    channel: str = ""
    type: str = ""  # heartbeat: "heartbeat" or "test_request"


class RpcError(msgspec.Struct, frozen=True):
    """error of a refused request."""

    code: int
    message: str


class Envelope(msgspec.Struct, frozen=True):
    """Any frame, data left undecoded: a notification, a heartbeat, or a reply to us."""

    method: str = ""
    params: PeekParams | None = None
    id: int | str | None = None  # set on replies only
    error: RpcError | None = None


_envelope = msgspec.json.Decoder(Envelope)


class TradesParams(msgspec.Struct, frozen=True, gc=False):
    """params of a trades notification: its channel (to tell trades.{instrument}.{interval} from
    the channels of other shapes) and its trades."""

    channel: str
    data: list[DeribitTrade]


class TradesFrame(msgspec.Struct, frozen=True, gc=False):
    """A trades notification read in one decode, "method" known from its first bytes, so that the
    frames that are most of the traffic skip the envelope's own decode."""

    params: TradesParams


_trades_frame = msgspec.json.Decoder(TradesFrame)
# How Deribit starts every trades notification; a frame that starts otherwise takes the envelope's way
TRADES_START = b'{"jsonrpc":"2.0","method":"subscription","params":{"channel":"trades.'
_START = len(TRADES_START)  # raw[:_START] == TRADES_START: a str frame is simply not equal

# channel kind (the channel name without instrument and interval) -> parse function
CHANNELS: dict[str, ChannelParse] = {
    "trades": parse_trades, "ticker": parse_ticker, "chart.trades": parse_chart_trades,
}


def parse_frame(raw: bytes | str, recv_ts: int) -> list[AnyEvent]:
    """Any frame from the socket -> events; heartbeats and replies to our requests -> []."""
    if raw[:_START] == TRADES_START:
        try:
            params = _trades_frame.decode(raw).params
        except DECODE_ERRORS:
            params = None  # the envelope's way below says what is wrong with it
        # trades.{instrument}.{interval}: the channel kind is "trades" when it has two dots
        if params is not None and params.channel.count(".") == 2:
            return trades_of(params.data, recv_ts)
    if isinstance(raw, str):
        return parse_frame(raw.encode("utf-8", "surrogatepass"), recv_ts)  # a lone surrogate -> FrameError
    env = decode(_envelope, raw)
    if env.method == "subscription" and env.params is not None:
        parse = CHANNELS.get(channel_kind(env.params.channel))
        if parse is None:
            raise FrameError(f"unhandled channel {env.params.channel!r}")
        return parse(raw, recv_ts)
    if env.method == "heartbeat":
        return []  # answered by heartbeat_reply, not data
    if env.error is not None:
        raise FrameError(f"request {env.id!r} refused: {env.error.code} {env.error.message}")
    if env.id is not None and not env.method:
        return []  # the result of subscribe, set_heartbeat or test
    raise FrameError(f"neither a notification nor a reply: {raw[:200]!r}")


def heartbeat_reply(raw: bytes | str, request_id: int = TEST_REPLY_ID) -> bytes | None:
    """The public/test frame that answers a test_request; None for every other frame.

    {"jsonrpc":"2.0","method":"heartbeat","params":{"type":"test_request"}}
    """
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogatepass")  # a lone surrogate -> FrameError below
    if b"test_request" not in raw:  # the cheap test first: this runs on every frame
        return None
    try:
        env = decode(_envelope, raw)
    except FrameError:
        return None  # parse_frame reports the bad frame; here it is simply not a test_request
    if env.method == "heartbeat" and env.params is not None and env.params.type == "test_request":
        return rpc("public/test", {}, request_id)
    return None

