"""Simulated Binance market streams: USD-M futures on /stream and spot on /spot/stream, in the
combined-stream shape {"stream": name, "data": payload} (tests/fixtures/binance*/).

Subscriptions come from the url (?streams=a/b) or a live SUBSCRIBE, acked {"result":null,"id":n}.
The real server pings and the client pongs (the receivers' aiohttp client does): nothing to emulate
beyond answering protocol pings, which aiohttp does while the connection is read.
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import msgspec
from aiohttp import web

from services.simulator.history import TradeRing
from services.simulator.tape import MINUTE_MS, Tape, text
from services.simulator.venue import Session, Sub

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder()
FUTURES_CHANNELS = {
    "aggTrade": "trades",
    "kline_1m": "candles",
    "markPrice@1s": "funding",
    "markPrice": "funding",
    "forceOrder": "liquidations",
}
SPOT_CHANNELS = {"trade": "trades"}
ALL_MARKET = {"!markPrice@arr@1s": "funding", "!markPrice@arr": "funding", "!forceOrder@arr": "liquidations"}
FUNDING_PERIOD_MS = 8 * 3600 * 1000


def _error(request_id: object, message: str) -> str:
    """Binance's refusal of a request ("Error Messages" of the websocket-market-streams page)."""
    return _encoder.encode(
        {"error": {"code": 2, "msg": f"Invalid request: {message}"}, "id": request_id}
    ).decode()


