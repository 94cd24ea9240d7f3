"""A tracked trader's leaderboard metrics, from its fills, its equity curve and its `traders` row.
Pure: no I/O, no clock; Decimal throughout. The definitions are in docs/leaderboard.md.

Fills are folded into `FillTotals` (the job has PostgreSQL sum the same figures, see
services/processor/leaderboard.py); an equity curve is folded point by point in time order
(`EquityFold`), so a long curve is never held in memory.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Context, Decimal

from shared.events import EquityPoint

CTX = Context(prec=60)  # sums of thousands of fills stay exact
DAY_US = 86_400_000_000
YEAR_US = 365 * DAY_US  # Sharpe is annualized to 365 days: crypto trades every day
RATIO_QUANTUM = Decimal("1e-10")  # ratios as stored
AGE_QUANTUM = Decimal("1e-6")  # days
# Hyperliquid fill `dir` of a flip: the fill closes the whole position and opens the other side;
# its closedPnl is what the close realized. "Close Long"/"Close Short" are plain closes.
# https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/info-endpoint (userFills)
CLOSE_PREFIX = "Close"
FLIP_DIRECTIONS = ("Long > Short", "Short > Long")
SHARPE_MIN_RETURNS = 10  # fewer period returns than this: no Sharpe (too noisy to rank on)
ZERO = Decimal(0)


def is_closing(direction: str, liquidation: bool) -> bool:
    """A closing fill realizes PnL: a close, a flip, or a liquidation of this trader."""
    return direction.startswith(CLOSE_PREFIX) or direction in FLIP_DIRECTIONS or liquidation


@dataclass(frozen=True, slots=True)
class Fill:
    """What the metrics read of a trader_fills row."""

    ts: int
    price: Decimal
    size: Decimal
    direction: str
    closed_pnl: Decimal
    fee: Decimal
    liquidation: bool = False


@dataclass(frozen=True, slots=True)
class FillTotals:
    """A trader's fills summed: the same figures PostgreSQL computes in the job."""

    first_ts: int | None = None  # the oldest fill
    volume: Decimal = ZERO  # Σ price × |size|, USD
    realized_pnl: Decimal = ZERO  # Σ (closed_pnl − fee) over closing fills
    closed_trades: int = 0  # closing fills
    winning_trades: int = 0  # closing fills with closed_pnl > 0


def fill_totals(fills: Iterable[Fill]) -> FillTotals:
    first_ts: int | None = None
    volume = realized = ZERO
    closed = winning = 0
    for fill in fills:
        first_ts = fill.ts if first_ts is None else min(first_ts, fill.ts)
        volume = CTX.add(volume, CTX.multiply(fill.price, abs(fill.size)))
        if is_closing(fill.direction, fill.liquidation):
            realized = CTX.add(realized, CTX.subtract(fill.closed_pnl, fill.fee))
            closed += 1
            winning += fill.closed_pnl > 0
    return FillTotals(first_ts, volume, realized, closed, winning)


@dataclass(frozen=True, slots=True)
class EquityFigures:
    """What the metrics need of an equity curve."""

    points: int = 0
    first_ts: int | None = None
    start_value: Decimal | None = None  # the first positive account value
    max_value: Decimal | None = None
    max_drawdown: Decimal | None = None  # fraction of the peak; None under 2 points
    sharpe: Decimal | None = None  # annualized; None under SHARPE_MIN_RETURNS returns


