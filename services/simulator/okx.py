"""Simulated OKX v5 public websockets: /ws/v5/public (trades, funding-rate, open-interest,
liquidation-orders) and /ws/v5/business (candles), in the shapes of tests/fixtures/okx/.

{"op":"subscribe","args":[...]} is acked once per arg {"event":"subscribe","arg":{...},"connId":..};
a refusal is {"event":"error","code":"60012","msg":"Invalid request: ...","connId":..};
the text "ping" is answered with the text "pong". Swap sizes are in contracts of CT_VAL.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec
from aiohttp import web

from services.simulator.history import TradeRing
from services.simulator.tape import Tape, text
from services.simulator.venue import Session, Sub

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder()
PUBLIC = {
    "trades": "trades",
    "funding-rate": "funding",
    "open-interest": "funding",
    "liquidation-orders": "liquidations",
}
BUSINESS = {"candle1m": "candles"}
CT_VAL = {"BTC": Decimal("0.01"), "ETH": Decimal("0.1")}  # as okx.CT_VAL; other bases: 1 coin per contract
FUNDING_PERIOD_MS = 8 * 3600 * 1000


def contracts(inst_id: str, size: Decimal) -> str:
    """A base-unit size as whole contracts of the instrument (spot keeps base units)."""
    if not inst_id.endswith("-SWAP"):
        return text(size, 6)
    return str(max(1, int(size / CT_VAL.get(inst_id.split("-")[0], Decimal(1)))))


class Okx:
    """The whole venue: which endpoint a connection came to decides its channels."""

    name = "okx"

    def connect(self, request: web.Request, session: Session) -> None:
        session.extra["channels"] = BUSINESS if request.path.endswith("/business") else PUBLIC

    def _error(self, session: Session, message: str, msg_id: str | None) -> None:
        body: dict[str, Any] = {
            "event": "error",
            "code": "60012",
            "msg": f"Invalid request: {message}",
            "connId": session.conn_id,
        }
        if msg_id is not None:
            body = {"id": msg_id, **body}
        session.send(_encoder.encode(body).decode())

    def receive(self, text_: str, session: Session) -> None:
        if text_ == "ping":
            session.send("pong")
            return
        try:
            msg = _decoder.decode(text_)
        except msgspec.DecodeError:
            self._error(session, text_[:200], None)
            return
        if not isinstance(msg, dict) or msg.get("op") != "subscribe" or not isinstance(msg.get("args"), list):
            self._error(session, text_[:200], None)
            return
        msg_id = msg.get("id")
        channels = session.extra["channels"]
        args = [arg for arg in msg["args"] if isinstance(arg, dict)]
        if (
            session.refusing
            or len(args) != len(msg["args"])
            or any(a.get("channel") not in channels for a in args)
        ):
            self._error(session, text_[:200], msg_id)
            return
        for arg in args:
            symbol = str(arg.get("instId") or arg.get("instType", ""))
            session.subscribe(
                Sub(
                    channels[arg["channel"]],
                    symbol,
                    _encoder.encode(arg).decode(),
                    extra={str(k): str(v) for k, v in arg.items()},
                )
            )
            ack: dict[str, Any] = {"event": "subscribe", "arg": arg, "connId": session.conn_id}
            session.send(_encoder.encode({"id": msg_id, **ack} if msg_id else ack).decode())

    def tick(self, session: Session, now: float) -> bool:
        return True

    def notice(self, session: Session) -> str | None:
        """Sent 30 s before a service upgrade closes the connection (overview, "Notification")."""
        msg = "The connection will soon be closed for a service upgrade. Please reconnect."
        notice = {"event": "notice", "code": "64008", "msg": msg, "connId": session.conn_id}
        return _encoder.encode(notice).decode()

    def frame(self, sub: Sub, session: Session) -> tuple[str, int]:
        arg = sub.extra
        if arg["channel"] == "liquidation-orders":
            swaps = sorted({s.symbol for s in session.subs.values() if s.symbol.endswith("-SWAP")}) or [
                "BTC-USDT-SWAP"
            ]
            inst_id = swaps[sub.sent % len(swaps)]
            return _push(arg, [liquidation(session.state.tape(inst_id), inst_id)]), 0
        tape = session.state.tape(sub.symbol)
        if arg["channel"] == "trades":
            payload = trade(tape)
            record_trade(session.state.history, payload)
            return _push(arg, [payload]), 1
        if arg["channel"] == "candle1m":
            return _push(arg, [candle(tape)]), 0
        if arg["channel"] == "funding-rate":
            return _push(arg, [funding_rate(tape)]), 0
        return _push(arg, [open_interest(tape)]), 0


def _push(arg: dict[str, str], data: list[Any]) -> str:
    return _encoder.encode({"arg": arg, "data": data}).decode()


def trade(tape: Tape) -> dict[str, Any]:
    """{"instId":..,"tradeId":"130639474","px":"42219.9","sz":"0.12060306","side":"buy","ts":"..","count":"3"}"""
    fill = tape.trade()
    return {
        "instId": tape.symbol,
        "tradeId": str(fill.id),
        "px": text(fill.price),
        "sz": contracts(tape.symbol, fill.size),
        "side": "buy" if fill.buy else "sell",
        "ts": str(fill.ms),
        "count": str(fill.fills),
        "source": "0",
        "seqId": tape.seq,
    }


def record_trade(ring: TradeRing, payload: dict[str, Any]) -> None:
    """The trade in history-trades' row shape: {"instId","side","sz","px","tradeId","ts"}."""
    row = {k: payload[k] for k in ("instId", "side", "sz", "px", "tradeId", "ts")}
    ring.record(payload["instId"], int(payload["tradeId"]), int(payload["ts"]), row)


