"""Candles derived from trades, exactly: 1m bars folded from trades and UTC-aligned rollups
(the intervals and the multi-exchange candle are in shared.candles). Pure: no I/O, no clock.

A 1m bar is keyed by (exchange, symbol, minute open µs). open/close are the prices of the
first/last trade in the total order (ts, len(trade_id), trade_id), so they never depend on
arrival order; high/low/volume/trade count/taker-buy volume are exact Decimal folds. A
trade already counted (same id) is skipped, so redelivery changes nothing. A late trade
re-dirties its bar, which is then re-emitted whole. A minute without trades has NO bar
(no zero-volume filler): rollups and readers treat a missing minute as "nothing traded".
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from services.processor.trade_ids import TradeIds
from shared.candles import EXACT, INTERVAL_US, MINUTE_US, ZERO, bucket_start, sum_or_none
from shared.events import Candle, Trade

# Each rollup is built from the next finer one. Every length divides the next one and the
# day, and OHLCV folds are associative, so this equals rolling up the 1m bars directly.
ROLLUP_CHAIN: tuple[tuple[str, str], ...] = (
    ("5m", "1m"), ("15m", "5m"), ("1h", "15m"), ("4h", "1h"), ("1d", "4h"),
)
BarKey = tuple[str, str, int]  # (exchange, symbol, minute open µs)
Pair = tuple[str, str]  # (exchange, symbol)
TradeOrder = tuple[int, int, str]  # (ts, len(trade_id), trade_id): numeric ids sort numerically


def trade_order(trade: Trade) -> TradeOrder:
    return (trade.ts, len(trade.trade_id), trade.trade_id)


@dataclass
class _Bar:
    """The running fold of one minute's trades."""

    raw_symbol: str
    first: TradeOrder
    open: Decimal
    last: TradeOrder
    close: Decimal
    high: Decimal
    low: Decimal
    volume: Decimal = ZERO
    buy_volume: Decimal = ZERO
    recv_ts: int = 0
    ids: TradeIds = field(default_factory=TradeIds)  # compact: numbers as runs (trade_ids.py)

    @classmethod
    def start(cls, trade: Trade) -> _Bar:
        order = trade_order(trade)
        return cls(raw_symbol=trade.raw_symbol, first=order, open=trade.price, last=order, close=trade.price,
                   high=trade.price, low=trade.price)

    def add(self, trades: Iterable[Trade]) -> tuple[int, int]:
        """Fold trades of this minute in, skipping those already counted: (how many were new, the
        newest time among them). One loop over local names: it runs once per trade stored."""
        new, newest = 0, -(2**63)
        first, last, high, low = self.first, self.last, self.high, self.low
        volume, buy_volume, recv_ts = self.volume, self.buy_volume, self.recv_ts
        held, add = self.ids.add, EXACT.add
        for trade in trades:
            trade_id = trade.trade_id
            if not held(trade_id):
                continue
            new += 1
            ts, price = trade.ts, trade.price
            if ts > newest:
                newest = ts
            if ts <= first[0]:
                order = (ts, len(trade_id), trade_id)
                if order < first:
                    first, self.open = order, price
            if ts >= last[0]:
                order = (ts, len(trade_id), trade_id)
                if order > last:
                    last, self.close = order, price
            if price > high:
                high = price
            elif price < low:
                low = price
            volume = add(volume, trade.size)
            if trade.side == "buy":
                buy_volume = add(buy_volume, trade.size)
            if trade.recv_ts > recv_ts:
                recv_ts = trade.recv_ts
        self.first, self.last, self.high, self.low = first, last, high, low
        self.volume, self.buy_volume, self.recv_ts = volume, buy_volume, recv_ts
        return new, newest


Minutes = dict[BarKey, list[Trade]]


def by_minute(trades: Iterable[Trade] | Minutes) -> Minutes:
    """Trades grouped by their bar, in the order each bar first appears (given grouped: as is)."""
    if isinstance(trades, dict):
        return trades
    minutes: Minutes = {}
    for trade in trades:
        ts = trade.ts
        key = (trade.exchange, trade.symbol, ts - ts % MINUTE_US)
        group = minutes.get(key)
        if group is None:
            minutes[key] = [trade]
        else:
            group.append(trade)
    return minutes


