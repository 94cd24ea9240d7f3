"""Binance USD-M's private wire formats, rendered from the simulated account books (accounts.py):
the REST answers and the user data stream's frames, shaped as the documentation shows them.

REST: usds-margined-futures/trade/rest-api (Current-All-Open-Orders, Account-Trade-List,
Users-Force-Orders, Position-Information-V3) and account/rest-api (Account-Information-V3,
Get-Income-History). Stream: user-data-streams (Event-Order-Update,
Event-Balance-and-Position-Update, Event-User-Data-Stream-Expired).
https://developers.binance.com/docs/derivatives/usds-margined-futures
"""
from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import msgspec

from services.simulator.accounts import QUOTE, Change, SimAccount, SimFill, SimOrder, SimPosition

STATUS = {"new": "NEW", "partially_filled": "PARTIALLY_FILLED", "filled": "FILLED", "canceled": "CANCELED"}
LEVERAGE = 10  # the scripted accounts' margin is a tenth of the notional (accounts.py)
_json = msgspec.json.Encoder()


def symbol(coin: str) -> str:
    return f"{coin}{QUOTE}"


def coin_of(raw_symbol: str) -> str:
    return raw_symbol.removesuffix(QUOTE)


def _pnl(p: SimPosition) -> Decimal:
    return ((p.mark_price - p.entry_price) * p.size).quantize(Decimal("0.00000001"))


def _margin(p: SimPosition) -> Decimal:
    return (abs(p.size) * p.mark_price / LEVERAGE).quantize(Decimal("0.00000001"))


def _order_kind(order: SimOrder) -> tuple[str, str]:
    """(type, time in force): a liquidation is an IOC LIQUIDATION order, the rest GTC limits."""
    return ("LIQUIDATION", "IOC") if order.closing == "liquidation" else ("LIMIT", "GTC")


def open_order(o: SimOrder) -> dict[str, Any]:
    kind, tif = _order_kind(o)
    return {
        "avgPrice": str(o.avg_price), "clientOrderId": o.client_id, "cumQuote": str(o.avg_price * o.filled),
        "executedQty": str(o.filled), "orderId": o.order_id, "origQty": str(o.size), "origType": kind,
        "price": str(o.price), "reduceOnly": bool(o.closing), "side": o.side.upper(), "positionSide": "BOTH",
        "status": STATUS[o.status], "stopPrice": "0", "closePosition": False, "symbol": symbol(o.coin),
        "time": o.updated_ms, "timeInForce": tif, "type": kind, "updateTime": o.updated_ms,
        "workingType": "CONTRACT_PRICE", "priceProtect": False, "priceMatch": "NONE",
        "selfTradePreventionMode": "NONE", "goodTillDate": 0,
    }


def force_order(o: SimOrder) -> dict[str, Any]:
    keep = ("orderId", "symbol", "status", "clientOrderId", "price", "avgPrice", "origQty", "executedQty",
            "cumQuote", "timeInForce", "type", "reduceOnly", "closePosition", "side", "positionSide",
            "stopPrice", "workingType", "origType", "time", "updateTime")
    answer = open_order(o)
    return {name: answer[name] for name in keep}


def account_info(account: SimAccount, now_ms: int) -> dict[str, Any]:
    """Single-asset mode, USDT only, every position cross."""
    held = [p for p in account.positions.values() if p.size]
    pnl = sum((_pnl(p) for p in held), Decimal(0))
    margin = sum((_margin(p) for p in held), Decimal(0))
    wallet, available = str(account.balance), str(account.balance - margin)
    totals = {
        "totalInitialMargin": str(margin), "totalMaintMargin": str(margin / 2), "totalWalletBalance": wallet,
        "totalUnrealizedProfit": str(pnl), "totalMarginBalance": str(account.balance + pnl),
        "totalPositionInitialMargin": str(margin), "totalOpenOrderInitialMargin": "0",
        "totalCrossWalletBalance": wallet, "totalCrossUnPnl": str(pnl), "availableBalance": available,
        "maxWithdrawAmount": available,
    }
    asset = {
        "asset": QUOTE, "walletBalance": wallet, "unrealizedProfit": str(pnl),
        "marginBalance": str(account.balance + pnl), "maintMargin": str(margin / 2),
        "initialMargin": str(margin), "positionInitialMargin": str(margin), "openOrderInitialMargin": "0",
        "crossWalletBalance": wallet, "crossUnPnl": str(pnl), "availableBalance": available,
        "maxWithdrawAmount": available, "updateTime": now_ms,
    }
    positions = [
        {"symbol": symbol(p.coin), "positionSide": "BOTH", "positionAmt": str(p.size),
         "unrealizedProfit": str(_pnl(p)), "isolatedMargin": "0", "notional": str(p.size * p.mark_price),
         "isolatedWallet": "0", "initialMargin": str(_margin(p)), "maintMargin": str(_margin(p) / 2),
         "updateTime": now_ms}
        for p in held
    ]
    return totals | {"assets": [asset], "positions": positions}


