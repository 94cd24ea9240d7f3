"""Scripted accounts of the simulated venues: each step moves one order along NEW ->
PARTIALLY_FILLED -> FILLED or CANCELED, and every fill moves the account's position and balance.
Venue-neutral: each venue's part (binance_account.py, ...) renders the changes in its own wire
format, pushes them to the account's private sockets and answers its signed REST from the same
books, so a fill made while a socket was cut is still there for the REST snapshot.

Money is Decimal; times are milliseconds (venue time, SimClock).
"""
from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal

from services.simulator.clock import SimClock
from services.simulator.market import PricePath

QUOTE = "USDT"
START_BALANCE = Decimal("10000")
FEE_RATE = Decimal("0.0004")
PRICES = {"BTC": Decimal("60000"), "ETH": Decimal("3000")}  # where the scripted prices start
Listener = Callable[["Change"], None]


@dataclass(frozen=True)
class SimOrder:
    order_id: int
    client_id: str
    coin: str  # BTC, ETH: each venue spells its own symbol
    side: str  # buy / sell
    size: Decimal
    price: Decimal
    filled: Decimal = Decimal(0)
    avg_price: Decimal = Decimal(0)
    status: str = "new"  # new, partially_filled, filled, canceled
    closing: str = ""  # liquidation / adl
    updated_ms: int = 0


@dataclass(frozen=True)
class SimFill:
    fill_id: int
    order_id: int
    coin: str
    side: str
    price: Decimal
    size: Decimal
    fee: Decimal  # in QUOTE
    realized_pnl: Decimal
    closing: str
    ts_ms: int


@dataclass(frozen=True)
class SimPosition:
    coin: str
    size: Decimal  # signed
    entry_price: Decimal
    mark_price: Decimal


@dataclass(frozen=True)
class Change:
    """One thing that happened to an account: what a venue's private stream pushes."""

    kind: str  # order, fill, balance, position
    ts_ms: int
    order: SimOrder | None = None
    fill: SimFill | None = None
    position: SimPosition | None = None
    balance: tuple[Decimal, Decimal] | None = None  # (total, available) in QUOTE


