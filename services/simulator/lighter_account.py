"""Simulated Lighter account side, answering from the account desk's books (account_desk.py): an
account is the desk's `book.account("lighter", str(index))`, made on first use.

  GET  /lighter/api/v1/account?by=index|l1_address&value=…   {code, total, accounts: [DetailedAccount]}
       (https://apidocs.lighter.xyz/reference/account-1); an unknown `by` or a bad value is HTTP 400
       {"code":21100,"message":"account not found"}
  /lighter/stream   {"type":"connected"} first; {"type":"subscribe","channel":"account_all/N"} ->
       subscribed/account_all (the whole account), then update/account_all with each position that
       moves, on channel "account_all:N"; {"type":"ping"} -> {"type":"pong"}
       (https://apidocs.lighter.xyz/docs/websocket-reference)
  POST /control/lighter?index=N&near_liquidation=COIN[&pct=P]   moves COIN's mark to P percent (1 by
       default) from its liquidation price, as a market moving against the position would

An L1 address's account is the index its last 8 hex digits spell. Every position is cross margined at
10x with a 1% maintenance margin: its liquidation price is 9% below its entry (long) or above (short).
Numbers are decimal strings, exact; the spot wallet holds a fixed 0.5 ETH beside the USDC collateral.
"""
from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import msgspec
from aiohttp import web

from services.simulator.account_desk import ACCOUNT_DESK, AccountDesk
from services.simulator.accounts import Change, SimAccount, SimPosition
from services.simulator.private_socket import PrivateSocket, serve_private
from services.simulator.trader import wire

VENUE = "lighter"
ACCOUNT_PATH = "/lighter/api/v1/account"
STREAM_PATH = "/lighter/stream"
MARKETS = {"ETH": 0, "BTC": 1}  # Lighter's market ids
COLLATERAL_ID = 3  # USDC's asset id
SPOT = {"ETH": (1, Decimal("0.5"))}  # the fixed spot wallet: symbol -> (asset id, balance)
LEVERAGE = Decimal(10)
LIQUIDATION_GAP = Decimal("0.09")  # 1/leverage - the 1% maintenance margin
INDEX = re.compile(r"[0-9]{1,18}")
ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
NOT_FOUND = {"code": 21100, "message": "account not found"}
_encoder = msgspec.json.Encoder()


def liquidation_price(p: SimPosition) -> Decimal:
    """0 for a flat position (the venue's "none")."""
    if not p.size:
        return Decimal(0)
    return p.entry_price * (1 - LIQUIDATION_GAP if p.size > 0 else 1 + LIQUIDATION_GAP)


def realized(account: SimAccount, coin: str) -> Decimal:
    return sum((f.realized_pnl for f in account.fills if f.coin == coin), Decimal(0))


def position_wire(account: SimAccount, p: SimPosition) -> dict[str, Any]:
    """A Position JSON of the websocket reference."""
    size = abs(p.size)
    return {
        "market_id": MARKETS.get(p.coin, 99), "symbol": p.coin, "initial_margin_fraction": "10.00",
        "open_order_count": 0, "pending_order_count": 0, "position_tied_order_count": 0,
        "sign": -1 if p.size < 0 else 1, "position": wire(size), "avg_entry_price": wire(p.entry_price),
        "position_value": wire(size * p.mark_price),
        "unrealized_pnl": wire((p.mark_price - p.entry_price) * p.size),
        "realized_pnl": wire(realized(account, p.coin)), "liquidation_price": wire(liquidation_price(p)),
        "total_funding_paid_out": "0.0", "margin_mode": 0, "allocated_margin": "0.0",
    }


def asset_wires(account: SimAccount) -> list[dict[str, Any]]:
    usdc = {"symbol": "USDC", "asset_id": COLLATERAL_ID, "balance": wire(account.balance),
            "locked_balance": "0.0", "margin_balance": wire(account.balance), "margin_mode": "enabled"}
    spot = [{"symbol": coin, "asset_id": asset_id, "balance": wire(balance), "locked_balance": "0.0",
             "margin_balance": "0.0", "margin_mode": "disabled"}
            for coin, (asset_id, balance) in SPOT.items()]
    return [usdc, *spot]


def available(account: SimAccount) -> Decimal:
    """Collateral plus unrealized PnL minus the initial margin, never below 0."""
    pnl = sum(((p.mark_price - p.entry_price) * p.size for p in account.positions.values()), Decimal(0))
    margin = sum((abs(p.size) * p.mark_price / LEVERAGE for p in account.positions.values()), Decimal(0))
    return max(Decimal(0), account.balance + pnl - margin)


def address_of(index: int) -> str:
    return "0x" + "0" * 32 + format(index, "08x")


def detailed_account(account: SimAccount, index: int, address: str) -> dict[str, Any]:
    """The DetailedAccount of the account endpoint (the fields tradehub reads, and their neighbours)."""
    positions = [position_wire(account, p) for _, p in sorted(account.positions.items())]
    return {
        "code": 0, "account_type": 0, "index": index, "l1_address": address, "cancel_all_time": 0,
        "total_order_count": len(account.orders), "total_isolated_order_count": 0,
        "pending_order_count": len(account.open_orders()), "available_balance": wire(available(account)),
        "status": 1, "collateral": wire(account.balance), "account_index": index, "name": "",
        "description": "",
        "can_invite": True, "referral_points_percentage": "", "positions": positions,
        "assets": asset_wires(account), "total_asset_value": wire(account.balance), "shares": [],
    }


