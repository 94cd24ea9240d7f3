"""Leaderboard metrics against values computed by hand for three traders:
- alice: complete history, an equity curve that starts at 0 (before the first deposit) and falls
  from 1500 to 1050 (the largest drawdown, 30 %), a flip fill among her closes;
- bob: ten daily returns alternating +2 % and 0, enough for a Sharpe;
- carol: tracked for days only, her fill history truncated (fills_complete false), no curve.
The same traders are stored in PostgreSQL by test_leaderboard.py."""
from __future__ import annotations

from decimal import Decimal

import pytest

from services.processor.leaderboard_metrics import (
    DAY_US,
    EquityFigures,
    Fill,
    TraderMetrics,
    TraderRow,
    equity_figures,
    fill_totals,
    is_closing,
    trader_metrics,
)
from shared.events import EquityPoint

D = Decimal
NOW = 100 * DAY_US
ALICE, BOB, CAROL = "0x" + "a" * 40, "0x" + "b" * 40, "0x" + "c" * 40


def day(n: int) -> int:
    return n * DAY_US


FILLS: dict[str, list[Fill]] = {
    ALICE: [
        Fill(day(10), D("100"), D("2"), "Open Long", D("0"), D("0.1")),  # volume 200
        Fill(day(12), D("110"), D("1"), "Close Long", D("10"), D("0.05")),  # 110; +9.95, a win
        Fill(day(13), D("90"), D("1"), "Close Long", D("-10"), D("0.05")),  # 90; -10.05
        Fill(day(14), D("50"), D("4"), "Open Short", D("0"), D("0.1")),  # 200
        Fill(day(15), D("40"), D("6"), "Short > Long", D("40"), D("0.1")),  # 240; +39.9, a win
    ],
    BOB: [
        Fill(day(50), D("2000"), D("0.5"), "Open Long", D("0"), D("0.5")),  # 1000
        Fill(day(51), D("2100"), D("0.5"), "Close Long", D("50"), D("0.5")),  # 1050; +49.5, a win
        Fill(day(52), D("10"), D("10"), "Close Short", D("0"), D("0.01")),  # 100; -0.01, no win
    ],
    CAROL: [  # the newest fills only: the venue served no more
        Fill(day(96), D("30000"), D("0.1"), "Close Short", D("25"), D("1.5")),  # 3000; +23.5, a win
        Fill(day(97), D("30000"), D("0.2"), "Open Long", D("0"), D("3")),  # 6000
    ],
}
# (day, account value, cumulative pnl)
CURVES: dict[str, list[tuple[int, str, str]]] = {
    ALICE: [(8, "0", "0"), (9, "1000", "0"), (10, "1200", "200"), (11, "900", "-100"),
            (12, "1500", "500"), (13, "1050", "50")],
    BOB: [(40 + n, "1000", str(20 * ((n + 1) // 2))) for n in range(11)],  # pnl 0, 20, 20, 40, 40, ...
    CAROL: [],
}
TRADERS = {
    ALICE: TraderRow(ALICE, day(9), day(20), D("1050"), D("2100"), True),
    BOB: TraderRow(BOB, day(45), day(45), D("1000"), D("0"), True),
    CAROL: TraderRow(CAROL, day(90), day(95), D("5000"), D("-6000"), False),
}
# Bob's returns: five of 0.02, five of 0; mean 0.01, sample stdev 0.01 × √(10/9), so
# mean / stdev = √0.9; daily periods: × √365. Sharpe = √328.5
BOB_SHARPE = D("328.5").sqrt().quantize(D("1e-10"))
EXPECTED = {
    ALICE: TraderMetrics(
        ALICE, age_days=D(92), volume=D(840), realized_pnl=D("39.8"), roi=D("0.0398"),
        win_rate=D("0.6666666667"), risk_ratio=D(2), max_drawdown=D("0.3"), sharpe=None, closed_trades=3,
        tracked_since=day(20), fills_complete=True),
    BOB: TraderMetrics(
        BOB, age_days=D(60), volume=D(2150), realized_pnl=D("49.49"), roi=D("0.04949"), win_rate=D("0.5"),
        risk_ratio=D(0), max_drawdown=D(0), sharpe=BOB_SHARPE, closed_trades=2, tracked_since=day(45),
        fills_complete=True),
    CAROL: TraderMetrics(
        CAROL, age_days=D(4), volume=D(9000), realized_pnl=D("23.5"), roi=D("0.0047"), win_rate=D(1),
        risk_ratio=D("1.2"), max_drawdown=None, sharpe=None, closed_trades=1, tracked_since=day(95),
        fills_complete=False),
}


def curve(address: str) -> list[EquityPoint]:
    return [EquityPoint(day(d), D(value), D(pnl)) for d, value, pnl in CURVES[address]]


def metrics_of(address: str) -> TraderMetrics:
    return trader_metrics(TRADERS[address], fill_totals(FILLS[address]), equity_figures(curve(address)), NOW)


@pytest.mark.parametrize("address", [ALICE, BOB, CAROL])
def test_metrics_match_the_hand_computed_values(address: str) -> None:
    assert metrics_of(address) == EXPECTED[address]


def test_drawdown_is_the_largest_fall_from_a_running_peak() -> None:
    figures = equity_figures(curve(ALICE))
    # 1200 -> 900 falls 25 %, 1500 -> 1050 falls 30 %; the 0 before the deposit is no peak
    assert figures.max_drawdown == D("0.3")
    assert figures.start_value == D(1000) and figures.max_value == D(1500) and figures.first_ts == day(8)
    assert figures.sharpe is None  # 4 returns: too few


def test_a_truncated_history_says_so_and_counts_only_what_was_served() -> None:
    carol = metrics_of(CAROL)
    assert carol.fills_complete is False and carol.tracked_since == day(95)
    assert carol.age_days == D(4)  # from the oldest fill served, not the account's real start


def test_closing_fills_are_closes_flips_and_liquidations() -> None:
    assert is_closing("Close Long", False) and is_closing("Close Short", False)
    assert is_closing("Long > Short", False) and is_closing("Short > Long", False)
    assert is_closing("Open Long", True)  # a liquidation realizes whatever its direction says
    assert not is_closing("Open Short", False) and not is_closing("Buy", False)


def test_sharpe_needs_ten_returns_and_some_volatility() -> None:
    nine = [EquityPoint(day(n), D(1000), D(20 * ((n + 1) // 2))) for n in range(10)]
    assert equity_figures(nine).sharpe is None
    flat = [EquityPoint(day(n), D(1000), D(10 * n)) for n in range(11)]  # +1 % every day, no variance
    assert equity_figures(flat).sharpe is None


def test_sharpe_returns_leave_deposits_out() -> None:
    """A deposit doubles the account value without any PnL: it is no return."""
    points = [EquityPoint(day(n), D(1000 if n < 5 else 2000), D(20 * ((n + 1) // 2))) for n in range(11)]
    sharpe = equity_figures(points).sharpe
    assert sharpe is not None and sharpe > 0
    drawdown = equity_figures(points).max_drawdown
    assert drawdown == 0


def test_roi_without_a_curve_uses_the_account_value_and_without_any_is_unknown() -> None:
    row = TraderRow("0x" + "d" * 40, day(99), None, None, None, False)
    nothing = trader_metrics(row, fill_totals([]), EquityFigures(), NOW)
    assert nothing.roi is None and nothing.risk_ratio is None and nothing.win_rate is None
    assert nothing.max_drawdown is None and nothing.sharpe is None
    assert nothing.age_days == D(1) and nothing.volume == 0 and nothing.closed_trades == 0
    zero_curve = equity_figures([EquityPoint(day(1), D(0), D(0))])
    with_value = trader_metrics(TraderRow(row.address, day(99), day(99), D(400), D(100), False),
                                fill_totals(FILLS[BOB]), zero_curve, NOW)
    assert with_value.roi == D("0.123725") and with_value.risk_ratio == D("0.25")
