"""Simulated Bybit v5 public websockets: /v5/public/linear ("bybit") and /v5/public/spot
("bybit_spot"), in the shapes of tests/fixtures/bybit/.

{"op":"subscribe","args":[topics]} is acked {"success":true,"ret_msg":"","op":"subscribe",...};
{"op":"ping"} answers {"success":true,"ret_msg":"pong","op":"ping",...}; a refused topic is
{"success":false,"ret_msg":"error:...","op":"subscribe"} (docs/v5/ws/connect).
"""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web

from services.simulator.history import TradeRing
from services.simulator.tape import MINUTE_MS, Tape, text
from services.simulator.venue import Session, Sub

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder()
TOPICS = {
    "publicTrade": "trades",
    "kline.1": "candles",
    "tickers": "funding",
    "allLiquidation": "liquidations",
}
FUNDING_PERIOD_MS = 8 * 3600 * 1000


class Bybit:
    """ "bybit" (category linear) or "bybit_spot"; spot has no allLiquidation and plain tickers."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.spot = name == "bybit_spot"

    def sub_of(self, topic: str) -> Sub | None:
        prefix, _, symbol = topic.rpartition(".")
        channel = TOPICS.get(prefix)
        if channel is None or not symbol or (self.spot and channel == "liquidations"):
            return None
        return Sub("prices" if self.spot and channel == "funding" else channel, symbol, topic)

    def _reply(self, session: Session, op: str, success: bool, message: str, req_id: str) -> None:
        body: dict[str, Any] = {"success": success, "ret_msg": message, "conn_id": session.conn_id}
        if not (self.spot and op == "ping"):  # the spot pong has no req_id (fixtures pong_spot/pong_linear)
            body["req_id"] = req_id
        body["op"] = op
        session.send(_encoder.encode(body).decode())

    def connect(self, request: web.Request, session: Session) -> None:
        return None

    def receive(self, text_: str, session: Session) -> None:
        try:
            msg = _decoder.decode(text_)
        except msgspec.DecodeError:
            self._reply(session, "", False, "error:unparsable request", "")
            return
        if not isinstance(msg, dict):
            self._reply(session, "", False, "error:unparsable request", "")
            return
        op, req_id = msg.get("op"), str(msg.get("req_id", ""))
        if op == "ping":
            self._reply(session, "ping", True, "pong", req_id)
        elif op == "subscribe" and isinstance(msg.get("args"), list):
            topics = [str(arg) for arg in msg["args"]]
            subs = [sub for sub in map(self.sub_of, topics) if sub is not None]
            if session.refusing or len(subs) < len(topics):
                self._reply(
                    session, "subscribe", False, f"error:handler not found,topics:{','.join(topics)}", req_id
                )
                return
            for sub in subs:
                session.subscribe(sub)
            self._reply(session, "subscribe", True, "", req_id)
        else:
            self._reply(session, str(op), False, f"error:unsupported op {op!r}", req_id)

    def tick(self, session: Session, now: float) -> bool:
        return True

    def notice(self, session: Session) -> str | None:
        return None  # no documented notice before a disconnect

    def frame(self, sub: Sub, session: Session) -> tuple[str, int]:
        tape = session.state.tape(sub.symbol)
        if sub.channel == "trades":
            payload = public_trade(tape)
            record_trade(session.state.history, payload)
            return self._push(sub, tape, [payload]), 1
        if sub.channel == "candles":
            return self._push(sub, tape, [kline(tape)]), 0
        if sub.channel == "liquidations":
            liq = tape.liquidation()  # S is the POSITION side: a sell order closes a long, sent as "Buy"
            return self._push(
                sub,
                tape,
                [
                    {
                        "T": liq.ms,
                        "s": tape.symbol,
                        "S": "Sell" if liq.buy else "Buy",
                        "v": text(liq.size, 3),
                        "p": text(liq.price),
                    }
                ],
            ), 0
        return self._push(sub, tape, spot_ticker(tape) if self.spot else linear_ticker(tape), cs=tape.seq), 0

    @staticmethod
    def _push(sub: Sub, tape: Tape, data: Any, cs: int | None = None) -> str:
        body: dict[str, Any] = {"topic": sub.key, "type": "snapshot", "ts": tape.now_ms(), "data": data}
        if cs is not None:
            body["cs"] = cs
        return _encoder.encode(body).decode()


def public_trade(tape: Tape) -> dict[str, Any]:
    """{"T":..,"s":"BTCUSDT","S":"Buy","v":"0.001","p":"16578.50","L":"PlusTick","i":"<uuid>","BT":false}"""
    fill = tape.trade()
    trade_id = f"{fill.id:08x}-{tape.seq % 65536:04x}-5b31-9112-{fill.id:012x}"
    return {
        "T": fill.ms,
        "s": tape.symbol,
        "S": "Buy" if fill.buy else "Sell",
        "v": text(fill.size, 3),
        "p": text(fill.price, 2),
        "L": "PlusTick" if fill.buy else "MinusTick",
        "i": trade_id,
        "BT": False,
        "seq": tape.seq,
    }


def record_trade(ring: TradeRing, payload: dict[str, Any]) -> None:
    """The trade in recent-trade's row shape, by its matching seq (one per simulated trade)."""
    row = {"execId": payload["i"], "symbol": payload["s"], "price": payload["p"], "size": payload["v"],
           "side": payload["S"], "time": str(payload["T"]), "isBlockTrade": payload["BT"]}
    ring.record(payload["s"], payload["seq"], payload["T"], row)


def kline(tape: Tape) -> dict[str, Any]:
    bar = tape.current_bar()
    return {
        "start": bar.start_ms,
        "end": bar.start_ms + MINUTE_MS - 1,
        "interval": "1",
        "open": text(bar.open),
        "close": text(bar.close),
        "high": text(bar.high),
        "low": text(bar.low),
        "volume": text(bar.volume, 3),
        "turnover": text(bar.volume * bar.close, 4),
        "confirm": False,
        "timestamp": tape.time_ms,
    }


def linear_ticker(tape: Tape) -> dict[str, Any]:
    """A full snapshot each time (a real feed sends deltas after the first; both parse the same)."""
    mark, index, rate = tape.mark()
    oi = tape.open_interest_now()
    now = tape.time_ms
    return {
        "symbol": tape.symbol,
        "tickDirection": "PlusTick",
        "lastPrice": text(tape.price, 2),
        "markPrice": text(mark, 2),
        "indexPrice": text(index, 2),
        "openInterest": text(oi, 3),
        "openInterestValue": text(oi * mark, 2),
        "nextFundingTime": str(now - now % FUNDING_PERIOD_MS + FUNDING_PERIOD_MS),
        "fundingRate": text(rate, 6),
        "bid1Price": text(tape.price, 2),
        "ask1Price": text(tape.price + 1, 2),
    }


def spot_ticker(tape: Tape) -> dict[str, Any]:
    return {
        "symbol": tape.symbol,
        "lastPrice": text(tape.price, 2),
        "highPrice24h": text(tape.price + 100, 2),
        "lowPrice24h": text(max(tape.price - 100, tape.price / 2), 2),
        "prevPrice24h": text(tape.price, 2),
        "volume24h": "6780.866843",
        "turnover24h": "141946527.22907118",
        "price24hPcnt": "0.0196",
    }
