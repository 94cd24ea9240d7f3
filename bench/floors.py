"""The floor of a parse into the events' contract, per venue shape: the least any Python parse of a
venue's trade frames into Decimal `Trade` events can cost. One msgspec decode of only the fields a
`Trade` needs (price and size straight into `Decimal`), the size conversion the contract requires
(OKX contracts x contract value, Deribit inverse USD / price, rounded to the 18 places a derived
figure may carry: shared/decimals.py), the fields the contract carries (Deribit's `trade_seq` as
`seq`), then the `Trade`: no range checks, no routing, a fixed symbol. bench/receivers.py prints each
venue's normalize rate as a share of it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import msgspec

from shared.events import Trade

Parse = Callable[[bytes], list[Trade]]


class BinanceAgg(msgspec.Struct, gc=False):
    s: str
    a: int
    p: Decimal
    q: Decimal
    T: int
    m: bool


class BinanceAggFrame(msgspec.Struct, gc=False):
    data: BinanceAgg


class BinanceSpot(msgspec.Struct, gc=False):
    s: str
    t: int
    p: Decimal
    q: Decimal
    T: int
    m: bool


class BinanceSpotFrame(msgspec.Struct, gc=False):
    data: BinanceSpot


class BybitTrade(msgspec.Struct, gc=False):
    T: int
    s: str
    S: str
    v: Decimal
    p: Decimal
    i: str


class BybitFrame(msgspec.Struct, gc=False):
    data: list[BybitTrade]


class OkxTrade(msgspec.Struct, gc=False):
    instId: str
    tradeId: str
    px: Decimal
    sz: Decimal
    side: str
    ts: str


class OkxFrame(msgspec.Struct, gc=False):
    data: list[OkxTrade]


class DeribitTrade(msgspec.Struct, gc=False):
    trade_seq: int
    trade_id: str
    timestamp: int
    price: Decimal
    amount: Decimal
    direction: str
    instrument_name: str


class DeribitParams(msgspec.Struct, gc=False):
    data: list[DeribitTrade]


class DeribitFrame(msgspec.Struct, gc=False):
    params: DeribitParams


class HyperliquidTrade(msgspec.Struct, gc=False):
    coin: str
    side: str
    px: Decimal
    sz: Decimal
    time: int
    tid: int
    users: tuple[str, str]


class HyperliquidFrame(msgspec.Struct, gc=False):
    data: list[HyperliquidTrade]


CONTRACT_VALUE = Decimal("0.01")  # OKX BTC-USDT-SWAP: one multiply per trade, whatever the value


_binance = msgspec.json.Decoder(BinanceAggFrame).decode


def binance(raw: bytes) -> list[Trade]:
    m = _binance(raw).data
    return [Trade(exchange="binance", symbol="BTC-USDT-PERP", raw_symbol=m.s, trade_id=str(m.a), price=m.p,
                  size=m.q, side="sell" if m.m else "buy", ts=m.T * 1000, recv_ts=0)]


_binance_spot = msgspec.json.Decoder(BinanceSpotFrame).decode


def binance_spot(raw: bytes) -> list[Trade]:
    m = _binance_spot(raw).data
    return [Trade(exchange="binance_spot", symbol="BTC-USDT", raw_symbol=m.s, trade_id=str(m.t), price=m.p,
                  size=m.q, side="sell" if m.m else "buy", ts=m.T * 1000, recv_ts=0)]


_bybit = msgspec.json.Decoder(BybitFrame).decode


def bybit(raw: bytes) -> list[Trade]:
    return [Trade(exchange="bybit", symbol="BTC-USDT-PERP", raw_symbol=t.s, trade_id=t.i, price=t.p, size=t.v,
                  side="buy" if t.S == "Buy" else "sell", ts=t.T * 1000, recv_ts=0)
            for t in _bybit(raw).data]


_okx = msgspec.json.Decoder(OkxFrame).decode


def okx(raw: bytes) -> list[Trade]:
    return [Trade(exchange="okx", symbol="BTC-USDT-PERP", raw_symbol=t.instId, trade_id=t.tradeId, price=t.px,
                  size=t.sz * CONTRACT_VALUE, raw_size=t.sz, side="buy" if t.side == "buy" else "sell",
                  ts=int(t.ts) * 1000, recv_ts=0)
            for t in _okx(raw).data]


_deribit = msgspec.json.Decoder(DeribitFrame).decode
PLACES = Decimal(1).scaleb(-18)  # a quotient's 28 digits would often be more places than the store keeps
_places = Decimal.quantize


def deribit(raw: bytes) -> list[Trade]:
    return [Trade(exchange="deribit", symbol="BTC-USD-PERP", raw_symbol=t.instrument_name,
                  trade_id=t.trade_id,
                  price=t.price, size=_places(t.amount / t.price, PLACES), raw_size=t.amount,
                  side="buy" if t.direction == "buy" else "sell", seq=t.trade_seq, ts=t.timestamp * 1000,
                  recv_ts=0)
            for t in _deribit(raw).params.data]


_hyperliquid = msgspec.json.Decoder(HyperliquidFrame).decode


def hyperliquid(raw: bytes) -> list[Trade]:
    return [Trade(exchange="hyperliquid", symbol="BTC-USD-PERP", raw_symbol=t.coin, trade_id=str(t.tid),
                  price=t.px, size=t.sz, side="buy" if t.side == "B" else "sell", ts=t.time * 1000, recv_ts=0,
                  buyer=t.users[0], seller=t.users[1])
            for t in _hyperliquid(raw).data]


FLOORS: dict[str, Parse] = {
    "binance": binance, "binance_spot": binance_spot, "bybit": bybit, "bybit_spot": bybit, "okx": okx,
    "deribit": deribit, "hyperliquid": hyperliquid,
}


def floor_rate(venue: str, frames: list[bytes], runs: int) -> dict[str, Any]:
    """The venue's floor parse over every frame, best of `runs`."""
    parse = FLOORS[venue]
    best, events = float("inf"), 0
    for _ in range(runs):
        started = time.perf_counter()
        events = sum(len(parse(raw)) for raw in frames)
        best = min(best, time.perf_counter() - started)
    return {"frames": len(frames), "events": events, "seconds": round(best, 4),
            "frames_per_s": round(len(frames) / best)}
