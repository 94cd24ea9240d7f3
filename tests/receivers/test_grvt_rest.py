"""GRVT full/v1/ticker. The ticker page lists fields without values; the fixture is the example
ccxt's grvt.ts copies from a live answer (funding_interval_hours included, as in newer answers)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.receivers.exchanges import grvt
from services.receivers.frames import FrameError
from shared.events import FundingRate
from tests.fixtures import frame
from tests.receivers.frame_checks import RECV_TS, assert_event


def test_ticker_funding_is_percentage_points() -> None:
    [event] = grvt.parse_ticker(frame("grvt", "ticker"), RECV_TS)
    # "0.01" percentage points = 0.0001 per 8 h; * 1095 = 0.1095; nanoseconds // 1000 = microseconds
    assert_event(
        event,
        FundingRate,
        exchange="grvt",
        symbol="BTC-USDT-PERP",
        raw_symbol="BTC_USDT_Perp",
        rate=Decimal("0.0001"),
        interval_hours=Decimal(8),
        annualized=Decimal("0.1095"),
        next_funding_ts=1767225600000000,
        ts=1767199535382794,
        recv_ts=RECV_TS,
    )


def test_interval_defaults_to_eight_hours() -> None:
    raw = b'{"result":{"event_time":"1000","instrument":"ETH_USDT_Perp","funding_rate":"-0.02"}}'
    [event] = grvt.parse_ticker(raw, RECV_TS)
    assert (event.rate, event.interval_hours, event.next_funding_ts, event.ts) == (
        Decimal("-0.0002"),
        Decimal(8),
        None,
        1,
    )


@pytest.mark.parametrize(
    "raw",
    [
        b'{"result":{"event_time":"1","instrument":"BTC_USDT_Fut_20Oct23","funding_rate":"0.01"}}',
        b'{"result":{"event_time":"soon","instrument":"BTC_USDT_Perp","funding_rate":"0.01"}}',
        b'{"result":{"event_time":"1","instrument":"BTC_USDT_Perp","funding_rate":"0.01","funding_interval_hours":0}}',
        b'{"code":1000,"message":"You need to authenticate prior to using this functionality"}',
    ],
)
def test_bad_tickers_are_frame_errors(raw: bytes) -> None:
    with pytest.raises(FrameError):
        grvt.parse_ticker(raw, RECV_TS)
