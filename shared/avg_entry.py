"""Average entry price and PnL from a sequence of fills of one (account, asset), Decimal only.

Two cost methods (docs/portfolio.md has both worked examples):
- "average" (average cost, the default): one lot; buys move its price, sells do not.
- "fifo": a lot per opening fill; a closing fill consumes the oldest lots first.

Positions are signed (Hyperliquid's convention, venue-facts.md section 7): a fill that grows |size|
opens, one that shrinks it closes at the lots' price, a flip closes all then opens the rest at the
fill's price, and a position closed to 0 and reopened starts fresh. Spot is the same with
`can_short=False`: a sale beyond the known holdings has no known cost and is only counted.

Fees: a fee in the base asset reduces the quantity while the cost keeps the full quote paid (on a
buy), or disposes of that many units for nothing (on a sell); a fee in the quote asset is
subtracted from the realized PnL; a fee in another asset is not valued here.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Literal

from shared.decimals import percent

Method = Literal["average", "fifo"]
FeeIn = Literal["quote", "base", "other"]
METHODS: tuple[Method, ...] = ("average", "fifo")
ZERO = Decimal(0)


@dataclass(frozen=True)
class Trade:
    """A fill as the books see it: `size` > 0 in the base asset, `fee` paid (< 0 a rebate)."""

    side: Literal["buy", "sell"]
    price: Decimal
    size: Decimal
    fee: Decimal = ZERO
    fee_in: FeeIn = "quote"


@dataclass(frozen=True)
class Lot:
    size: Decimal  # signed: > 0 long, < 0 short
    cost: Decimal  # the quote paid (or received) for it, > 0

    @property
    def price(self) -> Decimal:
        return self.cost / abs(self.size)


@dataclass(frozen=True)
class Book:
    """One (account, asset)'s open lots and what its closed part realized."""

    method: Method = "average"
    can_short: bool = True  # False for spot holdings
    lots: tuple[Lot, ...] = ()
    realized: Decimal = ZERO  # price PnL of every close, less the quote fees paid
    fees: Decimal = ZERO  # quote fees paid (already inside `realized`)
    unmatched: Decimal = ZERO  # spot units sold beyond the known holdings (no known cost)

    @property
    def quantity(self) -> Decimal:
        return sum((lot.size for lot in self.lots), ZERO)

    @property
    def cost(self) -> Decimal:
        """What the open position cost, in quote (> 0 for longs and shorts alike)."""
        return sum((lot.cost for lot in self.lots), ZERO)

    @property
    def avg_entry(self) -> Decimal | None:
        quantity = abs(self.quantity)
        return self.cost / quantity if quantity else None


def _sign(value: Decimal) -> int:
    return 1 if value > 0 else -1


def _close(lots: list[Lot], units: Decimal, price: Decimal) -> Decimal:
    """Consume `units` from the oldest lots at `price`; returns the PnL realized."""
    realized = ZERO
    while units > 0 and lots:
        lot = lots[0]
        held = abs(lot.size)
        take = min(units, held)
        realized += (price * take - lot.cost * take / held) * _sign(lot.size)
        units -= take
        if take == held:
            lots.pop(0)
        else:
            lots[0] = Lot(lot.size - take * _sign(lot.size), lot.cost * (held - take) / held)
    return realized


def _open(lots: list[Lot], method: Method, size: Decimal, price: Decimal) -> None:
    if method == "fifo" or not lots:
        lots.append(Lot(size, price * abs(size)))
        return
    held = lots[0]
    lots[0] = Lot(held.size + size, held.cost + price * abs(size))


def _fee_in_base(lots: list[Lot], side: str, fee: Decimal) -> Decimal:
    """A buy's base fee shrinks the newest long lot, its cost kept; a sell's disposes of `fee`
    units for nothing. Returns the PnL realized."""
    if not lots or lots[-1].size < 0 or not fee:
        return ZERO
    if side == "buy":
        lot = lots[-1]
        kept = max(lot.size - fee, ZERO)
        if not kept:
            lots.pop()
            return -lot.cost
        lots[-1] = Lot(kept, lot.cost)
        return ZERO
    return _close(lots, fee, ZERO)


def apply(book: Book, trade: Trade) -> Book:
    """The book after one fill."""
    lots = list(book.lots)
    signed = trade.size if trade.side == "buy" else -trade.size
    held = book.quantity
    realized, unmatched = ZERO, book.unmatched
    remaining = trade.size
    if held and _sign(held) != _sign(signed):  # closing (and maybe flipping)
        closed = min(trade.size, abs(held))
        realized += _close(lots, closed, trade.price)
        remaining -= closed
    if remaining > 0:
        if book.can_short or trade.side == "buy":
            _open(lots, book.method, remaining * _sign(signed), trade.price)
        else:
            unmatched += remaining
    fees = book.fees
    if trade.fee_in == "base":
        realized += _fee_in_base(lots, trade.side, trade.fee)
    elif trade.fee_in == "quote":
        realized -= trade.fee
        fees += trade.fee
    return replace(book, lots=tuple(lots), realized=book.realized + realized, fees=fees, unmatched=unmatched)


def replay(trades: Iterable[Trade], method: Method = "average", can_short: bool = True) -> Book:
    """The book after every fill, oldest first."""
    book = Book(method, can_short)
    for trade in trades:
        book = apply(book, trade)
    return book


def unrealized(book: Book, price: Decimal) -> Decimal:
    """side x (price - entry) x size over the open lots."""
    return sum((price * lot.size - lot.cost * _sign(lot.size) for lot in book.lots), ZERO)


def pnl_pct(book: Book, price: Decimal) -> Decimal | None:
    """The unrealized PnL as a percentage of the open position's cost; None with nothing open."""
    cost = book.cost
    return percent(unrealized(book, price), cost) if cost else None
