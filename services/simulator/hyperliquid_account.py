"""Simulated Hyperliquid user side for the account desk's addresses (the user's own accounts, read by
address): the userFills and userEvents subscriptions on the /ws socket, and the info answers
clearinghouseState, openOrders, userFills and userFillsByTime for those addresses, all from the desk's
books (account_desk.py). Other addresses stay the trader population's (hyperliquid_info.py).

Shapes: https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/websocket/subscriptions
(userFills: {isSnapshot: true, user, fills} first, then {user, fills}; userEvents on channel "user":
{fills}) and the info-endpoint pages. Numbers are decimal strings, exact (the desk's books carry
more decimals than the venue's six, and a reconciliation must find them equal); the desk's accounts
are cross margined at 10x and hold USDC.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from aiohttp import web

from services.simulator.account_desk import ACCOUNT_DESK, AccountDesk
from services.simulator.accounts import Change, SimAccount, SimFill, SimOrder
from services.simulator.hyperliquid import USERS, _push
from services.simulator.hyperliquid_info import OWN_ACCOUNTS
from services.simulator.trader import wire
from services.simulator.venue import Session

VENUE = "hyperliquid"
LEVERAGE = 10
ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
RECENT_FILLS = 2000  # userFills: "at most 2000 most recent fills"; its snapshot batch the same
FILLS_PER_PAGE = 2000  # userFillsByTime: "at most 2000 fills per response"
Answer = tuple[Any, int]


def direction(start: Decimal, signed: Decimal) -> str:
    """The fill's dir as the venue words it: Open/Close Long/Short, or a flip "Long > Short"."""
    end = start + signed
    if start and end and (start > 0) != (end > 0):
        return "Long > Short" if start > 0 else "Short > Long"
    if start and abs(end) < abs(start):
        return "Close Long" if start > 0 else "Close Short"
    return "Open Long" if signed > 0 else "Open Short"


def fill_wire(fill: SimFill, start: Decimal, address: str) -> dict[str, Any]:
    signed = fill.size if fill.side == "buy" else -fill.size
    wired: dict[str, Any] = {
        "coin": fill.coin, "px": wire(fill.price), "sz": wire(fill.size),
        "side": "B" if fill.side == "buy" else "A", "time": fill.ts_ms, "startPosition": wire(start),
        "dir": direction(start, signed),
        "closedPnl": wire(fill.realized_pnl), "hash": f"0x{fill.fill_id:064x}", "oid": fill.order_id,
        "crossed": True, "fee": wire(fill.fee), "tid": fill.fill_id, "feeToken": "USDC",
    }
    if fill.closing == "liquidation":
        wired["liquidation"] = {"liquidatedUser": address, "markPx": wire(fill.price), "method": "market"}
    return wired


def history(account: SimAccount) -> Iterator[tuple[SimFill, Decimal]]:
    """Every fill with the position it started from, replayed from the first fill."""
    held: dict[str, Decimal] = {}
    for fill in account.fills:
        start = held.get(fill.coin, Decimal(0))
        held[fill.coin] = start + (fill.size if fill.side == "buy" else -fill.size)
        yield fill, start


def order_wire(order: SimOrder) -> dict[str, Any]:
    return {"coin": order.coin, "side": "B" if order.side == "buy" else "A", "limitPx": wire(order.price),
            "sz": wire(order.size - order.filled), "oid": order.order_id, "timestamp": order.updated_ms,
            "origSz": wire(order.size), "cloid": f"0x{order.order_id:032x}"}


def _usd(value: Decimal) -> str:
    return wire(value)


def clearinghouse_state(account: SimAccount, now_ms: int) -> dict[str, Any]:
    held: list[dict[str, Any]] = []
    value, margin, notional, signed = account.balance, Decimal(0), Decimal(0), Decimal(0)
    for coin, p in sorted(account.positions.items()):
        if not p.size:
            continue
        worth, pnl = abs(p.size) * p.mark_price, (p.mark_price - p.entry_price) * p.size
        value, margin, notional = value + pnl, margin + worth / LEVERAGE, notional + worth
        signed += p.size * p.mark_price
        held.append({"type": "oneWay", "position": {
            "coin": coin, "szi": wire(p.size), "entryPx": wire(p.entry_price), "positionValue": _usd(worth),
            "unrealizedPnl": _usd(pnl), "returnOnEquity": _usd(pnl / (worth / LEVERAGE)),
            "leverage": {"type": "cross", "value": LEVERAGE}, "liquidationPx": None,
            "marginUsed": _usd(worth / LEVERAGE), "maxLeverage": 50,
            "cumFunding": {"allTime": "0.0", "sinceChange": "0.0", "sinceOpen": "0.0"}}})
    summary = {"accountValue": _usd(value), "totalMarginUsed": _usd(margin), "totalNtlPos": _usd(notional),
               "totalRawUsd": _usd(value - signed)}
    return {"assetPositions": held, "crossMaintenanceMarginUsed": _usd(margin / 2),
            "crossMarginSummary": summary, "marginSummary": summary, "time": now_ms,
            "withdrawable": _usd(max(Decimal(0), value - margin))}