def position_risk(p: SimPosition, now_ms: int) -> dict[str, Any]:
    return {
        "symbol": symbol(p.coin), "positionSide": "BOTH", "positionAmt": str(p.size),
        "entryPrice": str(p.entry_price), "breakEvenPrice": str(p.entry_price),
        "markPrice": str(p.mark_price), "unRealizedProfit": str(_pnl(p)), "liquidationPrice": "0",
        "isolatedMargin": "0", "notional": str(p.size * p.mark_price),
        "marginAsset": QUOTE, "isolatedWallet": "0", "initialMargin": str(_margin(p)),
        "maintMargin": str(_margin(p) / 2), "positionInitialMargin": str(_margin(p)),
        "openOrderInitialMargin": "0", "adl": 0, "bidNotional": "0", "askNotional": "0", "updateTime": now_ms,
    }


def user_trade(f: SimFill) -> dict[str, Any]:
    return {
        "buyer": f.side == "buy", "commission": str(f.fee), "commissionAsset": QUOTE, "id": f.fill_id,
        "maker": False, "orderId": f.order_id, "price": str(f.price), "qty": str(f.size),
        "quoteQty": str(f.price * f.size), "realizedPnl": str(f.realized_pnl), "side": f.side.upper(),
        "positionSide": "BOTH", "symbol": symbol(f.coin), "time": f.ts_ms,
    }


def incomes(f: SimFill) -> list[dict[str, Any]]:
    """A fill's commission (income < 0 is a charge) and, when it closed something, its realized PnL."""
    rows = [("COMMISSION", -f.fee)] + ([("REALIZED_PNL", f.realized_pnl)] if f.realized_pnl else [])
    return [{"symbol": symbol(f.coin), "incomeType": kind, "income": str(amount), "asset": QUOTE,
             "info": kind, "time": f.ts_ms, "tranId": f.fill_id, "tradeId": str(f.fill_id)}
            for kind, amount in rows]


def listen_key_expired(key: str, now_ms: int) -> dict[str, Any]:
    return {"e": "listenKeyExpired", "E": now_ms, "listenKey": key}


def order_update(order: SimOrder, ts_ms: int, fill: SimFill | None) -> dict[str, Any]:
    """ORDER_TRADE_UPDATE: NEW, CANCELED, or a fill (TRADE; CALCULATED for a liquidation)."""
    kind, tif = _order_kind(order)
    execution = {"new": "NEW", "canceled": "CANCELED"}.get(order.status)
    if execution is None:
        execution = "CALCULATED" if order.closing == "liquidation" else "TRADE"
    last = fill or SimFill(0, order.order_id, order.coin, order.side, Decimal(0), Decimal(0), Decimal(0),
                           Decimal(0), order.closing, ts_ms)
    return {"e": "ORDER_TRADE_UPDATE", "E": ts_ms, "T": ts_ms, "o": {
        "s": symbol(order.coin), "c": order.client_id, "S": order.side.upper(), "o": kind, "f": tif,
        "q": str(order.size), "p": str(order.price), "ap": str(order.avg_price), "sp": "0", "x": execution,
        "X": STATUS[order.status], "i": order.order_id, "l": str(last.size), "z": str(order.filled),
        "L": str(last.price), "N": QUOTE, "n": str(last.fee), "T": ts_ms, "t": last.fill_id, "b": "0",
        "a": "0", "m": False, "R": bool(order.closing), "wt": "CONTRACT_PRICE", "ot": kind, "ps": "BOTH",
        "cp": False, "rp": str(last.realized_pnl), "pP": False, "si": 0, "ss": 0, "V": "NONE", "pm": "NONE",
        "gtd": 0,
    }}


def account_update(balance: Decimal, position: SimPosition | None, ts_ms: int) -> dict[str, Any]:
    """ACCOUNT_UPDATE for a fill ("m": "ORDER"): the wallet, and the position it moved. Every
    position is cross, so the cross wallet is the whole wallet."""
    rows = [] if position is None else [{
        "s": symbol(position.coin), "pa": str(position.size), "ep": str(position.entry_price), "cr": "0",
        "up": str(_pnl(position)), "mt": "cross", "iw": "0", "ps": "BOTH", "ma": QUOTE,
        "bep": str(position.entry_price),
    }]
    return {"e": "ACCOUNT_UPDATE", "E": ts_ms, "T": ts_ms, "a": {
        "m": "ORDER", "B": [{"a": QUOTE, "wb": str(balance), "cw": str(balance), "bc": "0"}], "P": rows,
    }}


class Stream:
    """One socket's view of an account: the desk's changes as Binance frames, queued. Binance sends
    an order's fill with the order (one ORDER_TRADE_UPDATE) and a fill's wallet and position
    together (one ACCOUNT_UPDATE): the order waits for its fill, the position for the balance."""

    def __init__(self, events: set[str] | None) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()
        self.events = events  # the url's `events` allow list; None: every event
        self.stopped = False
        self._order: SimOrder | None = None
        self._position: SimPosition | None = None

    def wants(self, event: str) -> bool:
        return self.events is None or event in self.events

    def hear(self, change: Change) -> None:
        if self.stopped:
            return
        for frame in self.frames(change):
            if self.wants(frame["e"]):
                self.queue.put_nowait(_json.encode(frame))

    def frames(self, change: Change) -> list[dict[str, Any]]:
        if change.order is not None:
            if change.order.status in ("new", "canceled"):
                return [order_update(change.order, change.ts_ms, None)]
            self._order = change.order
        elif change.fill is not None and self._order is not None:
            order, self._order = self._order, None
            return [order_update(order, change.ts_ms, change.fill)]
        elif change.position is not None:
            self._position = change.position
        elif change.balance is not None:
            position, self._position = self._position, None
            return [account_update(change.balance[0], position, change.ts_ms)]
        return []