class Binance:
    """One venue object per market: "binance" (USD-M futures) or "binance_spot"."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.channels = SPOT_CHANNELS if name == "binance_spot" else FUTURES_CHANNELS

    def sub_of(self, stream: str) -> Sub | None:
        if self.name == "binance" and stream in ALL_MARKET:
            return Sub(ALL_MARKET[stream], "*", stream)
        symbol, _, suffix = stream.partition("@")
        channel = self.channels.get(suffix)
        return Sub(channel, symbol.upper(), stream) if channel and symbol else None

    def _subscribe(self, streams: list[str], session: Session, request_id: object) -> bool:
        if session.refusing:
            session.send(_error(request_id, "subscriptions refused (suberror)"))
            return False
        subs = [sub for sub in map(self.sub_of, streams) if sub is not None]
        if len(subs) < len(streams):
            session.send(_error(request_id, f"unknown stream in {streams}"))
            return False
        for sub in subs:
            session.subscribe(sub)
        return True

    def connect(self, request: web.Request, session: Session) -> None:
        streams = [s for s in request.query.get("streams", "").split("/") if s]
        if streams:
            self._subscribe(streams, session, None)

    def receive(self, text_: str, session: Session) -> None:
        try:
            msg = _decoder.decode(text_)
        except msgspec.DecodeError:
            session.send(_encoder.encode({"error": {"code": 3, "msg": "Invalid JSON"}, "id": None}).decode())
            return
        if (
            not isinstance(msg, dict)
            or msg.get("method") != "SUBSCRIBE"
            or not isinstance(msg.get("params"), list)
        ):
            session.send(_error(msg.get("id") if isinstance(msg, dict) else None, "unsupported method"))
            return
        if self._subscribe([str(p) for p in msg["params"]], session, msg.get("id")):
            session.send(_encoder.encode({"result": None, "id": msg.get("id")}).decode())

    def tick(self, session: Session, now: float) -> bool:
        return True

    def notice(self, session: Session) -> str | None:
        """Combined streams wrap it as "!serverShutdown" (spot General-WSS-information page)."""
        return _wrap("!serverShutdown", {"e": "serverShutdown", "E": int(time.time() * 1000)})

    def frame(self, sub: Sub, session: Session) -> tuple[str, int]:
        state = session.state
        if sub.symbol == "*":  # all-market streams cover the simulator's symbols
            symbols = state.settings.simulator.symbols
            if sub.channel == "funding":
                data: Any = [mark_price(state.tape(s)) for s in symbols]
            else:
                data = force_order(state.tape(symbols[sub.sent % len(symbols)]))
            return _wrap(sub.key, data), 0
        tape = state.tape(sub.symbol)
        if sub.channel == "trades":
            payload = spot_trade(tape) if self.name == "binance_spot" else agg_trade(tape)
            record_trade(state.history, payload)
            return _wrap(sub.key, payload), 1
        if sub.channel == "candles":
            return _wrap(sub.key, kline(tape)), 0
        if sub.channel == "funding":
            return _wrap(sub.key, mark_price(tape)), 0
        return _wrap(sub.key, force_order(tape)), 0


def _wrap(stream: str, data: Any) -> str:
    return _encoder.encode({"stream": stream, "data": data}).decode()


def agg_trade(tape: Tape) -> dict[str, Any]:
    """{"e":"aggTrade","E":..,"s":"BTCUSDT","a":..,"p":"..","q":"..","f":..,"l":..,"T":..,"m":true}"""
    fill = tape.trade()
    first = tape.first_id - fill.fills
    return {
        "e": "aggTrade",
        "E": fill.ms + 3,
        "s": tape.symbol,
        "a": fill.id,
        "p": text(fill.price),
        "q": text(fill.size, 3),
        "f": first,
        "l": first + fill.fills - 1,
        "T": fill.ms,
        "m": not fill.buy,
    }


def spot_trade(tape: Tape) -> dict[str, Any]:
    """{"e":"trade","E":..,"s":"BNBBTC","t":12345,"p":"0.001","q":"100","T":..,"m":true,"M":true}"""
    fill = tape.trade()
    return {
        "e": "trade",
        "E": fill.ms + 1,
        "s": tape.symbol,
        "t": fill.id,
        "p": text(fill.price),
        "q": text(fill.size, 3),
        "T": fill.ms,
        "m": not fill.buy,
        "M": True,
    }


def record_trade(ring: TradeRing, payload: dict[str, Any]) -> None:
    """The trade in the venue's REST history, in its REST row shape (services/simulator/history.py):
    aggTrades {"a","p","q","f","l","T","m"}; spot historicalTrades {"id","price","qty","quoteQty",
    "time","isBuyerMaker","isBestMatch"}."""
    if payload["e"] == "aggTrade":
        row = {k: payload[k] for k in ("a", "p", "q", "f", "l", "T", "m")}
        ring.record(payload["s"], payload["a"], payload["T"], row)
        return
    quote = text(Decimal(payload["p"]) * Decimal(payload["q"]), 4)
    row = {"id": payload["t"], "price": payload["p"], "qty": payload["q"], "quoteQty": quote,
           "time": payload["T"], "isBuyerMaker": payload["m"], "isBestMatch": True}
    ring.record(payload["s"], payload["t"], payload["T"], row)


def kline(tape: Tape) -> dict[str, Any]:
    """The open 1m bar: {"e":"kline","E":..,"s":..,"k":{"t":..,"T":..,"i":"1m","o":..,"x":false,...}}"""
    bar = tape.current_bar()
    quote = bar.volume * bar.close
    k = {
        "t": bar.start_ms,
        "T": bar.start_ms + MINUTE_MS - 1,
        "s": tape.symbol,
        "i": "1m",
        "f": tape.first_id,
        "L": tape.first_id + bar.trades,
        "o": text(bar.open),
        "c": text(bar.close),
        "h": text(bar.high),
        "l": text(bar.low),
        "v": text(bar.volume, 3),
        "n": bar.trades,
        "x": False,
        "q": text(quote, 4),
        "V": text(bar.buy_volume, 3),
        "Q": text(bar.buy_volume * bar.close, 4),
        "B": "0",
    }
    return {"e": "kline", "E": tape.time_ms, "s": tape.symbol, "k": k}


def mark_price(tape: Tape) -> dict[str, Any]:
    """{"e":"markPriceUpdate","E":..,"s":..,"p":mark,"i":index,"P":settle,"r":rate,"T":next funding}"""
    mark, index, rate = tape.mark()
    now = tape.now_ms()
    return {
        "e": "markPriceUpdate",
        "E": now,
        "s": tape.symbol,
        "p": text(mark, 8),
        "i": text(index, 8),
        "P": text(index, 8),
        "r": text(rate, 8),
        "T": now - now % FUNDING_PERIOD_MS + FUNDING_PERIOD_MS,
    }


def force_order(tape: Tape) -> dict[str, Any]:
    """{"e":"forceOrder","E":..,"o":{"s":..,"S":"SELL","o":"LIMIT","f":"IOC","q":..,"p":..,"ap":..,...}}"""
    liq = tape.liquidation()
    size = text(liq.size, 3)
    return {
        "e": "forceOrder",
        "E": liq.ms,
        "o": {
            "s": tape.symbol,
            "S": "BUY" if liq.buy else "SELL",
            "o": "LIMIT",
            "f": "IOC",
            "q": size,
            "p": text(liq.price),
            "ap": text(liq.price),
            "X": "FILLED",
            "l": size,
            "z": size,
            "T": liq.ms,
        },
    }