class HyperliquidUsers:
    """The desk's addresses on the socket (USERS) and at /info (OWN_ACCOUNTS)."""

    def __init__(self, desk: AccountDesk) -> None:
        self.desk = desk

    def account(self, user: Any) -> SimAccount | None:
        if not isinstance(user, str) or not ADDRESS.fullmatch(user):
            return None
        return self.desk.book.accounts.get((VENUE, user.lower()))

    # --- /info ---

    def answer(self, kind: str, body: dict[str, Any]) -> Answer | None:
        account = self.account(body.get("user"))
        if account is None:
            return None
        now = self.desk.book.clock.ms()
        if kind == "clearinghouseState":
            return clearinghouse_state(account, now), 0
        if kind == "openOrders":
            return [order_wire(o) for o in account.open_orders()], 0
        address = account.key
        if kind == "userFills":
            recent = [fill_wire(f, s, address) for f, s in history(account)][-RECENT_FILLS:][::-1]
            return recent, len(recent)
        if kind == "userFillsByTime":
            start, end = body.get("startTime"), body.get("endTime", now)
            if not isinstance(start, int) or not isinstance(end, int):
                return None  # the population's answer refuses it
            page = [fill_wire(f, s, address) for f, s in history(account) if start <= f.ts_ms <= end]
            return page[:FILLS_PER_PAGE], len(page[:FILLS_PER_PAGE])
        return None

    # --- the socket ---

    def subscribe(self, subscription: dict[str, Any], session: Session) -> None:
        user, kind = subscription.get("user"), str(subscription.get("type"))
        if not isinstance(user, str) or not ADDRESS.fullmatch(user):
            session.send(_push("error", f"Invalid subscription: bad user {str(user)[:60]!r}"))
            return
        session.send(_push("subscriptionResponse", {"method": "subscribe", "subscription": subscription}))
        account, address = self.account(user), user.lower()
        kinds: set[str] = session.extra.setdefault("hyperliquid_users", {}).setdefault(address, set())
        if account is not None and not kinds:
            self._listen(account, address, kinds, session)
        kinds.add(kind)
        if kind == "userFills":  # the snapshot batch: the recent fills (none for an address never seen)
            fills = [fill_wire(f, s, address) for f, s in history(account)] if account is not None else []
            recent = fills[-RECENT_FILLS:]
            session.send(_push("userFills", {"isSnapshot": True, "user": address, "fills": recent}))

    def _listen(self, account: SimAccount, address: str, kinds: set[str], session: Session) -> None:
        ws, request = session.state.open[session]

        def push(change: Change) -> None:
            if session not in session.state.open:
                stop()
                return
            if change.fill is None:
                return
            signed = change.fill.size if change.fill.side == "buy" else -change.fill.size
            wired = fill_wire(change.fill, account.positions[change.fill.coin].size - signed, address)
            if "userFills" in kinds:
                session.send(_push("userFills", {"user": address, "fills": [wired]}))
            if "userEvents" in kinds:
                session.send(_push("user", {"fills": [wired]}))

        def stop(*_: Any) -> None:
            if push in account.listeners:
                account.listeners.remove(push)
            self.desk.closed(VENUE, address, ws.close)

        account.listeners.append(push)
        self.desk.opened(VENUE, address, ws.close)
        request.task.add_done_callback(stop)


def add_hyperliquid_account(app: web.Application) -> HyperliquidUsers:
    """The desk's addresses on the app's /ws (USERS) and /hyperliquid/info (OWN_ACCOUNTS)."""
    users = HyperliquidUsers(app[ACCOUNT_DESK])
    app[USERS] = users
    app[OWN_ACCOUNTS] = users
    return users
