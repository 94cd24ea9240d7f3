"""Normalization, weighted scores, ranking and minimums, on the three traders of
test_leaderboard_metrics.py (scores computed by hand in each test's comment)."""
from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest

from services.processor.leaderboard_rank import Minimums, normalized, rank, score_weights
from shared.settings import TraderSettings
from tests.processor.test_leaderboard_metrics import ALICE, BOB, CAROL, EXPECTED

D = Decimal
THREE = [EXPECTED[ALICE], EXPECTED[BOB], EXPECTED[CAROL]]


def test_min_max_normalization_and_its_inversion() -> None:
    assert normalized([D(1), D(2), D(3)]) == [D(0), D("0.5"), D(1)]
    assert normalized([D(1), D(2), D(3)], inverted=True) == [D(1), D("0.5"), D(0)]


def test_a_missing_metric_counts_zero_even_when_inverted() -> None:
    assert normalized([D("0.3"), None, D(0)], inverted=True) == [D(0), D(0), D(1)]
    assert normalized([None, None]) == [D(0), D(0)]


def test_a_metric_everyone_shares_earns_everyone_one() -> None:
    assert normalized([D(5), D(5), None]) == [D(1), D(1), D(0)]
    assert normalized([D(5)], inverted=True) == [D(1)]


def test_score_weighs_pnl_against_inverted_drawdown() -> None:
    # pnl: 39.8, 49.49, 23.5 -> (39.8 - 23.5) / 25.99, 1, 0
    # drawdown inverted: 0.3, 0, missing -> 0, 1, 0
    # score = (pnl + drawdown) / 2: alice 0.3135821470, bob 1, carol 0
    ranked = rank(THREE, score_weights({"pnl": 1.0, "drawdown": 1.0}), Minimums())
    assert [(r.rank, r.metrics.address, r.score) for r in ranked] == [
        (1, BOB, D(1)), (2, ALICE, D("0.3135821470")), (3, CAROL, D(0))]


def test_score_with_a_missing_sharpe_and_inverted_risk() -> None:
    # win rate 0.6666666667, 0.5, 1 -> 0.3333333334, 0, 1 (weight 2)
    # risk 2, 0, 1.2 inverted -> 0, 1, 0.4; Sharpe known for bob only -> 0, 1, 0
    # score / 4: alice 0.1666666667, bob 0.5, carol 0.6
    ranked = rank(THREE, score_weights({"win_rate": 2.0, "risk": 1.0, "sharpe": 1.0}), Minimums())
    assert [(r.rank, r.metrics.address, r.score) for r in ranked] == [
        (1, CAROL, D("0.6")), (2, BOB, D("0.5")), (3, ALICE, D("0.1666666667"))]


def test_scores_stay_in_zero_to_one_with_the_default_weights() -> None:
    ranked = rank(THREE, score_weights(TraderSettings().weights), Minimums())
    assert [r.rank for r in ranked] == [1, 2, 3]
    assert all(D(0) <= r.score <= D(1) for r in ranked)
    assert ranked[0].score >= ranked[1].score >= ranked[2].score


def test_minimums_leave_out_young_small_and_untested_traders() -> None:
    # alice: volume 840 < 1000; carol: 4 days < 7; bob alone is ranked, against nobody:
    # every metric earns him 1 and he has them all -> score 1
    minimums = Minimums(age_days=D(7), volume=D(1000), closed_trades=2)
    ranked = rank(THREE, score_weights(TraderSettings().weights), minimums)
    assert [(r.rank, r.metrics.address, r.score) for r in ranked] == [(1, BOB, D(1))]
    assert rank(THREE, score_weights({"pnl": 1.0}), dataclasses.replace(minimums, closed_trades=3)) == []


def test_minimums_come_from_the_settings() -> None:
    config = TraderSettings(min_age_days=7.5, min_volume_usd=1000.0, min_closed_trades=5)
    assert Minimums.of(config) == Minimums(D("7.5"), D(1000), 5)


def test_ties_go_to_the_higher_pnl_then_the_address() -> None:
    twin = dataclasses.replace(EXPECTED[BOB], address="0x" + "0" * 40)
    richer = dataclasses.replace(EXPECTED[BOB], address="0x" + "f" * 40, realized_pnl=D(50))
    ranked = rank([EXPECTED[BOB], twin, richer], score_weights({"volume": 1.0}), Minimums())
    assert [r.metrics.address for r in ranked] == [richer.address, twin.address, BOB]
    assert {r.score for r in ranked} == {D(1)}


def test_an_unknown_weight_name_is_refused() -> None:
    with pytest.raises(ValueError, match="drawdwn"):
        score_weights({"drawdwn": 0.2})
