"""OI and volume spikes: the z-score of each closed bar's figure against a rolling window of
the figures before it, per (exchange, symbol, metric, interval). Pure: no I/O, no clock.

z = (x - mean) / stdev, where mean and stdev (population) are computed exactly in Decimal
over the window WITHOUT x, then x joins the window. Volume spikes are upward only (z >= t);
OI spikes either way (|z| >= t): a sudden drop of open interest (mass liquidation) matters
as much as a jump. No z exists while the window holds fewer than `min_points` points or
its stdev is 0.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Context, Decimal
from typing import Literal

from shared.candles import INTERVAL_US, bucket_start
from shared.events import Alert, Candle, OpenInterest, Spike

Metric = Literal["oi", "volume"]
SpikeKey = tuple[str, str, Metric, str]  # (exchange, symbol, metric, interval)
Point = tuple[int, Decimal]  # (bucket open µs, figure)
_CTX = Context(prec=60)
STAT_QUANTUM = Decimal("1e-12")  # mean and stdev as stored
Z_QUANTUM = Decimal("1e-6")


def mean_stdev(values: Iterable[Decimal]) -> tuple[Decimal, Decimal]:
    """Exact mean and population standard deviation (the square root to 60 digits)."""
    points = list(values)
    n = Decimal(len(points))
    mean = _CTX.divide(_sum(points), n)
    deviations = [_CTX.subtract(x, mean) for x in points]
    variance = _CTX.divide(_sum(_CTX.multiply(d, d) for d in deviations), n)
    return mean, _CTX.sqrt(variance)


def _sum(values: Iterable[Decimal]) -> Decimal:
    total = Decimal(0)
    for value in values:
        total = _CTX.add(total, value)
    return total


class SpikeDetector:
    """Rolling windows of `size` points per key; a Spike when z crosses its interval's threshold."""

    def __init__(self, size: int, thresholds: Mapping[str, Decimal], min_points: int = 20) -> None:
        self.size = size
        self.thresholds = dict(thresholds)
        self.min_points = max(2, min(min_points, size))
        self._windows: dict[SpikeKey, deque[Decimal]] = {}

    def watches(self, interval: str) -> bool:
        return interval in self.thresholds

    def knows(self, key: SpikeKey) -> bool:
        return key in self._windows

    def seed(self, key: SpikeKey, values: Iterable[Decimal]) -> None:
        """Start a window from history (oldest first), e.g. after a restart."""
        self._windows[key] = deque(values, maxlen=self.size)

    def observe(self, key: SpikeKey, ts: int, value: Decimal, recv_ts: int) -> Spike | None:
        """Score `value` against the window, then add it; a Spike when it crosses the threshold."""
        exchange, symbol, metric, interval = key
        threshold = self.thresholds.get(interval)
        if threshold is None:
            return None
        window = self._windows.setdefault(key, deque(maxlen=self.size))
        spike = None
        if len(window) >= self.min_points:
            mean, stdev = mean_stdev(window)
            if stdev > 0:
                z = _CTX.divide(_CTX.subtract(value, mean), stdev)
                if (z if metric == "volume" else abs(z)) >= threshold:
                    spike = Spike(
                        exchange=exchange, symbol=symbol, metric=metric, interval=interval, value=value,
                        mean=mean.quantize(STAT_QUANTUM, context=_CTX),
                        stdev=stdev.quantize(STAT_QUANTUM, context=_CTX),
                        z=z.quantize(Z_QUANTUM, context=_CTX), threshold=threshold, ts=ts, recv_ts=recv_ts,
                    )
        window.append(value)
        return spike


def spike_alert(spike: Spike) -> Alert:
    """The Alert a person hears about; its key makes a redelivered spike one message."""
    what = "open interest change" if spike.metric == "oi" else "volume"
    return Alert(
        source="processor", severity="warning",
        key=f"spike:{spike.metric}:{spike.exchange}:{spike.symbol}:{spike.interval}:{spike.ts}",
        title=f"{spike.symbol} {spike.interval} {what} spike on {spike.exchange}",
        text=f"{what} {spike.value}, mean {spike.mean}, stdev {spike.stdev}: "
             f"z = {spike.z} (threshold {spike.threshold})",
        ts=spike.ts, recv_ts=spike.recv_ts,
    )


def with_empty_buckets(points: Iterable[Point], interval: str, until: int, size: int) -> list[Decimal]:
    """The last `size` stored bar volumes (oldest first) before `until`, 0 for buckets without a bar."""
    length = INTERVAL_US[interval]
    out: list[Decimal] = []
    expected: int | None = None
    for ts, value in points:
        if expected is not None and ts > expected:
            out.extend([Decimal(0)] * min((ts - expected) // length, size))
        out.append(value)
        expected = ts + length
    if expected is not None and until > expected:
        out.extend([Decimal(0)] * min((until - expected) // length, size))
    return out[-size:]


class ClosedBars:
    """A bar is final once a newer bucket of its key begins: report its last version's volume,
    and 0 for each bucket skipped without trades. Older (late) versions are not reported again."""

    def __init__(self, intervals: Iterable[str], max_gap: int = 100) -> None:
        self.intervals = frozenset(intervals)
        self.max_gap = max_gap
        self._open: dict[tuple[str, str, str], Candle] = {}

    def update(self, bar: Candle) -> list[Point]:
        if bar.interval not in self.intervals:
            return []
        key = (bar.exchange, bar.symbol, bar.interval)
        current = self._open.get(key)
        if current is not None and bar.ts < current.ts:
            return []  # a late trade changed an already reported bar
        self._open[key] = bar
        if current is None or bar.ts == current.ts:
            return []
        length = INTERVAL_US[bar.interval]
        empty = min((bar.ts - current.ts) // length - 1, self.max_gap)
        zeros = [(bar.ts - length * n, Decimal(0)) for n in range(empty, 0, -1)]
        return [(current.ts, current.volume), *zeros]


@dataclass
class _OiBucket:
    bucket: int
    last: Decimal
    prev_bucket: int | None = None
    prev_close: Decimal | None = None


class OpenInterestCloses:
    """Open interest sampled at each bucket's close; a point is the change from the previous
    close (in base currency when the venue gives it, else contracts). A gap restarts it."""

    def __init__(self, intervals: Iterable[str]) -> None:
        self.intervals = tuple(intervals)
        self._state: dict[tuple[str, str, str], _OiBucket] = {}

    def update(self, oi: OpenInterest) -> list[tuple[str, Point]]:
        value = oi.base if oi.base is not None else oi.contracts
        points: list[tuple[str, Point]] = []
        for interval in self.intervals:
            key = (oi.exchange, oi.symbol, interval)
            start = bucket_start(oi.ts, interval)
            state = self._state.get(key)
            if state is None:
                self._state[key] = _OiBucket(start, value)
            elif start == state.bucket:
                state.last = value
            elif start > state.bucket:
                if state.prev_close is not None and state.prev_bucket == state.bucket - INTERVAL_US[interval]:
                    points.append((interval, (state.bucket, _CTX.subtract(state.last, state.prev_close))))
                state.prev_bucket, state.prev_close = state.bucket, state.last
                state.bucket, state.last = start, value
        return points
