"""Binance USD-M futures: websocket market streams.

Docs: https://developers.binance.com/docs/derivatives/usds-margined-futures/websocket-market-streams
Combined streams arrive wrapped as {"stream": "<name>", "data": <payload>}.
A connection is closed by Binance after 24 hours; the server pings every 3 minutes
and expects a pong within 10 minutes (the websockets library answers pings itself).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from decimal import Decimal

import msgspec

from shared.events import AnyEvent, Trade
from services.receivers.frames import FrameError, decode, finite, ms_to_us, normalized, split_concatenated

NAME = "binance"
WS_URL = "wss://fstream.binance.com"
MAX_STREAMS_PER_CONNECTION = 200  # "A single connection can listen to a maximum of 200 streams."
MAX_CONNECTION_AGE_S = 24 * 3600  # "A single connection is only valid for 24 hours"


def combined_stream_url(base_url: str, streams: Iterable[str]) -> str:
    """/stream?streams=a/b/c: the combined-stream endpoint."""
    return f"{base_url.rstrip('/')}/stream?streams={'/'.join(streams)}"


def agg_trade_streams(symbols: Iterable[str]) -> list[str]:
    """Stream names are lower-case: btcusdt@aggTrade."""
    return [f"{symbol.lower()}@aggTrade" for symbol in symbols]


class AggTrade(msgspec.Struct, frozen=True):
    """<symbol>@aggTrade payload."""

    e: str  # event type, "aggTrade"
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


class Combined(msgspec.Struct, frozen=True):
    """The combined-stream wrapper; data is decoded once its stream name is known."""

    stream: str
    data: msgspec.Raw


_combined = msgspec.json.Decoder(Combined)
_agg_trade = msgspec.json.Decoder(AggTrade)


def symbol_of(raw_symbol: str) -> str:
    """USD-M perpetuals: BTCUSDT -> BTC-USDT-PERP."""
    base, quote = split_concatenated(raw_symbol)
    return normalized(base, quote, perpetual=True)


def parse_agg_trade(raw: bytes | msgspec.Raw, recv_ts: int) -> list[AnyEvent]:
    """One aggTrade payload -> one Trade; the taker sold when the buyer is the maker.

    {"e":"aggTrade","E":123456789,"s":"BTCUSDT","a":5933014,"p":"0.001","q":"100",
     "f":100,"l":105,"T":123456785,"m":true}
    """
    msg = decode(_agg_trade, raw)
    if msg.e != "aggTrade":
        raise FrameError(f"expected aggTrade, got {msg.e!r}")
    return [
        Trade(
            exchange=NAME,
            symbol=symbol_of(msg.s),
            raw_symbol=msg.s,
            trade_id=str(msg.a),
            price=finite(msg.p, "price"),
            size=finite(msg.q, "size"),
            side="sell" if msg.m else "buy",
            ts=ms_to_us(msg.T),
            recv_ts=recv_ts,
        )
    ]


# stream-name suffix -> parse function of its payload
CHANNELS: dict[str, Callable[[bytes | msgspec.Raw, int], list[AnyEvent]]] = {
    "aggTrade": parse_agg_trade,
}


def parse_frame(raw: bytes | str, recv_ts: int) -> list[AnyEvent]:
    """A combined-stream frame (or a bare payload) -> events; subscription acks -> []."""
    if isinstance(raw, str):
        raw = raw.encode()
    if raw.startswith(b'{"stream"'):
        wrapper = decode(_combined, raw)
        channel = wrapper.stream.partition("@")[2].split("_")[0]
        parse = CHANNELS.get(channel)
        if parse is None:
            raise FrameError(f"unknown stream {wrapper.stream!r}")
        return parse(wrapper.data, recv_ts)
    if raw.startswith(b'{"result"'):
        return []  # {"result":null,"id":1}: a subscription ack, not data
    return parse_agg_trade(raw, recv_ts)
