"""Simulated Deribit JSON-RPC 2.0 websocket (/ws/api/v2), in the shapes of tests/fixtures/deribit/.

public/subscribe answers the list of channels subscribed; public/set_heartbeat answers "ok" and
then sends {"method":"heartbeat","params":{"type":"test_request"}} every interval: a client that
has not answered with public/test by the next one is disconnected, as Deribit does. Numbers are
JSON numbers, as Deribit sends them. The simulator accepts intervals from 1 s (Deribit: 10 s).
public/auth and private/* go to the app's PRIVATE side when it has one (deribit_account.py).
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any, Protocol

import msgspec
from aiohttp import web

from services.simulator.history import TradeRing
from services.simulator.tape import Tape
from services.simulator.venue import Session, Sub

_encoder = msgspec.json.Encoder(decimal_format="number")
_decoder = msgspec.json.Decoder()
KINDS = {"trades": "trades", "ticker": "funding", "chart.trades": "candles"}
MIN_HEARTBEAT_S = 1.0
TEST_REQUEST = '{"jsonrpc":"2.0","method":"heartbeat","params":{"type":"test_request"}}'


class PrivateSide(Protocol):
    def receive(self, method: str, params: dict[str, Any], request_id: Any, session: Session) -> None:
        """public/auth or a private/* request of this connection."""


PRIVATE = web.AppKey("deribit_private", PrivateSide)


def kind_of(channel: str) -> tuple[str, str] | None:
    """trades.BTC-PERPETUAL.100ms -> (trades, BTC-PERPETUAL), chart.trades.X.1 -> (candles, X)."""
    parts = channel.rsplit(".", 2)
    if len(parts) != 3 or parts[0] not in KINDS or not parts[1].endswith("PERPETUAL"):
        return None
    return KINDS[parts[0]], parts[1]


def _answer(request_id: Any, result: Any = None, error: dict[str, Any] | None = None) -> str:
    body: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id}
    if error is not None:
        body["error"] = error
    else:
        body["result"] = result
    body.update(usIn=0, usOut=0, usDiff=0, testnet=True)
    return _encoder.encode(body).decode()


class Deribit:
    name = "deribit"

    def connect(self, request: web.Request, session: Session) -> None:
        session.extra.update(heartbeat_s=None, last_beat=0.0, awaiting=False, request=request)

    def receive(self, text_: str, session: Session) -> None:
        try:
            msg = _decoder.decode(text_)
        except msgspec.DecodeError:
            session.send(_answer(None, error={"code": -32700, "message": "Parse error"}))
            return
        if not isinstance(msg, dict):
            session.send(_answer(None, error={"code": -32600, "message": "Invalid Request"}))
            return
        method, params, request_id = msg.get("method"), msg.get("params") or {}, msg.get("id")
        if method == "public/test":
            session.extra["awaiting"] = False
            session.send(_answer(request_id, {"version": "1.2.26"}))
        elif method == "public/set_heartbeat":
            session.extra.update(
                heartbeat_s=max(MIN_HEARTBEAT_S, float(params.get("interval", 10))),
                last_beat=time.monotonic(),
                awaiting=False,
            )
            session.send(_answer(request_id, "ok"))
        elif method == "public/subscribe":
            self._subscribe(params.get("channels") or [], session, request_id)
        elif isinstance(method, str) and (method == "public/auth" or method.startswith("private/")) and \
                PRIVATE in session.extra["request"].app:
            session.extra["request"].app[PRIVATE].receive(method, params, request_id, session)
        else:
            session.send(_answer(request_id, error={"code": -32601, "message": "Method not found"}))

    def _subscribe(self, channels: list[Any], session: Session, request_id: Any) -> None:
        kinds = [kind_of(str(channel)) for channel in channels]
        if session.refusing or not channels or any(k is None for k in kinds):
            session.send(
                _answer(
                    request_id,
                    error={
                        "code": -32602,
                        "message": "Invalid params",
                        "data": {"reason": "invalid channel", "param": "channels"},
                    },
                )
            )
            return
        for channel, kind in zip(channels, kinds, strict=True):
            assert kind is not None
            session.subscribe(Sub(kind[0], kind[1], str(channel)))
        session.send(_answer(request_id, [str(c) for c in channels]))

    def notice(self, session: Session) -> str | None:
        return None  # no documented notice before a disconnect

    def tick(self, session: Session, now: float) -> bool:
        """A test_request every interval; one still unanswered at the next means a dead client."""
        interval = session.extra.get("heartbeat_s")
        if interval is None or now - session.extra["last_beat"] < interval:
            return True
        if session.extra["awaiting"]:
            return False
        session.extra.update(last_beat=now, awaiting=True)
        session.send(TEST_REQUEST)
        return True

    def frame(self, sub: Sub, session: Session) -> tuple[str, int]:
        tape = session.state.tape(sub.symbol)
        if sub.channel == "trades":
            payload = trade(tape)
            record_trade(session.state.history, payload)
            return _notify(sub.key, [payload]), 1
        if sub.channel == "candles":
            return _notify(sub.key, chart(tape)), 0
        return _notify(sub.key, ticker(tape)), 0


def _notify(channel: str, data: Any) -> str:
    return _encoder.encode(
        {"jsonrpc": "2.0", "method": "subscription", "params": {"channel": channel, "data": data}}
    ).decode()


def _usd(tape: Tape, base: Decimal) -> Decimal:
    """Inverse perpetuals are sized in USD, in multiples of 10."""
    return Decimal(max(1, int(base * tape.price / 10)) * 10)


def inverse(tape: Tape) -> bool:
    return "_" not in tape.symbol  # BTC-PERPETUAL is inverse, BTC_USDC-PERPETUAL linear


def trade(tape: Tape) -> dict[str, Any]:
    fill = tape.trade()
    mark, index, _ = tape.mark()
    return {
        "trade_seq": tape.seq,
        "trade_id": str(fill.id),
        "timestamp": fill.ms,
        "tick_direction": 0 if fill.buy else 2,
        "price": fill.price,
        "mark_price": mark,
        "instrument_name": tape.symbol,
        "index_price": index,
        "direction": "buy" if fill.buy else "sell",
        "amount": _usd(tape, fill.size) if inverse(tape) else fill.size,
    }


def record_trade(ring: TradeRing, payload: dict[str, Any]) -> None:
    """The trade as get_last_trades_by_instrument lists it (the notification's keys, numbers as JSON
    numbers whatever encoder answers), by trade_seq."""
    row = {k: msgspec.Raw(str(v).encode()) if isinstance(v, Decimal) else v for k, v in payload.items()}
    ring.record(payload["instrument_name"], payload["trade_seq"], payload["timestamp"], row)


def chart(tape: Tape) -> dict[str, Any]:
    bar = tape.current_bar()
    return {
        "volume": bar.volume,
        "tick": bar.start_ms,
        "open": bar.open,
        "low": bar.low,
        "high": bar.high,
        "cost": _usd(tape, bar.volume) if bar.volume else Decimal(0),
        "close": bar.close,
    }


def ticker(tape: Tape) -> dict[str, Any]:
    mark, index, rate = tape.mark()
    oi = tape.open_interest_now()
    return {
        "timestamp": tape.now_ms(),
        "stats": {"volume_usd": 284061480, "volume": 7871.02139035},
        "state": "open",
        "settlement_price": index,
        "open_interest": _usd(tape, oi) if inverse(tape) else oi,
        "min_price": mark * Decimal("0.98"),
        "max_price": mark * Decimal("1.02"),
        "mark_price": mark,
        "last_price": tape.price,
        "instrument_name": tape.symbol,
        "index_price": index,
        "funding_8h": rate,
        "estimated_delivery_price": index,
        "current_funding": rate,
        "best_bid_price": tape.price,
        "best_bid_amount": 5000,
        "best_ask_price": tape.price + Decimal("0.5"),
        "best_ask_amount": 100,
    }
