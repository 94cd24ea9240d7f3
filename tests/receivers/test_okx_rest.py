"""OKX REST: get-funding-rate, get-open-interest, get-tickers (SPOT) from the documented answers.

Fixtures: https://www.okx.com/docs-v5/en/#public-data-rest-api-get-funding-rate and
#public-data-rest-api-get-open-interest verbatim; the documented ticker example is a swap
(BTC-USD-SWAP), so the spot fixture is that answer with instType SPOT and instId BTC-USDT.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.receivers.exchanges import okx
from services.receivers.frames import FrameError
from shared.events import FundingRate, OpenInterest, SpotPrice
from tests.fixtures import frame
from tests.receivers.frame_checks import RECV_TS, assert_event


def test_funding_rate_interval_is_the_distance_between_settlements() -> None:
    [event] = okx.parse_rest_funding(frame("okx", "rest_funding-rate"), RECV_TS)
    # nextFundingTime - fundingTime = 1703116800000 - 1703088000000 = 28,800,000 ms = 8 h
    # 0.0000792386885340 * 1095 = 0.086766363944730
    assert_event(
        event,
        FundingRate,
        exchange="okx",
        symbol="BTC-USDT-PERP",
        raw_symbol="BTC-USDT-SWAP",
        rate=Decimal("0.0000792386885340"),
        interval_hours=Decimal(8),
        annualized=Decimal("0.0867663639447300"),
        next_funding_ts=1703088000000_000,
        ts=1703070685309_000,
        recv_ts=RECV_TS,
    )


def test_open_interest_in_contracts_coins_and_usd() -> None:
    [event] = okx.parse_rest_open_interest(frame("okx", "rest_open-interest"), RECV_TS)
    assert_event(
        event,
        OpenInterest,
        exchange="okx",
        symbol="BTC-USDT-PERP",
        raw_symbol="BTC-USDT-SWAP",
        contracts=Decimal("5000"),
        base=Decimal("555.55"),
        usd=Decimal("50000"),
        ts=1597026383085_000,
        recv_ts=RECV_TS,
    )


def test_spot_ticker_is_the_last_price() -> None:
    [event] = okx.parse_rest_spot(frame("okx", "rest_tickers_spot"), RECV_TS)
    assert_event(
        event,
        SpotPrice,
        exchange="okx",
        symbol="BTC-USDT",
        raw_symbol="BTC-USDT",
        price=Decimal("9999.99"),
        source="exchange",
        ts=1597026383085_000,
        recv_ts=RECV_TS,
    )


def test_unwanted_instruments_are_skipped() -> None:
    assert (
        okx.parse_rest_open_interest(frame("okx", "rest_open-interest"), RECV_TS, inst_ids={"ETH-USDT-SWAP"})
        == []
    )


def test_missing_next_funding_time_means_eight_hours() -> None:
    raw = (
        b'{"code":"0","data":[{"instId":"ETH-USDT-SWAP","fundingRate":"0.0001","fundingTime":"1",'
        b'"nextFundingTime":"","ts":"1"}],"msg":""}'
    )
    [event] = okx.parse_rest_funding(raw, RECV_TS)
    assert event.interval_hours == Decimal(8)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"code":"51001","msg":"Instrument ID does not exist","data":[]}',
        b'{"code":"0","data":[{"instId":"BTC-USDT-SWAP","fundingRate":"0.1","fundingTime":"5","nextFundingTime":"5",'
        b'"ts":"1"}]}',
        b'{"code":"0","data":[{"instId":"BTC-USDT-SWAP","fundingRate":"0.1","fundingTime":"5","nextFundingTime":"x",'
        b'"ts":"1"}]}',
    ],
)
def test_bad_funding_is_a_frame_error(raw: bytes) -> None:
    with pytest.raises(FrameError):
        okx.parse_rest_funding(raw, RECV_TS)
