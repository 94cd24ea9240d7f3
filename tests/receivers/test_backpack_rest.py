"""Backpack GET /api/v1/markPrices and /api/v1/markets. The reference gives schemas without
values: markPrices.json is a recorded answer (e-time/taolifunding docs/backpack-funding-api.md),
markets.json follows the markets schema (fundingInterval in milliseconds)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.receivers.exchanges import backpack
from services.receivers.frames import FrameError
from shared.events import FundingRate
from tests.fixtures import frame
from tests.receivers.frame_checks import RECV_TS, assert_event


def test_mark_prices_are_funding_over_the_market_interval() -> None:
    intervals = backpack.funding_intervals(frame("backpack", "markets"))
    assert intervals == {"AAVE_USDC_PERP": Decimal(1), "APT_USDC_PERP": Decimal(8)}  # spot SOL_USDC has none
    events = backpack.parse_mark_prices(frame("backpack", "markPrices"), RECV_TS, interval_hours=intervals)
    assert [e.raw_symbol for e in events] == ["0G_USDC_PERP", "AAVE_USDC_PERP", "APT_USDC_PERP"]
    # 0.0000125 an hour * 8760 = 0.1095
    assert_event(
        events[1],
        FundingRate,
        exchange="backpack",
        symbol="AAVE-USDC-PERP",
        raw_symbol="AAVE_USDC_PERP",
        rate=Decimal("0.0000125"),
        interval_hours=Decimal(1),
        annualized=Decimal("0.1095000"),
        next_funding_ts=1759489200000_000,
        ts=RECV_TS,
        recv_ts=RECV_TS,
    )
    # -0.000028398 per 8 h * 1095 = -0.031095810
    assert (events[2].interval_hours, events[2].annualized) == (Decimal(8), Decimal("-0.03109581"))
    assert events[0].interval_hours == Decimal(1)  # not in markets: one hour


def test_wanted_symbols_only() -> None:
    events = backpack.parse_mark_prices(frame("backpack", "markPrices"), RECV_TS, symbols={"APT_USDC_PERP"})
    assert [e.symbol for e in events] == ["APT-USDC-PERP"]


@pytest.mark.parametrize(
    "raw",
    [
        b'[{"symbol":"SOL_USDC","fundingRate":"0","markPrice":"1","nextFundingTimestamp":1}]',
        b'[{"symbol":"SOL_USDC_PERP","fundingRate":"x","markPrice":"1","nextFundingTimestamp":1}]',
        b'{"code":"INVALID_MARKET","message":"Invalid market"}',
    ],
)
def test_bad_mark_prices_are_frame_errors(raw: bytes) -> None:
    with pytest.raises(FrameError):
        backpack.parse_mark_prices(raw, RECV_TS)


def test_bad_interval_is_a_frame_error() -> None:
    with pytest.raises(FrameError):
        backpack.funding_intervals(b'[{"symbol":"SOL_USDC_PERP","fundingInterval":0}]')
