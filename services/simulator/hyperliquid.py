"""Simulated Hyperliquid websocket (/ws), in the shapes of tests/fixtures/hyperliquid/.

The greeting "Websocket connection established." comes first; {"method":"subscribe",
"subscription":{...}} is acked {"channel":"subscriptionResponse","data":{...}}; {"method":"ping"}
answers {"channel":"pong"}; a refusal is {"channel":"error","data":"<why>"}. The user subscriptions
(userFills, userEvents) go to the app's USERS when it has them (hyperliquid_account.py).
"""

from __future__ import annotations

from typing import Any, Protocol

import msgspec
from aiohttp import web

from services.simulator.population import Population
from services.simulator.tape import MINUTE_MS, Tape, text
from services.simulator.venue import Session, Sub

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder()
GREETING = "Websocket connection established."
PONG = '{"channel":"pong"}'
TYPES = {"trades": "trades", "candle": "candles", "activeAssetCtx": "funding", "allMids": "prices"}
USER_TYPES = ("userFills", "userEvents")


class UserStreams(Protocol):
    def subscribe(self, subscription: dict[str, Any], session: Session) -> None:
        """Acknowledge (or refuse) a user subscription of this connection, then push its data."""


USERS = web.AppKey("hyperliquid_users", UserStreams)


def _push(channel: str, data: Any) -> str:
    return _encoder.encode({"channel": channel, "data": data}).decode()


class Hyperliquid:
    name = "hyperliquid"

    def connect(self, request: web.Request, session: Session) -> None:
        session.extra["request"] = request
        session.send(GREETING)

    def receive(self, text_: str, session: Session) -> None:
        try:
            msg = _decoder.decode(text_)
        except msgspec.DecodeError:
            session.send(_push("error", f"Invalid message: {text_[:100]}"))
            return
        method = msg.get("method") if isinstance(msg, dict) else None
        if method == "ping":
            session.send(PONG)
            return
        subscription = msg.get("subscription") if isinstance(msg, dict) else None
        if method != "subscribe" or not isinstance(subscription, dict):
            session.send(_push("error", f"Invalid message: {text_[:100]}"))
            return
        kind, coin = subscription.get("type"), subscription.get("coin", "*")
        if kind in USER_TYPES and USERS in session.extra["request"].app and not session.refusing:
            session.extra["request"].app[USERS].subscribe(subscription, session)
            return
        if (
            session.refusing
            or kind not in TYPES
            or (kind == "candle" and subscription.get("interval") != "1m")
        ):
            session.send(_push("error", f"Invalid subscription {_encoder.encode(subscription).decode()}"))
            return
        session.subscribe(Sub(TYPES[kind], str(coin), _encoder.encode(subscription).decode()))
        session.send(_push("subscriptionResponse", {"method": "subscribe", "subscription": subscription}))

    def tick(self, session: Session, now: float) -> bool:
        return True

    def notice(self, session: Session) -> str | None:
        return None  # no documented notice before a disconnect

    def frame(self, sub: Sub, session: Session) -> tuple[str, int]:
        state = session.state
        if sub.channel == "prices":  # allMids: every simulated coin's mid
            mids = {coin: text(state.tape(coin).price) for coin in state.settings.simulator.symbols}
            return _push("allMids", {"mids": mids}), 0
        tape = state.tape(sub.symbol)
        if sub.channel == "trades":
            traders = state.population() if state.population is not None else None
            return _push("trades", [trade(tape, traders)]), 1
        if sub.channel == "candles":
            return _push("candle", candle(tape)), 0
        return _push("activeAssetCtx", {"coin": tape.symbol, "ctx": asset_ctx(tape)}), 0


def trade(tape: Tape, traders: Population | None = None) -> dict[str, Any]:
    """{"coin":"BTC","side":"B","px":..,"sz":..,"time":..,"hash":"0x..","tid":..,"users":[buyer, seller]}

    With a trader population: its next trade of the coin if one is waiting (the same tid, price and
    size as the two traders' fills), else a tape trade at the population's mark between two of its
    addresses (a trade of traders outside the simulation's bookkeeping)."""
    if traders is not None and tape.symbol in traders.base:
        made = traders.next_trade(tape.symbol)
        if made is not None:
            return made
        tape.price = traders.mark(tape.symbol)
    fill = tape.trade()
    users = traders.pick_users(tape.rng) if traders is not None else [tape.address(), tape.address()]
    return {
        "coin": tape.symbol,
        "side": "B" if fill.buy else "A",
        "px": text(fill.price),
        "sz": text(fill.size, 5),
        "time": fill.ms,
        "hash": "0x" + f"{fill.id:064x}",
        "tid": fill.id,
        "users": users,
    }


def candle(tape: Tape) -> dict[str, Any]:
    bar = tape.current_bar()
    return {
        "t": bar.start_ms,
        "T": bar.start_ms + MINUTE_MS - 1,
        "s": tape.symbol,
        "i": "1m",
        "o": text(bar.open),
        "c": text(bar.close),
        "h": text(bar.high),
        "l": text(bar.low),
        "v": text(bar.volume, 5),
        "n": bar.trades,
    }


def asset_ctx(tape: Tape) -> dict[str, Any]:
    mark, index, rate = tape.mark()
    return {
        "funding": text(rate / 8, 8),
        "openInterest": text(tape.open_interest_now(), 5),
        "prevDayPx": text(tape.price),
        "dayNtlVlm": "1128098483.2000689507",
        "premium": "-0.0002483354",
        "oraclePx": text(index),
        "markPx": text(mark),
        "midPx": text(tape.price),
        "impactPxs": [text(tape.price - 1), text(tape.price + 1)],
        "dayBaseVlm": "17577.61508",
    }
