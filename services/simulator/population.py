"""The simulated Hyperliquid trader population: deterministic addresses, positions that open, grow,
shrink, flip, close and get liquidated on a schedule of simulated time, and the trades they make.

Prices are the market's (market.py): each coin's mark is its base price moved along the coin's
price path, the one every simulated venue trades around. Cheap at 5,000 traders: nothing runs in
the background. Each trader's next event (its own action, or a liquidation check, as soon as the
path could bring a position to its liquidation price but no sooner than `check_s`) waits in one
heap; settle() runs the events due by the clock's now, in (time, trader) order, whenever anything
is read. So the state at a given simulated time depends only on the seed and on scripted moves,
never on who looked when. Takers trade against market makers (a slice of the population) who take
the other side of every fill, so the two fills of a trade and the `users` of its trades frame agree.

A test drives it with a frozen clock: Population(..., clock=SimClock(speed=0)), then advance(s),
trader(address) for the true state, move(address, coin, size) and liquidate(address, coin).
"""

from __future__ import annotations

import heapq
import random
from collections import deque
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from services.simulator.clock import SimClock
from services.simulator.market import PricePath
from services.simulator.trader import LOT, Liquidation, Trader, lots, sign

NEVER = 2**62
DAY_MS = 86_400_000
MAKER_SHARE = 100  # one market maker per hundred traders
# one trader in fifty is a scalper, acting every 9 to 36 s at the default pace: a demo ranks traders
# with a few closed trades each within minutes, while most act every few minutes to hours
SCALPER_SHARE = 0.02
TAKER_LEVERAGES = (2, 3, 5, 10, 10, 20, 20, 25, 40, 50)  # 20x and more get liquidated by the path's moves
MAKER_LEVERAGE = 3
MIN_MARGIN = Decimal(10)  # USD: less free margin than this and a trader only reduces
KINDS = ("open", "increase", "decrease", "close", "flip")
KIND_WEIGHTS = (15, 20, 20, 30, 15)
OLD_WAVE_DRAWS = 3  # draws per coin that once set its price waves: still made, so a seed keeps its addresses
TRADES_QUEUED = 1_000  # per coin, for the trades frames; older ones are dropped unseen


def price_of(value: float) -> Decimal:
    """A perp price as the venue allows it: 5 significant figures, at most 6 - szDecimals(4) = 2 decimals."""
    digits = len(str(int(abs(value)))) if abs(value) >= 1 else 0
    return Decimal(repr(value)).quantize(Decimal(1).scaleb(-min(2, max(0, 5 - digits))))