def candle(tape: Tape) -> list[str]:
    """[ts, o, h, l, c, vol, volCcy, volCcyQuote, confirm]: vol in contracts on swaps, volCcy in base."""
    bar = tape.current_bar()
    swap = tape.symbol.endswith("-SWAP")
    vol = contracts(tape.symbol, bar.volume) if swap and bar.volume else text(bar.volume, 6)
    base, quote = (text(bar.volume, 6), text(bar.volume * bar.close, 4))
    return [
        str(bar.start_ms),
        text(bar.open),
        text(bar.high),
        text(bar.low),
        text(bar.close),
        vol,
        base if swap else quote,
        quote,
        "0",
    ]


def funding_rate(tape: Tape) -> dict[str, Any]:
    _, _, rate = tape.mark()
    now = tape.now_ms()
    funding_time = now - now % FUNDING_PERIOD_MS + FUNDING_PERIOD_MS
    return {
        "formulaType": "noRate",
        "fundingRate": text(rate, 10),
        "fundingTime": str(funding_time),
        "impactValue": "",
        "instId": tape.symbol,
        "instType": "SWAP",
        "interestRate": "",
        "method": "current_period",
        "maxFundingRate": "0.00375",
        "minFundingRate": "-0.00375",
        "nextFundingRate": "",
        "nextFundingTime": str(funding_time + FUNDING_PERIOD_MS),
        "premium": "0.0001",
        "settFundingRate": "0.0001",
        "settState": "settled",
        "ts": str(now),
    }


def open_interest(tape: Tape) -> dict[str, Any]:
    oi_base = tape.open_interest_now()
    return {
        "instId": tape.symbol,
        "instType": "SWAP",
        "oi": contracts(tape.symbol, oi_base),
        "oiCcy": text(oi_base, 4),
        "oiUsd": text(oi_base * tape.price, 2),
        "ts": str(tape.now_ms()),
    }


def liquidation(tape: Tape, inst_id: str) -> dict[str, Any]:
    liq = tape.liquidation()
    family = inst_id.removesuffix("-SWAP")
    return {
        "details": [
            {
                "bkLoss": "0",
                "bkPx": text(liq.price),
                "ccy": "",
                "posSide": "short" if liq.buy else "long",
                "side": "buy" if liq.buy else "sell",
                "sz": contracts(inst_id, liq.size),
                "ts": str(liq.ms),
            }
        ],
        "instFamily": family,
        "instId": inst_id,
        "instType": "SWAP",
        "uly": family,
    }
