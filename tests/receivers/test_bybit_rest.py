"""Bybit REST tickers (category linear and spot) from the documented answers.

Fixtures: https://bybit-exchange.github.io/docs/v5/market/tickers. The spot answer is the
documented one verbatim. The page's only derivatives example is an inverse contract, so the
linear fixture is that answer's shape with the linear BTCUSDT values of the documented ticker
push (/docs/v5/websocket/public/ticker) and the fundingIntervalHour/fundingCap fields newer
versions of the page show.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.receivers.exchanges import bybit
from services.receivers.frames import FrameError
from shared.events import FundingRate, OpenInterest, SpotPrice
from tests.fixtures import frame
from tests.receivers.frame_checks import RECV_TS, assert_event

TIME_US = 1673272861686_000  # the answer's "time": every event of it is stamped with it


def test_linear_tickers_are_funding() -> None:
    [event] = bybit.parse_rest_funding(frame("bybit", "rest_tickers_linear"), RECV_TS)
    # -0.000212 per 8 h * 1095 = -0.232140
    assert_event(
        event,
        FundingRate,
        exchange="bybit",
        symbol="BTC-USDT-PERP",
        raw_symbol="BTCUSDT",
        rate=Decimal("-0.000212"),
        interval_hours=Decimal(8),
        annualized=Decimal("-0.232140"),
        next_funding_ts=1673280000000_000,
        ts=TIME_US,
        recv_ts=RECV_TS,
    )


def test_linear_tickers_are_open_interest() -> None:
    [event] = bybit.parse_rest_open_interest(frame("bybit", "rest_tickers_linear"), RECV_TS)
    assert_event(
        event,
        OpenInterest,
        exchange="bybit",
        symbol="BTC-USDT-PERP",
        raw_symbol="BTCUSDT",
        contracts=Decimal("68744.761"),
        base=Decimal("68744.761"),
        usd=Decimal("1183601235.91"),
        ts=TIME_US,
        recv_ts=RECV_TS,
    )


def test_spot_tickers_are_spot_prices() -> None:
    [event] = bybit.parse_rest_spot(frame("bybit", "rest_tickers_spot"), RECV_TS)
    assert_event(
        event,
        SpotPrice,
        exchange="bybit",
        symbol="BTC-USDT",
        raw_symbol="BTCUSDT",
        price=Decimal("20533.13"),
        source="exchange",
        ts=1673859087947_000,
        recv_ts=RECV_TS,
    )


def test_interval_hours_from_the_answer_and_unwanted_symbols_skipped() -> None:
    raw = (
        b'{"retCode":0,"retMsg":"OK","result":{"category":"linear","list":['
        b'{"symbol":"BTC-26DEC25","fundingRate":"","nextFundingTime":"0"},'
        b'{"symbol":"ETHUSDT","fundingRate":"0.0001","nextFundingTime":"0","fundingIntervalHour":"4"},'
        b'{"symbol":"SOLUSDT","fundingRate":"0.0001","nextFundingTime":"1"}]},"time":1}'
    )
    events = bybit.parse_rest_funding(raw, RECV_TS, symbols={"ETHUSDT", "BTC-26DEC25"})
    assert [(e.raw_symbol, e.interval_hours, e.next_funding_ts) for e in events] == [
        ("ETHUSDT", Decimal(4), None)
    ]


@pytest.mark.parametrize(
    "raw",
    [
        b'{"retCode":10001,"retMsg":"params error","result":{},"time":1}',
        b'{"retCode":0,"retMsg":"OK","result":{"list":[{"symbol":"BTCUSDT","fundingRate":"abc"}]},"time":1}',
        b'{"retCode":0,"retMsg":"OK","result":{"list":[{"symbol":"BTCUSDT","fundingRate":"0.1",'
        b'"fundingIntervalHour":"0"}]},"time":1}',
        b"not json",
    ],
)
def test_bad_tickers_are_frame_errors(raw: bytes) -> None:
    with pytest.raises(FrameError):
        bybit.parse_rest_funding(raw, RECV_TS)
