"""Binance REST (premiumIndex, fundingInfo, openInterest, spot ticker/price) from the documented answers.

Fixtures are the documentation's examples verbatim: Mark-Price, Get-Funding-Rate-Info and
Open-Interest pages (USD-M futures), Symbol-Price-Ticker (spot).
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.receivers.exchanges.binance import rest
from services.receivers.frames import FrameError
from shared.events import FundingRate, OpenInterest, SpotPrice
from tests.fixtures import frame
from tests.receivers.frame_checks import RECV_TS, assert_event


def test_premium_index_is_funding_at_eight_hours() -> None:
    [event] = rest.parse_premium_index(frame("binance", "premiumIndex"), RECV_TS)
    # 0.00038246 per 8 h * 3 a day * 365 days = 0.00038246 * 1095 = 0.4187937
    assert_event(
        event,
        FundingRate,
        exchange="binance",
        symbol="BTC-USDT-PERP",
        raw_symbol="BTCUSDT",
        rate=Decimal("0.00038246"),
        interval_hours=Decimal(8),
        annualized=Decimal("0.41879370"),
        next_funding_ts=1597392000000_000,
        ts=1597370495002_000,
        recv_ts=RECV_TS,
    )


def test_funding_info_interval_overrides_eight_hours() -> None:
    intervals = rest.funding_intervals(frame("binance", "fundingInfo"))
    assert intervals == {"BLZUSDT": Decimal(8)}
    [event] = rest.parse_premium_index(
        frame("binance", "premiumIndex"), RECV_TS, interval_hours={"BTCUSDT": Decimal(4)}
    )
    # 0.00038246 per 4 h * 6 a day * 365 = 0.00038246 * 2190 = 0.8375874
    assert (event.interval_hours, event.annualized) == (Decimal(4), Decimal("0.8375874"))


def test_premium_index_keeps_wanted_symbols_and_skips_delivery_contracts() -> None:
    raw = (
        b'[{"symbol":"BTCUSDT_250328","markPrice":"1","lastFundingRate":"","nextFundingTime":0,"time":1},'
        b'{"symbol":"ETHUSDT","markPrice":"2","lastFundingRate":"0.0001","nextFundingTime":9,"time":1},'
        b'{"symbol":"BTCUSDT","markPrice":"3","lastFundingRate":"0.0002","nextFundingTime":9,"time":1}]'
    )
    assert [e.raw_symbol for e in rest.parse_premium_index(raw, RECV_TS)] == ["ETHUSDT", "BTCUSDT"]
    assert [e.raw_symbol for e in rest.parse_premium_index(raw, RECV_TS, symbols={"BTCUSDT"})] == [
        "BTCUSDT"
    ]


def test_open_interest_in_base_units_and_usd_at_the_mark() -> None:
    [event] = rest.parse_open_interest(
        frame("binance", "openInterest"), RECV_TS, mark_price=Decimal("60000.5")
    )
    # 10659.509 BTC * 60000.5 USD = 639,575,869.7545
    assert_event(
        event,
        OpenInterest,
        exchange="binance",
        symbol="BTC-USDT-PERP",
        raw_symbol="BTCUSDT",
        contracts=Decimal("10659.509"),
        base=Decimal("10659.509"),
        usd=Decimal("639575869.7545"),
        ts=1589437530011_000,
        recv_ts=RECV_TS,
    )
    [bare] = rest.parse_open_interest(frame("binance", "openInterest"), RECV_TS)
    assert bare.usd is None


def test_mark_prices_from_premium_index() -> None:
    assert rest.mark_prices(frame("binance", "premiumIndex")) == {"BTCUSDT": Decimal("11793.63104562")}


def test_spot_ticker_price_carries_the_receive_time() -> None:
    events = rest.parse_ticker_price(frame("binance_spot", "ticker_price"), RECV_TS)
    assert_event(
        events[0],
        SpotPrice,
        exchange="binance",
        symbol="LTC-BTC",
        raw_symbol="LTCBTC",
        price=Decimal("4.00000200"),
        source="exchange",
        ts=RECV_TS,
        recv_ts=RECV_TS,
    )
    assert_event(
        events[1],
        SpotPrice,
        exchange="binance",
        symbol="ETH-BTC",
        raw_symbol="ETHBTC",
        price=Decimal("0.07946600"),
        source="exchange",
        ts=RECV_TS,
        recv_ts=RECV_TS,
    )
    only = rest.parse_ticker_price(frame("binance_spot", "ticker_price"), RECV_TS, symbols={"ETHBTC"})
    assert [e.raw_symbol for e in only] == ["ETHBTC"]


@pytest.mark.parametrize(
    "raw",
    [
        b'{"code":-1121,"msg":"Invalid symbol."}',
        b'[{"symbol":"BTCUSDT","markPrice":"x","lastFundingRate":"0.1","nextFundingTime":1,"time":1}]',
        b'[{"symbol":"BTCUSDT","markPrice":"1","lastFundingRate":"NaN","nextFundingTime":1,"time":1}]',
        b'[{"symbol":"BTCXYZ","markPrice":"1","lastFundingRate":"0.1","nextFundingTime":1,"time":1}]',
    ],
)
def test_bad_premium_index_is_a_frame_error(raw: bytes) -> None:
    with pytest.raises(FrameError):
        rest.parse_premium_index(raw, RECV_TS)


def test_bad_funding_interval_is_a_frame_error() -> None:
    with pytest.raises(FrameError):
        rest.funding_intervals(b'[{"symbol":"BTCUSDT","fundingIntervalHours":0}]')