class Population:
    """`size` traders on `coins`; `action_s` sets how often they act (most every 0.1 to 3 times it,
    scalpers far more often), `check_s` the finest step of liquidation checks."""

    def __init__(self, seed: int, size: int, coins: Sequence[str], base_prices: Mapping[str, Decimal],
                 clock: SimClock | None = None, action_s: float = 1800.0, check_s: float = 60.0) -> None:
        if not coins:
            raise ValueError("a population needs at least one coin")
        self.clock = clock or SimClock()
        self.rng = random.Random(f"hyperliquid-traders:{seed}")
        self.coins = tuple(coins)
        self.base = {c: float(base_prices.get(c, Decimal(100))) for c in self.coins}
        self.paths = {c: PricePath(seed, c) for c in self.coins}
        for _ in range(OLD_WAVE_DRAWS * len(self.coins)):
            self.rng.random()
        self.check_ms = max(1, int(check_s * 1000))
        self.events = self.fill_count = self.liquidations = 0
        self.next_tid = self.rng.randrange(10**14, 5 * 10**14)  # 50-bit trade ids, as the venue's
        self.next_oid = self.rng.randrange(10**10, 10**11)
        self.trades: dict[str, deque[dict[str, Any]]] = {c: deque(maxlen=TRADES_QUEUED) for c in self.coins}
        self.traders: list[Trader] = []
        self.index: dict[str, int] = {}
        self.heap: list[tuple[int, int]] = []
        start = self.clock.ms()
        makers = max(1, size // MAKER_SHARE)
        for number in range(size):
            self._add(number < makers, start, action_s)
        self.makers = self.traders[:makers]
        self.addresses = tuple(t.address for t in self.traders)

    def _add(self, maker: bool, start: int, action_s: float) -> None:
        rng = self.rng
        address = f"0x{rng.getrandbits(160):040x}"
        while address in self.index:
            address = f"0x{rng.getrandbits(160):040x}"
        deposit = Decimal(int(10 ** rng.uniform(6.5, 7.5) if maker else 10 ** rng.uniform(2.5, 5.5)))
        favourites = rng.randint(1, min(3, len(self.coins)))
        coins = self.coins if maker else tuple(rng.sample(self.coins, favourites))
        pace = action_s * 10 ** rng.uniform(-1, 0.5)
        if rng.random() < SCALPER_SHARE:
            pace = action_s * rng.uniform(0.005, 0.02)
        born = start - int(rng.uniform(1, 120) * DAY_MS)
        trader = Trader(address, maker, isolated=not maker and rng.random() < 0.3,
                        leverage=MAKER_LEVERAGE if maker else rng.choice(TAKER_LEVERAGES), coins=coins,
                        pace_s=pace, born_ms=born, deposits=deposit, balance=deposit)
        trader.equity.append((born, deposit, Decimal(0), Decimal(0)))
        trader.action_ms = start + 1 + int(rng.uniform(0, pace) * 1000)  # a maker's action: a ledger point
        trader.next_ms = trader.action_ms
        self.index[address] = len(self.traders)
        heapq.heappush(self.heap, (trader.next_ms, len(self.traders)))
        self.traders.append(trader)

    # --- time and prices

    def mark(self, coin: str, ms: int | None = None) -> Decimal:
        """The coin's mark price at `ms` (default now): its base price moved along the market's path
        (float arithmetic for the curve; the price itself leaves as a Decimal of the venue's tick)."""
        return price_of(self.base[coin] * self.paths[coin].factor(self.clock.ms() if ms is None else ms))

    def marks(self, trader: Trader, ms: int) -> dict[str, Decimal]:
        return {c: self.mark(c, ms) for c in {*trader.coins, *trader.positions}}

    def advance(self, seconds: float) -> None:
        """Move the clock on and live through every event on the way."""
        self.clock.advance(seconds)
        self.settle()

    def settle(self) -> None:
        """Run every event due by now, in (time, trader) order."""
        now = self.clock.ms()
        heap = self.heap
        while heap and heap[0][0] <= now:
            ms, number = heapq.heappop(heap)
            trader = self.traders[number]
            if trader.next_ms != ms:
                continue  # rescheduled since: a newer entry stands for it
            self._step(trader, ms)
            if trader.next_ms < NEVER:
                heapq.heappush(heap, (trader.next_ms, number))

    def _step(self, trader: Trader, ms: int) -> None:
        self.events += 1
        marks = self.marks(trader, ms)
        liquidated = False
        for coin, position in list(trader.positions.items()):
            if position.liquidated_at(marks[coin]):
                self._liquidate(trader, coin, ms, marks[coin])
                liquidated = True
        acting = ms >= trader.action_ms
        if acting:
            if not trader.maker:
                self._act(trader, ms, marks)
            trader.action_ms = ms + 1 + int(self.rng.expovariate(1 / trader.pace_s) * 1000)
        trader.top_up(MIN_MARGIN)
        if acting or liquidated:
            trader.record_equity(ms, marks)
        trader.next_ms = min(trader.action_ms, self._next_check(trader, ms, marks))

    def _next_check(self, trader: Trader, ms: int, marks: dict[str, Decimal]) -> int:
        """When a position could first reach its liquidation price: never if that price lies outside
        the path's range, else no sooner than the path's fastest move allows (and check_s at least)."""
        due = NEVER
        for coin, position in trader.positions.items():
            base, liq, path = self.base[coin], float(position.liquidation_price), self.paths[coin]
            if not base * path.low <= liq <= base * path.high:
                continue
            minutes = abs(float(marks[coin]) - liq) / (base * path.speed)
            due = min(due, ms + max(self.check_ms, int(minutes * 60_000)))
        return due

    # --- what traders do

    def _act(self, trader: Trader, ms: int, marks: dict[str, Decimal]) -> None:
        rng = self.rng
        free = trader.free_margin(marks)
        held = sorted(trader.positions)
        kind = rng.choices(KINDS, KIND_WEIGHTS)[0] if held else "open"
        if kind == "open" and len(held) == len(trader.coins):
            kind = "increase"
        if kind in ("open", "increase") and free < MIN_MARGIN:
            kind = "close"
        if not held and kind == "close":
            return  # nothing to trade with and nothing to close
        if kind == "open":
            coin = rng.choice([c for c in trader.coins if c not in trader.positions])
            size = lots(free * Decimal(rng.uniform(0.1, 0.5)) * trader.leverage, marks[coin])
            delta = size * rng.choice((1, -1))
        else:
            coin = rng.choice(held)
            delta = self._change(kind, trader, coin, free, marks[coin])
        if delta:
            self._trade(trader, coin, delta, ms, marks[coin])

    def _change(self, kind: str, trader: Trader, coin: str, free: Decimal, px: Decimal) -> Decimal:
        """How much an increase, decrease, close or flip of a held position trades (signed)."""
        rng, position = self.rng, trader.positions[coin]
        size, side = position.size, sign(position.size)
        if kind == "increase":
            return side * lots(free * Decimal(rng.uniform(0.1, 0.4)) * position.leverage, px)
        if kind == "decrease":
            part = (abs(size) * Decimal(rng.uniform(0.2, 0.8))).quantize(LOT)
            return -side * part if LOT <= part < abs(size) else -size
        if kind == "flip":
            margin = position.margin + max(free, Decimal(0)) * Decimal(rng.uniform(0, 0.3))
            return -size - side * lots(margin * position.leverage, px)
        return -size

    def _counterparty(self, taker: Trader) -> Trader | None:
        makers = [m for m in self.makers if m is not taker]
        if makers:
            return makers[self.rng.randrange(len(makers))]
        others = [t for t in self.traders if t is not taker]
        return others[self.rng.randrange(len(others))] if others else None

    def _trade(self, taker: Trader, coin: str, delta: Decimal, ms: int, px: Decimal,
               liquidation: Liquidation | None = None) -> dict[str, Any]:
        """One trade: the taker's fill, the maker's opposite fill, and the frame the trades feed shows."""
        tid, self.next_tid = self.next_tid, self.next_tid + 1
        body = taker.fill(coin, delta, px, ms, tid, self._oid(), crossed=True, liquidation=liquidation)
        self.fill_count += 1
        maker = self._counterparty(taker)
        if maker is not None:
            maker.fill(coin, -delta, px, ms, tid, self._oid(), crossed=False, liquidation=liquidation)
            self.fill_count += 1
            self._watch(maker, ms)
        other = maker.address if maker is not None else taker.address
        users = [taker.address, other] if delta > 0 else [other, taker.address]
        self.trades.setdefault(coin, deque(maxlen=TRADES_QUEUED)).append(
            {"coin": coin, "side": body["side"], "px": body["px"], "sz": body["sz"], "time": ms,
             "hash": body["hash"], "tid": tid, "users": users})
        return body

    def _oid(self) -> int:
        self.next_oid += 1
        return self.next_oid

    def _liquidate(self, trader: Trader, coin: str, ms: int, mark: Decimal) -> dict[str, Any]:
        """The venue closes the whole position at the mark; both fills carry the liquidation block."""
        trader.liquidations += 1
        self.liquidations += 1
        size = trader.positions[coin].size
        return self._trade(trader, coin, -size, ms, mark, Liquidation(trader.address, mark))

    def _watch(self, trader: Trader, ms: int) -> None:
        """A trader whose positions changed outside its own events is checked again in time."""
        due = self._next_check(trader, ms, self.marks(trader, ms))
        if trader.next_ms > due:
            trader.next_ms = due
            heapq.heappush(self.heap, (due, self.index[trader.address]))

    # --- reading the truth, and scripted moves for tests and demos

    def trader(self, address: str) -> Trader:
        """The trader's true state now (KeyError for an address outside the population)."""
        self.settle()
        return self.traders[self.index[address.lower()]]

    def find(self, address: str) -> Trader | None:
        number = self.index.get(address.lower())
        if number is None:
            return None
        self.settle()
        return self.traders[number]

    def account_value(self, address: str) -> Decimal:
        trader = self.trader(address)
        return trader.account_value(self.marks(trader, self.clock.ms()))

    def move(self, address: str, coin: str, size: Decimal | int | str) -> dict[str, Any] | None:
        """Trade the trader's `coin` position to `size` (signed) now, at the mark; its fill, or None."""
        trader = self.trader(address)
        ms = self.clock.ms()
        held = trader.positions.get(coin)
        delta = Decimal(size) - (held.size if held is not None else Decimal(0))
        if not delta:
            return None
        body = self._trade(trader, coin, delta, ms, self.mark(coin, ms))
        trader.record_equity(ms, self.marks(trader, ms))
        self._watch(trader, ms)
        return body

    def liquidate(self, address: str, coin: str) -> dict[str, Any]:
        """Liquidate the trader's `coin` position now, whatever the price (KeyError if it has none)."""
        trader = self.trader(address)
        ms = self.clock.ms()
        if coin not in trader.positions:
            raise KeyError(f"{address} holds no {coin}")
        body = self._liquidate(trader, coin, ms, self.mark(coin, ms))
        trader.record_equity(ms, self.marks(trader, ms))
        return body

    # --- the trades feed

    def next_trade(self, coin: str) -> dict[str, Any] | None:
        """The oldest trade of `coin` not yet shown on the trades feed, as its frame item."""
        self.settle()
        queued = self.trades.get(coin)
        return queued.popleft() if queued else None

    def pick_users(self, rng: random.Random) -> list[str]:
        """Two different addresses of the population, [buyer, seller], drawn with the caller's rng."""
        n = len(self.addresses)
        if n < 2:
            return [self.addresses[0], self.addresses[0]]
        buyer = rng.randrange(n)
        seller = rng.randrange(n - 1)
        return [self.addresses[buyer], self.addresses[seller + (seller >= buyer)]]

    def stats(self) -> dict[str, int]:
        return {"traders": len(self.traders), "makers": len(self.makers), "events": self.events,
                "fills": self.fill_count, "liquidations": self.liquidations,
                "positions": sum(len(t.positions) for t in self.traders)}
