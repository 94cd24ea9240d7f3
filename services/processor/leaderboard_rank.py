"""Ranking traders: the minimums that make a trader eligible, each metric min-max normalized to
[0, 1] across the eligible traders, and a weighted score. Pure; docs/leaderboard.md says why.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from services.processor.leaderboard_metrics import CTX, TraderMetrics
from shared.settings import TraderSettings

SCORE_QUANTUM = Decimal("1e-10")
ONE = Decimal(1)
ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Scored:
    """How a metric enters the score: its value, and whether less is better."""

    value: Callable[[TraderMetrics], Decimal | None]
    inverted: bool = False


# weight name (settings.traders.weights) -> metric
SCORED: dict[str, Scored] = {
    "age": Scored(lambda m: m.age_days),
    "volume": Scored(lambda m: m.volume),
    "pnl": Scored(lambda m: m.realized_pnl),
    "roi": Scored(lambda m: m.roi),
    "win_rate": Scored(lambda m: m.win_rate),
    "risk": Scored(lambda m: m.risk_ratio, inverted=True),
    "drawdown": Scored(lambda m: m.max_drawdown, inverted=True),
    "sharpe": Scored(lambda m: m.sharpe),
    "closed_trades": Scored(lambda m: Decimal(m.closed_trades)),
}


def score_weights(weights: Mapping[str, float]) -> dict[str, Decimal]:
    """The configured weights as Decimals; a name that is no metric is refused, not ignored."""
    unknown = sorted(set(weights) - set(SCORED))
    if unknown:
        raise ValueError(f"traders_weights: unknown metric(s) {', '.join(unknown)}; "
                         f"known: {', '.join(SCORED)}")
    return {name: Decimal(str(weight)) for name, weight in weights.items()}


@dataclass(frozen=True, slots=True)
class Minimums:
    """What a trader needs to be ranked at all."""

    age_days: Decimal = ZERO
    volume: Decimal = ZERO
    closed_trades: int = 0

    @classmethod
    def of(cls, config: TraderSettings) -> Minimums:
        return cls(Decimal(str(config.min_age_days)), Decimal(str(config.min_volume_usd)),
                   config.min_closed_trades)

    def met_by(self, metrics: TraderMetrics) -> bool:
        return (metrics.age_days >= self.age_days and metrics.volume >= self.volume
                and metrics.closed_trades >= self.closed_trades)


def normalized(values: Sequence[Decimal | None], inverted: bool = False) -> list[Decimal]:
    """(x − min) / (max − min), or 1 − that when inverted; a missing value counts 0 (it earns nothing);
    when every known value is the same, each earns 1 (no trader is beaten on it)."""
    known = [v for v in values if v is not None]
    if not known:
        return [ZERO] * len(values)
    low, high = min(known), max(known)
    spread = CTX.subtract(high, low)
    out: list[Decimal] = []
    for value in values:
        if value is None:
            out.append(ZERO)
        elif spread == 0:
            out.append(ONE)
        else:
            position = CTX.divide(CTX.subtract(value, low), spread)
            out.append(CTX.subtract(ONE, position) if inverted else position)
    return out


@dataclass(frozen=True, slots=True)
class Ranked:
    rank: int  # 1 = best
    score: Decimal  # in [0, 1]: Σ weight × normalized metric / Σ weight
    metrics: TraderMetrics


def rank(candidates: Sequence[TraderMetrics], weights: Mapping[str, Decimal],
         minimums: Minimums) -> list[Ranked]:
    """The eligible traders, best first. Ties: the higher realized PnL, then the address."""
    eligible = [m for m in candidates if minimums.met_by(m)]
    scores = scores_of(eligible, weights)
    order = sorted(zip(scores, eligible, strict=True),
                   key=lambda pair: (-pair[0], -pair[1].realized_pnl, pair[1].address))
    return [Ranked(n, score, metrics) for n, (score, metrics) in enumerate(order, start=1)]


def scores_of(eligible: Sequence[TraderMetrics], weights: Mapping[str, Decimal]) -> list[Decimal]:
    total_weight = sum(weights.values(), ZERO)
    sums = [ZERO] * len(eligible)
    for name, weight in weights.items():
        if weight == 0:
            continue
        scored = SCORED[name]
        column = normalized([scored.value(m) for m in eligible], scored.inverted)
        sums = [CTX.add(s, CTX.multiply(weight, v)) for s, v in zip(sums, column, strict=True)]
    if total_weight == 0:
        return [ZERO for _ in eligible]
    return [CTX.divide(s, total_weight).quantize(SCORE_QUANTUM, context=CTX) for s in sums]
