"""The pipeline benchmark's pure figures (bench/pipeline_stats.py): no stack, no clock."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

from pipeline_stats import (  # noqa: E402
    QUANTILES,
    freshness,
    lag_growth,
    parse_notice,
    rss_growth,
    weighted_percentile,
)


def notice(rows: int, recv: list[int]) -> str:
    return " ".join(map(str, [rows, *recv]))


def test_a_notice_is_rows_then_101_quantiles() -> None:
    landing = parse_notice(notice(5, list(range(1000, 1000 + QUANTILES))), 2_000)
    assert (landing.landed_us, landing.rows, landing.recv_quantiles[0], len(landing.recv_quantiles)) == (
        2_000, 5, 1000, QUANTILES)
    with pytest.raises(ValueError):
        parse_notice("3 1 2", 0)


def test_freshness_weighs_each_commit_by_its_rows() -> None:
    # a big commit 10 ms after its rows, a small one 500 ms after: p50 and p99 are the big one's
    big = parse_notice(notice(1000, [90_000] * QUANTILES), 100_000)
    small = parse_notice(notice(5, [0] * QUANTILES), 500_000)
    figures = freshness([big, small])
    assert figures["rows"] == 1005 and figures["commits"] == 2
    assert figures["p50_ms"] == 10.0 and figures["p99_ms"] == 10.0
    assert figures["max_ms"] == 500.0
    assert freshness([])["p99_ms"] is None


def test_weighted_percentile() -> None:
    assert weighted_percentile([(1.0, 1.0), (2.0, 1.0), (3.0, 2.0)], 0.5) == 2.0
    assert weighted_percentile([(5.0, 1.0)], 0.99) == 5.0


def test_lag_that_jitters_is_not_growing_and_lag_that_climbs_is() -> None:
    steady = [(t * 0.5, [0, 3, 1, 6][t % 4], 30 * t) for t in range(24)]
    climbing = [(t * 0.5, 20 * t, 30 * t) for t in range(24)]
    assert not lag_growth(steady)["growing"]
    grown = lag_growth(climbing)
    assert grown["growing"] and grown["growth_share"] == pytest.approx(40 / 60, abs=1e-3)


def test_rss_growth_from_the_end_of_the_warmup() -> None:
    samples = [(0.0, 50_000), (60.0, 100_000), (300.0, 103_000), (600.0, 104_000)]
    assert rss_growth(samples, 60.0) == {"start_kb": 100_000, "end_kb": 104_000, "max_kb": 104_000,
                                         "growth": 0.04}
    assert rss_growth(samples[:1], 60.0)["growth"] is None