class CandleBuilder:
    """Folds trades into 1m bars and hands out the bars that changed since they were last written.

    It keeps the bars of the last `memory_minutes` minutes per (exchange, symbol). A trade for
    a minute it may not have seen whole (at or before the first minute it folded, or already
    evicted) is "cold": the caller first folds that minute's stored trades in (`cold_keys`),
    which makes restarts and very late trades exact too; so does a trade for a closed minute
    (`reopened_keys`: a backfill), so that its bar ends equal to the stored trades.
    """

    def __init__(self, memory_minutes: int = 10) -> None:
        self.memory_us = memory_minutes * MINUTE_US
        self._bars: dict[BarKey, _Bar] = {}
        self._dirty: set[BarKey] = set()
        self._first: dict[Pair, int] = {}  # first minute folded: earlier ones may hold unseen trades
        self._latest: dict[Pair, int] = {}  # newest trade time seen
        self._newest_bar: dict[Pair, int] = {}

    @property
    def bars_held(self) -> int:
        return len(self._bars)

    @property
    def latest(self) -> Mapping[Pair, int]:
        """Newest trade time per (exchange, symbol): bars ending at or before it are closed."""
        return self._latest

    def _floor(self, pair: Pair) -> int:
        latest = self._latest.get(pair)
        return -(2**63) if latest is None else bucket_start(latest, "1m") - self.memory_us

    def cold_keys(self, trades: Iterable[Trade] | Minutes) -> list[BarKey]:
        """Minutes whose stored trades must be folded in before these trades."""
        keys: list[BarKey] = []
        for key in by_minute(trades):
            if key in self._bars:
                continue
            first = self._first.get(key[:2])
            if first is None or key[2] <= first or key[2] < self._floor(key[:2]):
                keys.append(key)
        return sorted(keys)

    def reopened_keys(self, trades: Iterable[Trade] | Minutes) -> list[BarKey]:
        """Closed minutes these trades bring new trades to (a backfill, a late trade): folded from the
        stored trades as well, so that a backfilled minute counts every stored trade whatever way it
        came. A trade the bar counted already (a backfill's overlap) reopens nothing."""
        keys: list[BarKey] = []
        for key, group in by_minute(trades).items():
            if key[2] + MINUTE_US <= self._latest.get(key[:2], key[2]):
                bar = self._bars.get(key)
                if bar is None or any(trade.trade_id not in bar.ids for trade in group):
                    keys.append(key)
        return sorted(keys)

    def fold(self, trades: Iterable[Trade] | Minutes) -> int:
        """Fold trades into their bars (one already counted is skipped); returns how many were new."""
        new = 0
        for key, group in by_minute(trades).items():
            bar = self._bars.get(key)
            if bar is None:
                bar = self._bars[key] = _Bar.start(group[0])
            added, newest_ts = bar.add(group)
            if not added:
                continue
            new += added
            pair, minute = key[:2], key[2]
            self._dirty.add(key)
            self._first.setdefault(pair, minute)
            if newest_ts > self._latest.get(pair, -(2**63)):
                self._latest[pair] = newest_ts
            newest = self._newest_bar.get(pair)
            if newest is None or minute > newest:
                if newest is not None and (*pair, newest) in self._bars:
                    self._dirty.add((*pair, newest))  # re-emitted: it is closed now
                self._newest_bar[pair] = minute
        return new

    def dirty(self) -> list[Candle]:
        """The bars changed since they were last cleaned, oldest first."""
        return [self._candle(key) for key in sorted(self._dirty)]

    def clean(self, bars: Iterable[Candle]) -> None:
        """These bars are written: forget they changed, and drop bars past the memory."""
        for bar in bars:
            self._dirty.discard((bar.exchange, bar.symbol, bar.ts))
        for key in [k for k in self._bars if k[2] < self._floor(k[:2]) and k not in self._dirty]:
            del self._bars[key]

    def _candle(self, key: BarKey) -> Candle:
        bar = self._bars[key]
        exchange, symbol, minute = key
        closed = minute + MINUTE_US <= self._latest.get((exchange, symbol), minute)
        return Candle(
            exchange=exchange, symbol=symbol, raw_symbol=bar.raw_symbol, interval="1m", open=bar.open,
            high=bar.high, low=bar.low, close=bar.close, volume=bar.volume, trades=len(bar.ids),
            buy_volume=bar.buy_volume, closed=closed,
            source="derived", ts=minute, recv_ts=bar.recv_ts,
        )


def rollup(bars: Iterable[Candle], interval: str, latest: Mapping[Pair, int] | None = None) -> list[Candle]:
    """Fold finer bars into `interval` bars opening on UTC boundaries (1d at 00:00 UTC).

    open = the first bar's open, close = the last bar's close, high/low = extremes, volume,
    trades and buy volume = sums. Empty minutes have no bar and add nothing, so a bucket with
    gaps is still right. closed: the bucket ended by `latest` (newest trade time per
    exchange+symbol); without `latest` every bucket is taken as complete.
    """
    length = INTERVAL_US[interval]
    groups: dict[BarKey, dict[int, Candle]] = defaultdict(dict)
    for bar in bars:
        finer = INTERVAL_US[bar.interval]
        if finer >= length or length % finer:
            raise ValueError(f"cannot roll {bar.interval} bars up into {interval}")
        groups[(bar.exchange, bar.symbol, bucket_start(bar.ts, interval))][bar.ts] = bar
    out: list[Candle] = []
    for (exchange, symbol, start), by_ts in sorted(groups.items()):
        members = [by_ts[ts] for ts in sorted(by_ts)]
        first, last = members[0], members[-1]
        until = None if latest is None else latest.get((exchange, symbol))
        trade_counts = [bar.trades for bar in members]
        out.append(Candle(
            exchange=exchange, symbol=symbol, raw_symbol=last.raw_symbol, interval=interval, open=first.open,
            high=max(bar.high for bar in members), low=min(bar.low for bar in members), close=last.close,
            volume=sum_or_none(bar.volume for bar in members) or ZERO,
            trades=None if None in trade_counts else sum(c for c in trade_counts if c is not None),
            buy_volume=sum_or_none(bar.buy_volume for bar in members),
            closed=latest is None or (until is not None and start + length <= until),
            source=first.source, ts=start, recv_ts=max(bar.recv_ts for bar in members),
        ))
    return out
