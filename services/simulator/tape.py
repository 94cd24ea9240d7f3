"""The simulated market of one symbol on one venue: trades at its quote around the base asset's
price path (market.py, shared by every venue), the open 1m bar they build, mark/index/funding/open
interest around the price, and liquidations. Every venue file formats these numbers in its own wire
shape; the same seed and exchange times give the same numbers."""

from __future__ import annotations

import random
import time
import zlib
from dataclasses import dataclass
from decimal import Decimal

from services.simulator.market import TICK, PricePath, Quote

__all__ = ["TICK", "LOT", "MINUTE_MS", "Fill", "Bar", "Tape", "text"]

LOT = Decimal("0.001")
MINUTE_MS = 60_000


@dataclass(frozen=True)
class Fill:
    id: int
    price: Decimal
    size: Decimal  # base units (a venue quoting contracts or USD converts)
    buy: bool  # the taker bought
    ms: int
    fills: int  # exchange trades merged in this one (Binance aggTrade f..l)


@dataclass
class Bar:
    """The open one-minute bar."""

    start_ms: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal = Decimal(0)
    buy_volume: Decimal = Decimal(0)
    trades: int = 0


class Tape:
    """One symbol's tape: ids, prices and times continue across connections."""

    def __init__(self, venue: str, symbol: str, seed: int) -> None:
        self.symbol = symbol
        self.rng = random.Random(seed * 1_000_003 + zlib.crc32(f"{venue}:{symbol}".encode()))
        self.quote = Quote(PricePath(seed, symbol), venue, symbol, seed)
        self.trade_id = self.rng.randint(1, 10**9)
        self.first_id = self.trade_id * 3
        self.time_ms = time.time_ns() // 1_000_000
        self.seq = self.rng.randint(10**6, 10**9)
        self.open_interest = Decimal(self.rng.randint(10_000, 90_000))
        self.bar: Bar | None = None
        self.quote.update(self.time_ms)
        self.price = self.quote.mid  # the last trade's price

    def now_ms(self) -> int:
        """Exchange time follows the wall clock (rows land in today's partition), never backwards."""
        self.time_ms = max(self.time_ms + self.rng.getrandbits(1), time.time_ns() // 1_000_000)
        return self.time_ms

    def trade(self) -> Fill:
        """The next trade (the hot path: random() draws, not randint's slower ones)."""
        rng = self.rng
        ms = self.now_ms()
        self.quote.update(ms)
        draw = rng.random()  # the side, and how deep the taker goes (Quote.fill_price)
        self.price = self.quote.fill_price(draw)
        size = LOT * (1 + int(rng.random() * 5000))  # 1 to 5000 lots
        fills = 1 + int(rng.random() * 4)  # 1 to 4
        self.trade_id += 1
        self.seq += 1
        fill = Fill(
            id=self.trade_id,
            price=self.price,
            size=size,
            buy=draw >= 0.5,
            ms=ms,
            fills=fills,
        )
        self.first_id += fills
        self._add_to_bar(fill)
        return fill

    def _add_to_bar(self, fill: Fill) -> None:
        bar = self.current_bar(fill.ms)
        bar.high, bar.low, bar.close = max(bar.high, fill.price), min(bar.low, fill.price), fill.price
        bar.volume += fill.size
        bar.buy_volume += fill.size if fill.buy else 0
        bar.trades += 1

    def current_bar(self, ms: int | None = None) -> Bar:
        """The bar of the current minute; a new minute opens at the last price."""
        ms = self.now_ms() if ms is None else ms
        start = ms - ms % MINUTE_MS
        if self.bar is None or self.bar.start_ms != start:
            self.bar = Bar(start_ms=start, open=self.price, high=self.price, low=self.price, close=self.price)
        return self.bar

    def mark(self) -> tuple[Decimal, Decimal, Decimal]:
        """(mark price, index price, funding rate per interval): the market's mid, the asset's path."""
        self.quote.update(self.now_ms())
        rate = Decimal(self.rng.randint(-30, 80)) / Decimal(1_000_000)
        return self.quote.mid, self.quote.index, rate

    def open_interest_now(self) -> Decimal:
        self.open_interest = max(Decimal(1), self.open_interest + self.rng.randint(-50, 50))
        return self.open_interest

    def liquidation(self) -> Fill:
        """A liquidation ORDER: buy closes a short, sell closes a long; it fills through the book,
        up to a few basis points beyond the touch."""
        rng, quote = self.rng, self.quote
        ms = self.now_ms()
        quote.update(ms)
        buy = rng.random() < 0.5
        beyond = TICK * rng.randint(0, quote.liquidation_ticks)
        price = quote.ask + beyond if buy else max(TICK, quote.bid - beyond)
        return Fill(id=0, price=price, size=LOT * rng.randint(1, 2000), buy=buy, ms=ms, fills=1)

    def address(self) -> str:
        """A wallet address, 0x + 40 hex digits (Hyperliquid trades name buyer and seller)."""
        return "0x" + "".join(f"{self.rng.getrandbits(8):02x}" for _ in range(20))


def text(value: Decimal, places: int = 1) -> str:
    """A price or size as the fixed-point string venues send."""
    return f"{value:.{places}f}"
