"""OKX v5 public websockets: trades, candles, funding rate, open interest, liquidation orders.

Docs: https://www.okx.com/docs-v5/en/#overview-websocket
A push is {"arg": {"channel": ..., "instId"|"instType": ...}, "data": [...]}, every number a
string; replies to our requests carry "event" (subscribe, unsubscribe, error, notice) and the
answer to the text "ping" is the text "pong": none of them is data. Candles are served on the
/business endpoint only, the rest on /public. Swap sizes are in CONTRACTS: the parse functions
turn them into base currency with a ctVal table (argument ct_val, CT_VAL by default) and keep
the contract figure in raw_size.
REST (funding, spot, open interest, contract values): public data
https://www.okx.com/docs-v5/en/#public-data-rest-api (get-funding-rate, get-open-interest,
get-instruments) and market data https://www.okx.com/docs-v5/en/#order-book-trading-market-data-get-tickers
"""
from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from types import MappingProxyType
from typing import Annotated, Generic, Literal, Protocol, TypeVar

import msgspec

from services.receivers.frames import (
    DECODE_ERRORS,
    MAGNITUDE,
    FrameError,
    ReconnectNotice,
    SymbolTable,
    decimal_of,
    decode,
    divide,
    exact_multiply,
    finite,
    finite_pair,
    funding_rate,
    ms_to_us,
    multiply,
    normalized,
)
from services.receivers.rest import VenueClient
from services.receivers.venue import (
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
from shared.config import ConfigError
from shared.decimals import PLACES
from shared.events import AnyEvent, Candle, Liquidation, OpenInterest, SpotPrice, Trade, now_us
from shared.settings import Settings

T = TypeVar("T")
Answer = TypeVar("Answer", bound="NamesInstrument")  # an item of a REST answer
Millis = Annotated[int, msgspec.Meta(ge=0, lt=10**15)]  # epoch milliseconds (sent as strings)
CtVal = Mapping[str, Decimal]

NAME = "okx"
# Port 443: OKX stopped accepting websocket connections on port 8443 on 31 October 2026; the same
# service has always answered on 443.
WS_URL = "wss://ws.okx.com/ws/v5/public"
BUSINESS_WS_URL = "wss://ws.okx.com/ws/v5/business"  # candles: "URL Path /ws/v5/business"
PING = "ping"  # overview/websocket: with no message for N < 30 s, "send the String 'ping'"
PONG = "pong"
# "The connection will break ... if ... data has not been pushed for more than 30 seconds"
PING_INTERVAL_S = 25
MAX_SUBSCRIBE_BYTES = 64 * 1024  # "the total length of multiple channels cannot exceed 64 KB"
MAX_REQUESTS_PER_HOUR = 480  # 'subscribe'/'unsubscribe'/'login' requests per connection
MAX_CONNECTS_PER_SECOND = 3  # "Connection limit: 3 requests per second (based on IP)"
CONNECT_SPACING_S = 0.4  # between the first connects of our sockets: under MAX_CONNECTS_PER_SECOND
# No per-connection limit is documented; a conservative split keeps a resubscribe small.
ARGS_PER_CONNECTION = 300
# {"event":"notice","code":"64008","msg":"The connection will soon be closed for a service upgrade.
# Please reconnect.","connId":"a4d3ae55"}: sent 30 s before the upgrade (overview, "Notification")
RECONNECT_NOTICE = "64008"
DEFAULT_FUNDING_INTERVAL_HOURS = Decimal(8)  # only when nextFundingTime is missing

# ctVal of linear swaps, base coin per contract. The full table is ctVal of
# GET /api/v5/public/instruments?instType=SWAP (ctValCcy = base coin); pass it as ct_val.
# BTC: the open-interest push example has oi 2216113.01 contracts = oiCcy 22161.1301 BTC.
CT_VAL: CtVal = MappingProxyType({"BTC-USDT-SWAP": Decimal("0.01"), "ETH-USDT-SWAP": Decimal("0.1")})

# Candle channels in UTC: candle6H/12H/1D/... open at UTC+8 midnight ("UTC+8 opening price
# k-line", market-data candlesticks), so only their "utc" variants are accepted.
CANDLE_INTERVALS = {"candle1m": "1m", "candle3m": "3m", "candle5m": "5m", "candle15m": "15m",
                    "candle30m": "30m", "candle1H": "1h", "candle2H": "2h", "candle4H": "4h",
                    "candle6Hutc": "6h", "candle12Hutc": "12h", "candle1Dutc": "1d"}

PUBLIC_CHANNELS = ("trades", "funding", "liquidations")  # ours served on /public; candles on /business
# an OKX channel -> our channel word
OUR_CHANNEL = {"trades": "trades", "funding-rate": "funding", "open-interest": "funding",
               "liquidation-orders": "liquidations"}
ENDPOINT_URL_KEYS = {"public": NAME, "business": "okx_business"}  # venues.urls keys of the two endpoints

REST_URL = "https://www.okx.com"
# Each endpoint we call allows "20 requests per 2 seconds" (per IP, per IP+instId for funding-rate);
# one budget of 600 a minute for all of them stays inside every one.
REST_WEIGHT_PER_MINUTE = 600
REST_QUOTE = "USDT"  # polled instruments: <ASSET>-USDT-SWAP and <ASSET>-USDT


# --- subscribe ---

_encoder = msgspec.json.Encoder()


def public_args(inst_ids: Iterable[str], channels: Collection[str] = PUBLIC_CHANNELS) -> list[dict[str, str]]:
    """Subscription args for /public: trades of all; funding and OI of swaps; swap liquidations."""
    ids = list(inst_ids)
    swaps = [inst_id for inst_id in ids if inst_id.endswith("-SWAP")]
    args = [{"channel": "trades", "instId": inst_id} for inst_id in ids] if "trades" in channels else []
    if "funding" in channels:
        args += [{"channel": channel, "instId": inst_id}
                 for inst_id in swaps for channel in ("funding-rate", "open-interest")]
    if "liquidations" in channels and swaps:
        args.append({"channel": "liquidation-orders", "instType": "SWAP"})  # every swap's
    return args


def business_args(inst_ids: Iterable[str], channel: str = "candle1m") -> list[dict[str, str]]:
    """Subscription args for /business: candles."""
    return [{"channel": channel, "instId": inst_id} for inst_id in inst_ids]


def subscriptions(inst_ids: Sequence[str],
                  channels: Collection[str]) -> dict[str, list[Item[dict[str, str]]]]:
    """endpoint -> (channel, arg) of each subscription: candles on /business, the rest on /public."""
    public = [(OUR_CHANNEL[arg["channel"]], arg) for arg in public_args(inst_ids, channels)]
    business = [("candles", arg) for arg in business_args(inst_ids)] if "candles" in channels else []
    return {"public": public, "business": business}


def subscribe_requests(args: list[dict[str, str]]) -> list[str]:
    """{"op":"subscribe","args":[...]} text frames, each under MAX_SUBSCRIBE_BYTES."""
    requests: list[str] = []
    batch: list[dict[str, str]] = []
    for arg in args:
        if batch and len(_encoder.encode({"op": "subscribe", "args": [*batch, arg]})) > MAX_SUBSCRIBE_BYTES:
            requests.append(_encoder.encode({"op": "subscribe", "args": batch}).decode())
            batch = []
        batch.append(arg)
    return requests + ([_encoder.encode({"op": "subscribe", "args": batch}).decode()] if batch else [])


def sockets(venue: Venue, settings: Settings, parse: Parse) -> list[Feed]:
    """/public: trades, funding-rate + open-interest (swaps), liquidation-orders (every swap);
    /business: candles. Sockets start CONNECT_SPACING_S apart (3 connects a second per IP)."""
    part = settings.venues.okx
    feeds: list[Feed] = []
    for endpoint, items in subscriptions(part.symbols, part.channels).items():
        url = ws_url(venue, settings, ENDPOINT_URL_KEYS[endpoint])
        for n, chunk in enumerate(chunks(items, venue.limits.streams_per_socket)):
            feeds.append(socket(
                venue, settings, f"{endpoint}:{n}", url, parse, channels_of(chunk),
                subscribe_requests([arg for _, arg in chunk]),
                start_delay_s=len(feeds) * venue.limits.connect_spacing_s,
            ))
    return feeds


# --- websocket pushes, each beside its parse ---


@lru_cache(maxsize=8192)  # called for every event; a venue has a few thousand symbols
def symbol_of(inst_id: str) -> str:
    """BTC-USDT-SWAP -> BTC-USDT-PERP, BTC-USDT (spot) -> BTC-USDT; dated futures are refused."""
    parts = inst_id.split("-")
    if not all(part.isascii() and part.isalnum() for part in parts):
        raise FrameError(f"unsupported instrument {inst_id!r}")  # also BTC-USD_UM-SWAP
    if len(parts) == 3 and parts[2] == "SWAP":
        return normalized(parts[0], parts[1], perpetual=True)
    if len(parts) == 2:
        return normalized(parts[0], parts[1], perpetual=False)
    raise FrameError(f"unsupported instrument {inst_id!r}")


def base_size(inst_id: str, sz: Decimal, ct_val: CtVal) -> tuple[Decimal, Decimal | None]:
    """(size in base currency, the contract figure or None): swaps count contracts of ctVal."""
    sz = finite(sz, "size")
    if not inst_id.endswith("-SWAP"):
        return sz, None
    value = ct_val.get(inst_id)
    if value is None:
        raise no_contract_value(inst_id)
    return multiply(sz, value, "base size"), sz


def no_contract_value(inst_id: str) -> FrameError:
    """A swap without its ctVal: a guess would be off by orders of magnitude, so refuse, and count it."""
    return FrameError(f"no ctVal for {inst_id}: load /api/v5/public/instruments into ct_val")


def _ms_text(text: str, what: str) -> int | None:
    """A millisecond time sent as text, "" when absent."""
    if text == "":
        return None
    if not (text.isascii() and text.isdigit() and len(text) < 16):
        raise FrameError(f"{what} is not a time: {text!r}")
    return int(text)


class Arg(msgspec.Struct, frozen=True, gc=False):
    channel: str
    instId: str | None = None  # instrument, e.g. BTC-USDT-SWAP
    instType: str | None = None  # liquidation-orders subscribes per type: SWAP


class Push(msgspec.Struct, Generic[T], frozen=True):
    arg: Arg
    data: list[T]


class WsTrade(msgspec.Struct, frozen=True, gc=False):
    """A trades push item, and a history-trades row (the same keys): what its Trade reads. "count"
    (matches aggregated into it), "source" and "seqId" are left unread: no code reads them, so a
    malformed one refuses no trade."""

    instId: str
    tradeId: str  # the last trade id of the aggregation
    px: Decimal  # price
    sz: Decimal  # spot: base currency; SWAP: contracts
    side: Literal["buy", "sell"]  # taker side
    ts: Millis  # fill time


class TradesPush(msgspec.Struct, frozen=True, gc=False):
    """A trades push: its trades. The channel is known before the decode (the frame's first bytes, or
    the envelope's arg); "event" is read so that a reply naming the trades channel is not data."""

    data: list[WsTrade]
    event: str | None = None


# strict=False: OKX sends every number as a string ("1630048897897")
_trades = msgspec.json.Decoder(TradesPush, strict=False)


def parse_trades(raw: bytes | str, recv_ts: int, ct_val: CtVal = CT_VAL) -> list[AnyEvent]:
    """trades -> Trade; side is the taker's; swap sizes from contracts to base currency.

    {"arg":{"channel":"trades","instId":"BTC-USDT"},"data":[{"instId":"BTC-USDT","tradeId":"130639474",
     "px":"42219.9","sz":"0.12060306","side":"buy","ts":"1630048897897","count":"3","source":"0","seqId":1234}]}
    """
    return trades_of(decode(_trades, raw).data, recv_ts, ct_val)


# instId -> (normalized symbol, a swap counted in contracts), read by subscript in the trade loop
INSTRUMENTS: SymbolTable[tuple[str, bool]] = SymbolTable(
    lambda inst_id: (symbol_of(inst_id), inst_id.endswith("-SWAP")))


def trades_of(trades: Iterable[WsTrade], recv_ts: int, ct_val: CtVal) -> list[AnyEvent]:
    """Trades, pushed or from the REST history (the same keys): swap contracts to base currency.

    A loop, not a comprehension: Python 3.11 makes a function object for each comprehension. The
    range check is inline (frames.MAGNITUDE); finite_pair() is called only when it fails."""
    events: list[AnyEvent] = []
    for t in trades:
        inst_id, price, size = t.instId, t.px, t.sz
        if not (size.is_finite() and price.is_finite() and size.adjusted() < MAGNITUDE > price.adjusted()):
            finite_pair(size, "size", price, "price")
        symbol, swap = INSTRUMENTS[inst_id]
        raw_size = None
        if swap:  # base_size(), inline: a call costs more than what it does
            value = ct_val.get(inst_id)
            if value is None:
                raise no_contract_value(inst_id)
            raw_size, size = size, exact_multiply(size, value)
            # multiply()'s answer when its text says at most PLACES places and its size is in range
            # (nearly every product: contracts x ctVal); else multiply() itself
            text = str(size)
            if len(text) > PLACES + 2 or "E" in text or size.adjusted() >= MAGNITUDE:
                size = multiply(raw_size, value, "base size")
        # Trade(exchange, symbol, raw_symbol, trade_id, price, size, side, raw_size): by position, a
        # third cheaper
        events.append(Trade(NAME, symbol, inst_id, t.tradeId, price, size, t.side, raw_size, ts=t.ts * 1000,
                            recv_ts=recv_ts))
    return events


def trade_of(t: WsTrade, recv_ts: int, ct_val: CtVal) -> Trade:
    """One trade, pushed or from the REST history: swap contracts to base currency."""
    [trade] = trades_of((t,), recv_ts, ct_val)
    assert isinstance(trade, Trade)
    return trade


class WsCandle(msgspec.Struct, frozen=True, array_like=True):
    ts: Millis  # open time
    o: Decimal
    h: Decimal
    l: Decimal  # noqa: E741
    c: Decimal
    vol: Decimal  # spot: base currency; SWAP: contracts
    volCcy: Decimal  # spot: quote currency; SWAP: base currency
    volCcyQuote: Decimal  # quote currency
    confirm: Literal["0", "1"]  # "1": the candle has closed


_candles = msgspec.json.Decoder(Push[WsCandle], strict=False)


def parse_candles(raw: bytes | str, recv_ts: int, ct_val: CtVal = CT_VAL) -> list[AnyEvent]:
    """candle1m (on /business) -> Candle, ts = open time, closed when confirm is "1".

    Volume in base currency needs no ctVal: vol on spot, volCcy on swaps (market-data candlesticks).
    {"arg":{"channel":"candle1m","instId":"BTC-USDT"},"data":[["1597026383085","8533.02","8553.74",
     "8527.17","8548.26","45247","529.5858061","5529.5858061","0"]]}
    """
    msg = decode(_candles, raw)
    interval = CANDLE_INTERVALS.get(msg.arg.channel)
    if interval is None or msg.arg.instId is None:  # the bars carry no instId: the arg has it
        raise FrameError(f"unsupported candle push {msg.arg}")
    inst_id = msg.arg.instId
    symbol, swap = symbol_of(inst_id), inst_id.endswith("-SWAP")
    return [
        Candle(exchange=NAME, symbol=symbol, raw_symbol=inst_id, interval=interval, open=finite(k.o, "open"),
               high=finite(k.h, "high"), low=finite(k.l, "low"), close=finite(k.c, "close"),
               volume=finite(k.volCcy if swap else k.vol, "volume"), closed=k.confirm == "1",
               source="exchange", ts=ms_to_us(k.ts), recv_ts=recv_ts)
        for k in msg.data
    ]


class FundingData(msgspec.Struct, frozen=True):
    """A funding-rate push item and a get-funding-rate answer item: the same keys, numbers as strings."""

    instId: str
    fundingRate: Decimal  # rate settled at fundingTime
    fundingTime: Millis  # the coming settlement
    ts: Millis
    nextFundingTime: str = ""  # the settlement after; its distance from fundingTime is the interval


_funding = msgspec.json.Decoder(Push[FundingData], strict=False)


def funding_events(items: Iterable[FundingData], recv_ts: int) -> list[AnyEvent]:
    """FundingRate of the coming settlement (fundingTime) per item, pushed or answered.

    The interval is nextFundingTime - fundingTime: OKX may move an altcoin from 8 h to 6, 4, 2
    or 1 h ("users should focus on the difference between fundingTime and nextFundingTime").
    """
    events: list[AnyEvent] = []
    for f in items:
        rate, next_ms = finite(f.fundingRate, "fundingRate"), _ms_text(f.nextFundingTime, "nextFundingTime")
        hours = DEFAULT_FUNDING_INTERVAL_HOURS if next_ms is None else divide(
            Decimal(next_ms - f.fundingTime), Decimal(3_600_000), "funding interval")
        events.append(funding_rate(NAME, symbol_of(f.instId), f.instId, rate, hours,
                                   next_funding_ts=ms_to_us(f.fundingTime), ts=ms_to_us(f.ts),
                                   recv_ts=recv_ts))
    return events


def parse_funding_rate(raw: bytes | str, recv_ts: int, ct_val: CtVal = CT_VAL) -> list[AnyEvent]:
    """funding-rate -> FundingRate of the coming settlement (fundingTime).

    {"arg":{"channel":"funding-rate","instId":"BTC-USD-SWAP"},"data":[{"fundingRate":"0.0001875391284828",
     "fundingTime":"1700726400000","instId":"BTC-USD-SWAP","nextFundingTime":"1700755200000",
     "ts":"1700724675402", ...}]}
    """
    return funding_events(decode(_funding, raw).data, recv_ts)


class OpenInterestData(msgspec.Struct, frozen=True):
    """An open-interest push item and a get-open-interest answer item: the same keys."""

    instId: str
    oi: Decimal  # contracts
    oiCcy: Decimal  # base currency
    ts: Millis
    oiUsd: Decimal | None = None  # newer field


_open_interest = msgspec.json.Decoder(Push[OpenInterestData], strict=False)


def open_interest_events(items: Iterable[OpenInterestData], recv_ts: int) -> list[AnyEvent]:
    """OpenInterest per item, pushed or answered: contracts (oi), base currency (oiCcy), USD (oiUsd)."""
    return [
        OpenInterest(exchange=NAME, symbol=symbol_of(o.instId), raw_symbol=o.instId,
                     contracts=finite(o.oi, "oi"), base=finite(o.oiCcy, "oiCcy"),
                     usd=None if o.oiUsd is None else finite(o.oiUsd, "oiUsd"), ts=ms_to_us(o.ts),
                     recv_ts=recv_ts)
        for o in items
    ]


def parse_open_interest(raw: bytes | str, recv_ts: int, ct_val: CtVal = CT_VAL) -> list[AnyEvent]:
    """open-interest -> OpenInterest in contracts, base currency (oiCcy) and USD (oiUsd).

    {"arg":{"channel":"open-interest","instId":"BTC-USDT-SWAP"},"data":[{"instId":"BTC-USDT-SWAP",
     "instType":"SWAP","oi":"2216113.01000000309","oiCcy":"22161.1301000000309",
     "oiUsd":"1939251795.54769270396321","ts":"1743041250440"}]}
    """
    return open_interest_events(decode(_open_interest, raw).data, recv_ts)


class WsLiquidationDetail(msgspec.Struct, frozen=True):
    side: Literal["buy", "sell"]  # the liquidation ORDER's side, as tradehub wants it
    bkPx: Decimal  # bankruptcy price
    sz: Decimal  # SWAP/FUTURES: contracts; MARGIN: base currency
    ts: Millis
    posSide: str = ""  # long, short, net


class WsLiquidation(msgspec.Struct, frozen=True):
    instId: str
    details: list[WsLiquidationDetail]


_liquidations = msgspec.json.Decoder(Push[WsLiquidation], strict=False)


def parse_liquidation_orders(raw: bytes | str, recv_ts: int, ct_val: CtVal = CT_VAL) -> list[AnyEvent]:
    """liquidation-orders -> Liquidation per detail; side is the order side as OKX sends it.

    {"id":"1512","arg":{"channel":"liquidation-orders","instType":"SWAP"},"data":[{"details":[{"bkLoss":"0",
     "bkPx":"0.007831","ccy":"","posSide":"short","side":"buy","sz":"13","ts":"1692266434010"}],
     "instFamily":"IOST-USDT","instId":"IOST-USDT-SWAP","instType":"SWAP","uly":"IOST-USDT"}]}
    """
    msg = decode(_liquidations, raw)
    events: list[AnyEvent] = []
    for item in msg.data:
        symbol = symbol_of(item.instId)
        for d in item.details:
            price = finite(d.bkPx, "bkPx")
            size, raw_size = base_size(item.instId, d.sz, ct_val)
            events.append(Liquidation(exchange=NAME, symbol=symbol, raw_symbol=item.instId, side=d.side,
                                      price=price, size=size, usd_value=multiply(price, size, "usd value"),
                                      raw_size=raw_size, ts=ms_to_us(d.ts), recv_ts=recv_ts))
    return events


class Envelope(msgspec.Struct, frozen=True):  # any JSON frame, read only far enough to route it
    arg: Arg | None = None
    event: str | None = None  # subscribe, unsubscribe, error, notice, channel-conn-count
    code: str | None = None
    msg: str | None = None


_envelope = msgspec.json.Decoder(Envelope)


# How OKX starts every trades push: such a frame is decoded as one straight away, and only one that
# does not decode so (or carries an event) takes the envelope's way
TRADES_START = b'{"arg":{"channel":"trades",'
_START = len(TRADES_START)  # raw[:_START] == TRADES_START: a str frame is simply not equal

# arg.channel -> parse function of the whole frame; all take ct_val so one table reaches all
CHANNELS: dict[str, Callable[[bytes | str, int, CtVal], list[AnyEvent]]] = {
    "trades": parse_trades,
    "funding-rate": parse_funding_rate,
    "open-interest": parse_open_interest,
    "liquidation-orders": parse_liquidation_orders,
    **dict.fromkeys(CANDLE_INTERVALS, parse_candles),
}


def _routed(raw: bytes | str, recv_ts: int, ct_val: CtVal) -> list[AnyEvent]:
    """Any frame, routed by its envelope: "pong", acks, notices and errors, then a parse per channel."""
    if raw == PONG or raw == PONG.encode():
        return []
    envelope = decode(_envelope, raw)
    if envelope.event is not None:
        if envelope.event == "error":  # e.g. a refused subscription: counted, not data
            raise FrameError(f"okx error {envelope.code}: {envelope.msg}")
        if envelope.event == "notice" and envelope.code == RECONNECT_NOTICE:
            raise ReconnectNotice(f"okx {envelope.code}: {envelope.msg}")
        return []  # subscribe/unsubscribe acks, other notices, channel-conn-count
    if envelope.arg is None:
        raise FrameError("neither an arg nor an event")
    parse = CHANNELS.get(envelope.arg.channel)
    if parse is None:
        raise FrameError(f"unknown channel {envelope.arg.channel!r}")
    return parse(raw, recv_ts, ct_val)


def parser(ct_val: Facts) -> Parse:
    """parse_frame reading contract values from ct_val (the venue's facts table, kept fresh by the
    receivers), its trades way inline: a call costs a tenth of a frame's parse."""
    decode_trades = _trades.decode

    def parse(raw: bytes | str, recv_ts: int) -> list[AnyEvent]:
        if raw[:_START] == TRADES_START:
            try:
                push = decode_trades(raw)
            except DECODE_ERRORS:
                push = None  # the envelope's way says what is wrong with it
            if push is not None and push.event is None:
                return trades_of(push.data, recv_ts, ct_val)
        return _routed(raw, recv_ts, ct_val)

    return parse


_DEFAULT = parser(CT_VAL)


def parse_frame(raw: bytes | str, recv_ts: int, ct_val: CtVal = CT_VAL) -> list[AnyEvent]:
    """A frame of /public or /business -> events; acks, notices and "pong" -> []."""
    return (_DEFAULT if ct_val is CT_VAL else parser(ct_val))(raw, recv_ts)


# --- REST (funding, spot, open interest, contract values) ---


class NamesInstrument(Protocol):
    """Every REST answer item says which instrument it is about."""

    @property
    def instId(self) -> str: ...


class RestEnvelope(msgspec.Struct, Generic[T], frozen=True):
    """{"code":"0","msg":"","data":[...]}: code "0" is success."""

    code: str
    data: list[T] = []
    msg: str = ""


def _rest_data(decoder: msgspec.json.Decoder[RestEnvelope[Answer]], raw: bytes,
               inst_ids: Collection[str] | None) -> list[Answer]:
    """The answer's data when its code is "0", only the wanted instruments (all when None)."""
    msg = decode(decoder, raw)
    if msg.code != "0":
        raise FrameError(f"okx code {msg.code}: {msg.msg}")
    return [item for item in msg.data if inst_ids is None or item.instId in inst_ids]


_rest_funding = msgspec.json.Decoder(RestEnvelope[FundingData], strict=False)
_rest_open_interest = msgspec.json.Decoder(RestEnvelope[OpenInterestData], strict=False)


def parse_rest_funding(raw: bytes, recv_ts: int, *,
                       inst_ids: Collection[str] | None = None) -> list[AnyEvent]:
    """funding-rate -> FundingRate of the coming settlement; interval = nextFundingTime - fundingTime.

    {"code":"0","data":[{"fundingRate":"0.0000792386885340","fundingTime":"1703088000000",
     "instId":"BTC-USDT-SWAP","instType":"SWAP","method":"current_period","nextFundingRate":"",
     "nextFundingTime":"1703116800000","ts":"1703070685309", ...}],"msg":""}
    """
    return funding_events(_rest_data(_rest_funding, raw, inst_ids), recv_ts)


def parse_rest_open_interest(raw: bytes, recv_ts: int, *,
                             inst_ids: Collection[str] | None = None) -> list[AnyEvent]:
    """open-interest -> OpenInterest: oi in contracts, oiCcy in base currency, oiUsd in USD.

    {"code":"0","data":[{"instId":"BTC-USDT-SWAP","instType":"SWAP","oi":"5000","oiCcy":"555.55",
     "oiUsd":"50000","ts":"1597026383085"}],"msg":""}
    """
    return open_interest_events(_rest_data(_rest_open_interest, raw, inst_ids), recv_ts)


class RestTicker(msgspec.Struct, frozen=True):
    """get-tickers item (instType=SPOT)."""

    instId: str
    last: Decimal  # last traded price
    ts: Millis


_rest_tickers = msgspec.json.Decoder(RestEnvelope[RestTicker], strict=False)


def parse_rest_spot(raw: bytes, recv_ts: int, *,
                    inst_ids: Collection[str] | None = None) -> list[AnyEvent]:
    """tickers (instType=SPOT) -> SpotPrice at the last traded price.

    {"code":"0","msg":"","data":[{"instType":"SPOT","instId":"BTC-USDT","last":"9999.99","lastSz":"0.1",
     "askPx":"9999.99","bidPx":"8888.88", ... ,"ts":"1597026383085"}]}
    """
    return [
        SpotPrice(exchange=NAME, symbol=symbol_of(t.instId), raw_symbol=t.instId,
                  price=finite(t.last, "last"),
                  source="exchange", ts=ms_to_us(t.ts), recv_ts=recv_ts)
        for t in _rest_data(_rest_tickers, raw, inst_ids)
    ]


class RestInstrument(msgspec.Struct, frozen=True):
    """get-instruments item (instType=SWAP): the contract's size and what it is counted in."""

    instId: str
    ctVal: str = ""  # contract value; "" outside futures, swaps and options
    ctValCcy: str = ""  # the currency of ctVal: the base coin on linear swaps, USD on inverse ones
    ctType: str = ""  # linear, inverse
    state: str = ""  # live, suspend, preopen, test


_rest_instruments = msgspec.json.Decoder(RestEnvelope[RestInstrument])


def parse_contract_values(raw: bytes) -> dict[str, Decimal]:
    """get-instruments (instType=SWAP) -> instId: ctVal of every linear swap counted in its base coin.

    Inverse swaps (BTC-USD-SWAP: ctVal is USD) are left out: a base size needs the price, and a
    swap absent from the table keeps being refused rather than guessed.
    {"code":"0","msg":"","data":[{"instType":"SWAP","instId":"BTC-USDT-SWAP","instFamily":"BTC-USDT",
     "ctVal":"0.01","ctValCcy":"BTC","ctMult":"1","ctType":"linear","settleCcy":"USDT","state":"live",...}]}
    """
    table = {}
    for item in _rest_data(_rest_instruments, raw, None):
        if item.ctType != "linear" or item.ctValCcy != item.instId.partition("-")[0]:
            continue
        value = decimal_of(item.ctVal, f"ctVal of {item.instId}")
        if value <= 0:
            raise FrameError(f"ctVal of {item.instId} is {value}")
        table[item.instId] = value
    return table


async def fetch_contract_values(client: VenueClient) -> dict[str, Decimal]:
    """Every swap in one call (public/instruments: 20 requests per 2 s per IP and instType)."""
    return parse_contract_values(await client.get("/api/v5/public/instruments", {"instType": "SWAP"}))


async def fetch_funding(client: VenueClient, assets: Sequence[str]) -> list[AnyEvent]:
    """funding-rate answers one instrument per call."""
    events: list[AnyEvent] = []
    for asset in assets:
        inst_id = f"{asset}-{REST_QUOTE}-SWAP"
        raw = await client.get("/api/v5/public/funding-rate", {"instId": inst_id})
        events += parse_rest_funding(raw, now_us(), inst_ids={inst_id})
    return events


async def fetch_open_interest(client: VenueClient, assets: Sequence[str]) -> list[AnyEvent]:
    """Every swap's open interest in one call."""
    raw = await client.get("/api/v5/public/open-interest", {"instType": "SWAP"})
    return parse_rest_open_interest(raw, now_us(), inst_ids={f"{a}-{REST_QUOTE}-SWAP" for a in assets})


async def fetch_spot(client: VenueClient, assets: Sequence[str]) -> list[AnyEvent]:
    """Every spot ticker in one call."""
    raw = await client.get("/api/v5/market/tickers", {"instType": "SPOT"})
    return parse_rest_spot(raw, now_us(), inst_ids={f"{a}-{REST_QUOTE}" for a in assets})


def configured_contract_values(settings: Settings) -> dict[str, Decimal]:
    """okx_contract_values as numbers: the user's word, which wins over the values OKX lists. A swap
    without a right ctVal would be off by orders of magnitude, so a bad one stops the start."""
    table = {}
    for inst_id, text in settings.venues.okx.contract_values.items():
        try:
            value = Decimal(text)
        except InvalidOperation as exc:
            raise ConfigError(f"okx_contract_values[{inst_id}] is not a number: {text!r}") from exc
        if not value.is_finite() or value <= 0:
            raise ConfigError(f"okx_contract_values[{inst_id}] must be a positive number, got {text!r}")
        table[inst_id] = value
    return table


def configured_swaps(settings: Settings) -> list[str]:
    """The swaps the sockets subscribe to: each needs its ctVal."""
    return [inst_id for inst_id in settings.venues.okx.symbols if inst_id.endswith("-SWAP")]
