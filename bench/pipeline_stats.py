"""Pure figures of the pipeline benchmark (bench/pipeline.py): commits' landing notices into
freshness percentiles, lag samples into a growth verdict, RSS samples into growth. No I/O here.

A landing notice is what the bench's trigger on the scratch `trades` table sends at each commit
(pg_notify is delivered when the transaction commits, so the moment the bench receives it is when
the rows became visible): "<rows> <q0> <q1> ... <q100>", the 101 quantiles of the rows' recv_ts.
"""

from __future__ import annotations

from dataclasses import dataclass

QUANTILES = 101  # recv_ts quantiles per notice: 0 %, 1 %, ..., 100 %
LAG_WARMUP = 0.2  # share of a step's lag samples left out of the growth fit (the start-up)
LAG_GROWTH_LIMIT = 0.02  # lag grows when it gains more than 2 % of the entries added meanwhile ...
LAG_FLOOR_S = 0.5  # ... and ends the step more than half a second of entries behind (below: jitter)


@dataclass(frozen=True)
class Landing:
    """One commit: when it was seen (µs) and its rows' recv_ts quantiles (µs)."""

    landed_us: int
    rows: int
    recv_quantiles: tuple[int, ...]


def parse_notice(payload: str, landed_us: int) -> Landing:
    """'<rows> <q0> ... <q100>' -> Landing; ValueError when it is not that."""
    parts = payload.split()
    if len(parts) != QUANTILES + 1:
        raise ValueError(f"a landing notice has {QUANTILES + 1} numbers, got {len(parts)}")
    return Landing(landed_us, int(parts[0]), tuple(int(p) for p in parts[1:]))


def weighted_percentile(points: list[tuple[float, float]], share: float) -> float:
    """The smallest value whose cumulative weight reaches `share` of the total; points are (value, weight)."""
    ordered = sorted(points)
    total = sum(weight for _, weight in ordered)
    reached = 0.0
    for value, weight in ordered:
        reached += weight
        if reached >= share * total - 1e-9:
            return value
    return ordered[-1][0]


def freshness(landings: list[Landing]) -> dict[str, float | int | None]:
    """Landing minus recv_ts over every row, in ms: p50, p99 (each quantile point of a commit
    weighs rows / 101) and max (the commit's oldest recv_ts, exact)."""
    points = [
        ((landing.landed_us - recv) / 1000, landing.rows / QUANTILES)
        for landing in landings
        for recv in landing.recv_quantiles
    ]
    if not points:
        return {"rows": 0, "commits": 0, "p50_ms": None, "p99_ms": None, "max_ms": None}
    worst = max((landing.landed_us - landing.recv_quantiles[0]) / 1000 for landing in landings)
    return {
        "rows": sum(landing.rows for landing in landings),
        "commits": len(landings),
        "p50_ms": round(weighted_percentile(points, 0.50), 1),
        "p99_ms": round(weighted_percentile(points, 0.99), 1),
        "max_ms": round(worst, 1),
    }


def slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of ys over xs; 0 for fewer than two distinct xs."""
    n = len(xs)
    if n < 2:
        return 0.0
    mx, my = sum(xs) / n, sum(ys) / n
    var = sum((x - mx) ** 2 for x in xs)
    return 0.0 if var == 0 else sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var


def lag_growth(samples: list[tuple[float, int, int]], unit: str = "entries") -> dict[str, float | bool]:
    """samples: (seconds, a queue's length, what has come in so far), both in `unit`: the stream's
    lag summed over its groups against the entries added, or the receivers' producer buffer against
    the trades sent. The queue grows when, past the warm-up, its fitted slope exceeds
    LAG_GROWTH_LIMIT of what comes in per second (a consumer falling behind by that share) and the
    last quarter's mean length is more than LAG_FLOOR_S of what comes in: a healthy queue jitters
    between 0 and a few, which on a short step fits a slope of either sign."""
    kept = samples[int(len(samples) * LAG_WARMUP):]
    times = [t for t, _, _ in kept]
    queue_slope = slope(times, [float(length) for _, length, _ in kept])
    added_rate = slope(times, [float(added) for _, _, added in kept])
    share = queue_slope / added_rate if added_rate > 0 else 0.0
    tail = [length for _, length, _ in kept[len(kept) * 3 // 4:]]
    tail_length = sum(tail) / len(tail) if tail else 0.0
    return {
        f"slope_{unit}_per_s": round(queue_slope, 2),
        f"added_{unit}_per_s": round(added_rate, 1),
        "growth_share": round(share, 4),
        f"max_{unit}": max((length for _, length, _ in kept), default=0),
        f"last_quarter_{unit}": round(tail_length, 1),
        "growing": share > LAG_GROWTH_LIMIT and tail_length > added_rate * LAG_FLOOR_S,
    }


def rss_growth(samples: list[tuple[float, int]], warmup_s: float) -> dict[str, float | int | None]:
    """samples: (seconds since start, RSS in kB). Start: the first sample at or after the warm-up;
    end: the last sample; growth = end / start - 1."""
    after = [(t, rss) for t, rss in samples if t >= warmup_s]
    if len(after) < 2:
        return {"start_kb": None, "end_kb": None, "max_kb": None, "growth": None}
    start, end = after[0][1], after[-1][1]
    return {"start_kb": start, "end_kb": end, "max_kb": max(rss for _, rss in after),
            "growth": round(end / start - 1, 4)}