class EquityFold:
    """An equity curve folded point by point, oldest first: running peak and drawdown, and the
    sums of the period returns r = (pnl − previous pnl) / previous account value. PnL differences
    leave deposits and withdrawals out of the returns; account value moves keep them."""

    def __init__(self) -> None:
        self.points = 0
        self.first_ts: int | None = None
        self.start_value: Decimal | None = None
        self.peak: Decimal | None = None
        self.max_drawdown = ZERO
        self.returns = 0
        self.return_sum = ZERO
        self.return_squares = ZERO
        self.return_span_us = 0
        self.previous: EquityPoint | None = None

    def add(self, point: EquityPoint) -> None:
        value = point.account_value
        self.points += 1
        if self.first_ts is None:
            self.first_ts = point.ts
        if self.start_value is None and value > 0:
            self.start_value = value
        self.peak = value if self.peak is None else max(self.peak, value)
        if self.peak > 0:
            fall = CTX.divide(CTX.subtract(self.peak, value), self.peak)
            self.max_drawdown = max(self.max_drawdown, fall)
        before = self.previous
        if before is not None and before.account_value > 0 and point.ts > before.ts:
            period = CTX.divide(CTX.subtract(point.pnl, before.pnl), before.account_value)
            self.returns += 1
            self.return_sum = CTX.add(self.return_sum, period)
            self.return_squares = CTX.add(self.return_squares, CTX.multiply(period, period))
            self.return_span_us += point.ts - before.ts
        self.previous = point

    def figures(self) -> EquityFigures:
        return EquityFigures(
            points=self.points, first_ts=self.first_ts, start_value=self.start_value, max_value=self.peak,
            max_drawdown=_ratio(self.max_drawdown) if self.points >= 2 else None, sharpe=self._sharpe())

    def _sharpe(self) -> Decimal | None:
        """mean / sample stdev of the period returns × √(periods per year); risk-free rate 0."""
        n = self.returns
        if n < SHARPE_MIN_RETURNS or self.return_span_us <= 0:
            return None
        count = Decimal(n)
        mean = CTX.divide(self.return_sum, count)
        # Σ(r − mean)² = Σr² − n·mean², exact enough at 60 digits
        squares = CTX.subtract(self.return_squares, CTX.multiply(count, CTX.multiply(mean, mean)))
        if squares <= 0:
            return None  # every period returned the same: no volatility to divide by
        stdev = CTX.sqrt(CTX.divide(squares, Decimal(n - 1)))
        periods_per_year = CTX.divide(Decimal(YEAR_US) * count, Decimal(self.return_span_us))
        return _ratio(CTX.multiply(CTX.divide(mean, stdev), CTX.sqrt(periods_per_year)))


def equity_figures(points: Iterable[EquityPoint]) -> EquityFigures:
    """The figures of a curve given oldest first."""
    fold = EquityFold()
    for point in points:
        fold.add(point)
    return fold.figures()


@dataclass(frozen=True, slots=True)
class TraderRow:
    """What the metrics read of a `traders` row."""

    address: str
    first_seen: int
    tracked_since: int | None
    account_value: Decimal | None  # of the newest state
    notional: Decimal | None  # totalNtlPos of the newest state
    fills_complete: bool  # False: the venue served only the newest fills


@dataclass(frozen=True, slots=True)
class TraderMetrics:
    """One trader's figures as the leaderboard ranks and stores them; None = cannot be known."""

    address: str
    age_days: Decimal
    volume: Decimal
    realized_pnl: Decimal
    roi: Decimal | None
    win_rate: Decimal | None
    risk_ratio: Decimal | None
    max_drawdown: Decimal | None
    sharpe: Decimal | None
    closed_trades: int
    tracked_since: int | None  # coverage: what tracking saw starts here
    fills_complete: bool  # coverage: False when the fill history is truncated


def trader_metrics(trader: TraderRow, fills: FillTotals, equity: EquityFigures, now: int) -> TraderMetrics:
    return TraderMetrics(
        address=trader.address,
        age_days=age_days(trader, fills, equity, now),
        volume=fills.volume,
        realized_pnl=fills.realized_pnl,
        roi=roi(fills.realized_pnl, equity, trader.account_value),
        win_rate=_ratio(CTX.divide(Decimal(fills.winning_trades), Decimal(fills.closed_trades)))
        if fills.closed_trades else None,
        risk_ratio=risk_ratio(trader.notional, trader.account_value),
        max_drawdown=equity.max_drawdown,
        sharpe=equity.sharpe,
        closed_trades=fills.closed_trades,
        tracked_since=trader.tracked_since,
        fills_complete=trader.fills_complete,
    )


def age_days(trader: TraderRow, fills: FillTotals, equity: EquityFigures, now: int) -> Decimal:
    """Days since the oldest thing known of the account: its first fill or equity point, whichever
    is older; without either, since it was first seen trading."""
    known = [ts for ts in (fills.first_ts, equity.first_ts) if ts is not None]
    origin = min(known) if known else trader.first_seen
    return CTX.divide(Decimal(max(0, now - origin)), Decimal(DAY_US)).quantize(AGE_QUANTUM, context=CTX)


def roi(realized_pnl: Decimal, equity: EquityFigures, account_value: Decimal | None) -> Decimal | None:
    """Realized PnL over the curve's starting account value (its first positive one: a new account's
    curve starts at 0 before the first deposit); without one, over the largest account value known."""
    base = equity.start_value
    if base is None:
        known = [v for v in (equity.max_value, account_value) if v is not None]
        base = max(known) if known else None
    if base is None or base <= 0:
        return None
    return _ratio(CTX.divide(realized_pnl, base))


def risk_ratio(notional: Decimal | None, account_value: Decimal | None) -> Decimal | None:
    """Open notional over account value (effective leverage) of the newest state."""
    if notional is None or account_value is None or account_value <= 0:
        return None
    return _ratio(CTX.divide(abs(notional), account_value))


def _ratio(value: Decimal) -> Decimal:
    return value.quantize(RATIO_QUANTUM, context=CTX)
