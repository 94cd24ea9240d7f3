"""Candle intervals and the multi-exchange candle: what the processor derives and stores and what
the API reads back and answers, in one place. Pure: no I/O, no clock.

Buckets align to the epoch, i.e. to UTC midnight. A multi-exchange candle combines one symbol's
bars of several venues at one open time, weighting opens and closes by each venue's volume.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from decimal import Context, Decimal
from typing import Any

import msgspec

from shared.decimals import rounded
from shared.events import Candle

MINUTE_US = 60_000_000
INTERVAL_US: dict[str, int] = {
    "1m": MINUTE_US, "5m": 5 * MINUTE_US, "15m": 15 * MINUTE_US, "1h": 60 * MINUTE_US,
    "4h": 240 * MINUTE_US, "1d": 1440 * MINUTE_US,
}
ZERO = Decimal(0)
EXACT = Context(prec=80)  # sums and products of exchange figures never round
_QUOTIENT = Context(prec=28)  # weighted prices: 28 significant digits


def bucket_start(ts: int, interval: str) -> int:
    """Open time of the bucket holding ts; buckets align to the epoch, i.e. to UTC midnight."""
    return ts - ts % INTERVAL_US[interval]


def exact_sum(values: Iterable[Decimal]) -> Decimal:
    """A sum that never rounds."""
    total = ZERO
    for value in values:
        total = EXACT.add(total, value)
    return total


def sum_or_none(values: Iterable[Decimal | None]) -> Decimal | None:
    """An exact sum, or None when any value is unknown (a venue that does not send it)."""
    total = ZERO
    for value in values:
        if value is None:
            return None
        total = EXACT.add(total, value)
    return total


def candle_of(row: Mapping[str, Any]) -> Candle:
    """A stored derived bar (a row of the candles table) back as a Candle."""
    return Candle(
        exchange=row["exchange"], symbol=row["symbol"], raw_symbol=row["raw_symbol"],
        interval=row["interval"], open=row["open"], high=row["high"], low=row["low"], close=row["close"],
        volume=row["volume"],
        trades=row["trades"], buy_volume=row["buy_volume"], closed=row["closed"], source="derived",
        ts=row["ts"], recv_ts=row["recv_ts"],
    )


class MultiCandle(msgspec.Struct, frozen=True, kw_only=True):
    """One symbol's candle over several exchanges (see `combine`)."""

    symbol: str
    interval: str
    ts: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    trades: int | None
    buy_volume: Decimal | None
    exchanges: list[str]


def _weighted(prices: Sequence[Decimal], volumes: Sequence[Decimal], total: Decimal) -> Decimal:
    """Σ(p·v)/Σv (products and sums exact, the quotient to 28 significant digits and at most
    shared.decimals.PLACES places); plain mean when Σv = 0."""
    if total == 0:
        return rounded(_QUOTIENT.divide(exact_sum(prices), Decimal(len(prices))))
    products = [EXACT.multiply(p, v) for p, v in zip(prices, volumes, strict=True)]
    return rounded(_QUOTIENT.divide(exact_sum(products), total))


def combine(bars: Sequence[Candle]) -> MultiCandle:
    """Bars of one symbol, interval and open time on several exchanges -> one multi-exchange bar.

    volume, buy volume, trade count: sums over venues; high/low: the highest high and lowest
    low anywhere; open and close: the venues' opens and closes weighted by each venue's
    volume, Σ(open_i·volume_i)/Σvolume_i (so a thin venue barely moves them), rounded to 28
    significant digits and 18 places (shared.decimals); a plain mean if every volume is 0. A
    venue without a bar is absent.
    """
    if not bars or len({(b.symbol, b.interval, b.ts) for b in bars}) != 1:
        raise ValueError("combine needs bars of one symbol, interval and open time")
    volumes = [bar.volume for bar in bars]
    total = exact_sum(volumes)
    counts = [bar.trades for bar in bars]
    return MultiCandle(
        symbol=bars[0].symbol, interval=bars[0].interval, ts=bars[0].ts,
        open=_weighted([b.open for b in bars], volumes, total), high=max(b.high for b in bars),
        low=min(b.low for b in bars), close=_weighted([b.close for b in bars], volumes, total), volume=total,
        trades=None if None in counts else sum(c for c in counts if c is not None),
        buy_volume=sum_or_none(b.buy_volume for b in bars), exchanges=sorted(b.exchange for b in bars),
    )


def combine_series(bars: Iterable[Candle]) -> list[MultiCandle]:
    """Group bars by open time and combine each group, oldest first."""
    groups: dict[tuple[str, str, int], list[Candle]] = defaultdict(list)
    for bar in bars:
        groups[(bar.symbol, bar.interval, bar.ts)].append(bar)
    return [combine(groups[key]) for key in sorted(groups, key=lambda k: k[2])]
