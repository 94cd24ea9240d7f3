"""Lighter GET /api/v1/funding-rates. The API reference gives the schema without example values
(apidocs.lighter.xyz, funding-rates), so the fixture follows the schema with plausible values,
including the relayed venues the endpoint mixes in."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.receivers.exchanges import lighter
from services.receivers.frames import FrameError
from shared.events import FundingRate
from tests.fixtures import frame
from tests.receivers.frame_checks import RECV_TS, assert_event

NEXT_HOUR_US = (RECV_TS // 3_600_000_000 + 1) * 3_600_000_000


def test_only_lighter_rows_become_hourly_funding() -> None:
    events = lighter.parse_funding_rates(frame("lighter", "funding-rates"), RECV_TS)
    assert [e.raw_symbol for e in events] == [
        "ETH",
        "BTC",
    ]  # binance and hyperliquid rows are relayed, skipped
    # rate 0.00008 over 8 h -> 0.00001 an hour; * 24 * 365 = 0.0876
    assert_event(
        events[0],
        FundingRate,
        exchange="lighter",
        symbol="ETH-USD-PERP",
        raw_symbol="ETH",
        rate=Decimal("0.00001"),
        interval_hours=Decimal(1),
        annualized=Decimal("0.08760"),
        next_funding_ts=NEXT_HOUR_US,
        ts=RECV_TS,
        recv_ts=RECV_TS,
    )
    # -0.000024 / 8 = -0.000003 an hour; * 8760 = -0.026280
    assert (events[1].rate, events[1].annualized) == (Decimal("-0.000003"), Decimal("-0.026280"))


def test_wanted_coins_only() -> None:
    events = lighter.parse_funding_rates(frame("lighter", "funding-rates"), RECV_TS, coins={"BTC"})
    assert [e.symbol for e in events] == ["BTC-USD-PERP"]


@pytest.mark.parametrize(
    "raw",
    [
        b'{"code":400,"message":"bad request"}',
        b'{"code":200,"funding_rates":[{"market_id":0,"exchange":"lighter","symbol":"ETH","rate":"x"}]}',
        b'{"code":200,"funding_rates":[{"market_id":0,"exchange":"lighter","symbol":"E/TH","rate":0.1}]}',
    ],
)
def test_bad_answers_are_frame_errors(raw: bytes) -> None:
    with pytest.raises(FrameError):
        lighter.parse_funding_rates(raw, RECV_TS)