def index_of(by: str, value: str) -> int | None:
    if by == "index" and INDEX.fullmatch(value):
        return int(value)
    if by == "l1_address" and ADDRESS.fullmatch(value):
        return int(value[-8:], 16)
    return None


async def account_answer(request: web.Request) -> web.Response:
    """GET /lighter/api/v1/account?by=&value="""
    by, value = request.query.get("by", ""), request.query.get("value", "")
    index = index_of(by, value)
    if index is None:
        return web.json_response(NOT_FOUND, status=400)
    account = request.app[ACCOUNT_DESK].book.account(VENUE, str(index))
    address = value if by == "l1_address" else address_of(index)
    whole = detailed_account(account, index, address)
    return web.json_response({"code": 200, "total": 1, "accounts": [whole]})


def account_all(account: SimAccount, index: int, kind: str, changed: list[SimPosition] | None = None) -> str:
    """A subscribed/ (every position, the assets) or update/ (the changed positions) account_all frame."""
    held = list(account.positions.values()) if changed is None else changed
    frame: dict[str, Any] = {
        "type": f"{kind}/account_all", "channel": f"account_all:{index}", "account": index,
        "positions": {str(MARKETS.get(p.coin, 99)): position_wire(account, p) for p in held},
        "trades": {}, "funding_histories": {}, "shares": [],
    }
    if changed is None:
        frame["assets"] = {str(a["asset_id"]): a for a in asset_wires(account)}
    return _encoder.encode(frame).decode()


class Session:
    """One client's /lighter/stream socket."""

    def __init__(self, socket: PrivateSocket) -> None:
        self.socket = socket
        socket.send('{"type":"connected","session_id":"' + socket.conn_id + '"}')

    def receive(self, text: str) -> None:
        try:
            message = msgspec.json.decode(text)
            kind, channel = str(message.get("type", "")), str(message.get("channel", ""))
        except (msgspec.DecodeError, AttributeError):
            self.socket.send('{"error":{"code":30003,"message":"Invalid JSON"}}')
            return
        if kind == "ping":
            self.socket.send('{"type":"pong"}')
        elif kind == "subscribe" and channel.startswith("account_all/") and INDEX.fullmatch(channel[12:]):
            self.subscribe(int(channel[12:]))
        elif kind != "pong":
            self.socket.send('{"error":{"code":30005,"message":"Invalid Channel"}}')

    def subscribe(self, index: int) -> None:
        def render(change: Change) -> list[str]:
            if change.kind != "position" or change.position is None:
                return []
            return [account_all(account, index, "update", [change.position])]

        account = self.socket.attach(str(index), render)
        self.socket.send(account_all(account, index, "subscribed"))


async def stream(request: web.Request) -> web.WebSocketResponse:
    return await serve_private(request, VENUE, lambda socket: Session(socket).receive)


def near_liquidation(account: SimAccount, coin: str, now_ms: int, pct: Decimal = Decimal(1)) -> SimPosition:
    """Move the position's mark to `pct` percent from its liquidation price (the price went against
    it) and tell the account's sockets; KeyError when the account holds no such position."""
    held = account.positions[coin]
    if not held.size:
        raise KeyError(coin)
    liquidation = liquidation_price(held)
    mark = liquidation * (1 + pct / 100 if held.size > 0 else 1 - pct / 100)
    moved = SimPosition(coin, held.size, held.entry_price, mark.quantize(Decimal("0.01")))
    account.positions[coin] = moved
    for listener in list(account.listeners):
        listener(Change("position", now_ms, position=moved))
    return moved


async def control(request: web.Request) -> web.Response:
    """POST /control/lighter?index=N&near_liquidation=COIN[&pct=P]"""
    desk: AccountDesk = request.app[ACCOUNT_DESK]
    index, coin = request.query.get("index", ""), request.query.get("near_liquidation", "")
    account = desk.book.accounts.get((VENUE, index))
    try:
        pct = Decimal(request.query.get("pct", "1"))
        if account is None or not pct.is_finite() or not 0 < pct < 9:
            raise ValueError("need a known index and 0 < pct < 9")
        moved = near_liquidation(account, coin, desk.book.clock.ms(), pct)
    except (ArithmeticError, ValueError, KeyError) as exc:
        return web.json_response({"error": f"cannot move {coin!r} of account {index!r}: {exc!r}"}, status=400)
    return web.json_response({"coin": coin, "size": wire(moved.size), "mark": wire(moved.mark_price),
                              "liquidation_price": wire(liquidation_price(moved))})


def add_lighter_account(app: web.Application) -> None:
    """Lighter's account endpoint, its account_all socket and the control that moves a position near
    its liquidation price, answering from app[ACCOUNT_DESK]."""
    app.router.add_get(ACCOUNT_PATH, account_answer)
    app.router.add_get(STREAM_PATH, stream)
    app.router.add_post("/control/lighter", control)
