"""Aster GET /fapi/v1/premiumIndex and /fapi/v1/fundingInfo, the examples of
asterdex/api-docs aster-finance-futures-api.md ("Mark Price", "Get Funding Rate Config") verbatim."""

from __future__ import annotations

from decimal import Decimal

from services.receivers.exchanges import aster
from shared.events import FundingRate
from tests.fixtures import frame
from tests.receivers.frame_checks import RECV_TS, assert_event


def test_premium_index_is_aster_funding() -> None:
    [event] = aster.parse_premium_index(frame("aster", "premiumIndex"), RECV_TS)
    assert_event(
        event,
        FundingRate,
        exchange="aster",
        symbol="BTC-USDT-PERP",
        raw_symbol="BTCUSDT",
        rate=Decimal("0.00038246"),
        interval_hours=Decimal(8),
        annualized=Decimal("0.41879370"),
        next_funding_ts=1597392000000_000,
        ts=1597370495002_000,
        recv_ts=RECV_TS,
    )


def test_funding_config_sets_the_interval() -> None:
    intervals = aster.funding_intervals(frame("aster", "fundingInfo"))
    assert intervals == {"INJUSDT": Decimal(8), "ZORAUSDT": Decimal(4)}
    raw = (
        b'[{"symbol":"ZORAUSDT","markPrice":"0.1","lastFundingRate":"0.00005","nextFundingTime":1756209600000,'
        b'"time":1756197479000}]'
    )
    [event] = aster.parse_premium_index(raw, RECV_TS, interval_hours=intervals)
    # 0.00005 per 4 h * 6 * 365 = 0.1095
    assert (event.symbol, event.interval_hours, event.annualized) == (
        "ZORA-USDT-PERP",
        Decimal(4),
        Decimal("0.1095"),
    )
