"""Binance all-market streams (binance_all_market = true): every perpetual's funding and liquidations."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.receivers.exchanges.binance import market
from services.receivers.frames import FrameError
from shared.events import FundingRate, Liquidation, MarkPrice
from tests.fixtures import frame
from tests.receivers.frame_checks import RECV_TS


def test_all_mark_prices_skip_delivery_contracts() -> None:
    events = market.parse_frame(frame("binance", "markPrice_arr"), RECV_TS)
    assert [type(e) for e in events] == [MarkPrice, FundingRate]  # BTCUSDT_250627 has no funding
    mark, funding = events
    assert isinstance(mark, MarkPrice) and isinstance(funding, FundingRate)
    assert mark.symbol == "BTC-USDT-PERP" and mark.mark_price == Decimal("11185.87786614")
    assert funding.rate == Decimal("0.00030000") and funding.next_funding_ts == 1562306400000 * 1000


def test_all_market_liquidation_is_one_force_order() -> None:
    [liq] = market.parse_frame(frame("binance", "forceOrder_arr"), RECV_TS)
    assert isinstance(liq, Liquidation)
    assert (liq.symbol, liq.side, liq.price, liq.size) == (
        "ETH-USDT-PERP",
        "buy",
        Decimal("180.05"),
        Decimal("0.5"),
    )


def test_a_bad_item_in_the_mark_price_list_is_a_frame_error() -> None:
    raw = frame("binance", "markPrice_arr").replace(b'"r":"0.00030000"', b'"r":"x"')
    with pytest.raises(FrameError):
        market.parse_frame(raw, RECV_TS)


def test_stream_names_give_their_channel() -> None:
    assert market.channel_of("!markPrice@arr@1s") == "!markPrice"
    assert market.channel_of("!forceOrder@arr") == "!forceOrder"
    assert market.channel_of("btcusdt@markPrice@1s") == "markPrice"