@dataclass
class SimAccount:
    """One account's books; `listeners` (the account's open private sockets) hear every change."""

    key: str  # the API key (or address) the venue knows the account by
    rng: random.Random
    balance: Decimal = START_BALANCE
    orders: dict[int, SimOrder] = field(default_factory=dict)
    fills: list[SimFill] = field(default_factory=list)
    positions: dict[str, SimPosition] = field(default_factory=dict)
    listeners: list[Listener] = field(default_factory=list)
    next_id: int = 1
    # coin, ms -> where the market is (the simulator's shared price path); None: PRICES
    market: Callable[[str, int], Decimal] | None = None

    def open_orders(self) -> list[SimOrder]:
        return [o for o in self.orders.values() if o.status in ("new", "partially_filled")]

    def fills_since(self, ms: int) -> list[SimFill]:
        return [f for f in self.fills if f.ts_ms >= ms]

    def step(self, now_ms: int) -> list[Change]:
        """Move the books one step: fill or cancel an open order, or place a new one."""
        live = self.open_orders()
        if live and self.rng.random() < 0.75:
            order = self.rng.choice(live)
            if self.rng.random() < 0.15:
                return self._emit([self._order(replace(order, status="canceled", updated_ms=now_ms))])
            part = order.size - order.filled if self.rng.random() < 0.5 else (order.size - order.filled) / 2
            return self._emit(self._fill(order, part.quantize(Decimal("0.001")) or order.size - order.filled,
                                         now_ms))
        coin = self.rng.choice(sorted(PRICES))
        side = self.rng.choice(("buy", "sell"))
        near = self.market(coin, now_ms) if self.market is not None else PRICES[coin]
        price = (near * Decimal(1 + self.rng.uniform(-0.002, 0.002))).quantize(Decimal("0.1"))
        size = Decimal(self.rng.choice(("0.010", "0.020", "0.050", "0.100")))
        order = SimOrder(self._id(), f"sim-{self.next_id}", coin, side, size, price, updated_ms=now_ms)
        return self._emit([self._order(order)])

    def liquidate(self, coin: str, now_ms: int, closing: str = "liquidation") -> list[Change]:
        """The venue closes the whole position (a liquidation or an ADL order)."""
        position = self.positions.get(coin)
        if position is None or not position.size:
            return []
        side = "sell" if position.size > 0 else "buy"
        client_id = f"autoclose-{now_ms}" if closing == "liquidation" else "adl_autoclose"
        order = SimOrder(self._id(), client_id, coin, side, abs(position.size), position.mark_price,
                         closing=closing, updated_ms=now_ms)
        self.orders[order.order_id] = order
        return self._emit(self._fill(order, order.size, now_ms))

    def _fill(self, order: SimOrder, size: Decimal, now_ms: int) -> list[Change]:
        filled = order.filled + size
        avg = (order.avg_price * order.filled + order.price * size) / filled
        done = replace(order, filled=filled, avg_price=avg.quantize(Decimal("0.01")), updated_ms=now_ms,
                       status="filled" if filled >= order.size else "partially_filled")
        fee = (order.price * size * FEE_RATE).quantize(Decimal("0.00000001"))
        realized = self._move_position(order.coin, size if order.side == "buy" else -size, order.price)
        fill = SimFill(self._id(), order.order_id, order.coin, order.side, order.price, size, fee, realized,
                       order.closing, now_ms)
        self.fills.append(fill)
        self.balance += realized - fee
        position = self.positions[order.coin]  # set by _move_position
        return [self._order(done), Change("fill", now_ms, fill=fill),
                Change("position", now_ms, position=position),
                Change("balance", now_ms, balance=(self.balance, self.balance - self._margin()))]

    def _move_position(self, coin: str, signed: Decimal, price: Decimal) -> Decimal:
        """Opening averages the entry; closing realizes (price - entry) x closed size (Hyperliquid's
        and Binance's convention); a flip closes all and opens the rest at the fill's price."""
        old = self.positions.get(coin, SimPosition(coin, Decimal(0), Decimal(0), price))
        new_size = old.size + signed
        realized = Decimal(0)
        if old.size and (old.size > 0) != (signed > 0):  # closing part (or all, then maybe flipping)
            closed = min(abs(signed), abs(old.size))
            realized = (price - old.entry_price) * closed * (1 if old.size > 0 else -1)
            entry = old.entry_price if new_size and (new_size > 0) == (old.size > 0) else price
        else:
            entry = (old.entry_price * abs(old.size) + price * abs(signed)) / abs(new_size)
        self.positions[coin] = SimPosition(coin, new_size, entry.quantize(Decimal("0.01")) if new_size else
                                           Decimal(0), price)
        return realized.quantize(Decimal("0.00000001"))

    def _margin(self) -> Decimal:
        return sum((abs(p.size) * p.mark_price / 10 for p in self.positions.values()), Decimal(0))

    def _order(self, order: SimOrder) -> Change:
        self.orders[order.order_id] = order
        return Change("order", order.updated_ms, order=order)

    def _id(self) -> int:
        self.next_id += 1
        return self.next_id

    def _emit(self, changes: list[Change]) -> list[Change]:
        for change in changes:
            for listener in list(self.listeners):
                listener(change)
        return changes


class AccountBook:
    """Every simulated account of every venue, by (venue, key), stepped together by the simulator's
    driver (a steady pace, so fills keep coming while a socket is cut)."""

    def __init__(self, clock: SimClock, seed: int = 1) -> None:
        self.clock = clock
        self.seed = seed
        self.accounts: dict[tuple[str, str], SimAccount] = {}
        self._paths: dict[str, PricePath] = {}

    def account(self, venue: str, key: str) -> SimAccount:
        """The account a venue knows by `key`, made on first use (a fresh book per key)."""
        found = self.accounts.get((venue, key))
        if found is None:
            rng = random.Random(f"{self.seed}:{venue}:{key}")
            found = self.accounts[(venue, key)] = SimAccount(key, rng, market=self.market)
        return found

    def market(self, coin: str, ms: int) -> Decimal:
        """The shared price path of `coin` (services/simulator/market.py), as the venues trade it."""
        path = self._paths.get(coin)
        if path is None:
            path = self._paths[coin] = PricePath(self.seed, coin)
        return Decimal(str(round(path.price(ms), 1)))

    def step_all(self) -> int:
        """One step of every account; returns the changes made."""
        now_ms = self.clock.ms()
        return sum(len(account.step(now_ms)) for account in self.accounts.values())
