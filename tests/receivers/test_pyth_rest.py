"""Pyth Hermes /v2/updates/price/latest. The BTC/USD update is a captured answer (a client's test
fixture); the ETH/USD one carries the values of the Hermes page's documented example
(api/latest_price_feeds) in the v2 "parsed" layout; the binary blob is cut short (unused)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.receivers.exchanges import pyth
from services.receivers.frames import FrameError
from shared.events import SpotPrice
from tests.fixtures import frame
from tests.receivers.frame_checks import RECV_TS, assert_event

BTC = "e62df6c8b4a85fe1a67db44dc12de5db330f7ac66b72dc658afedf0f4a415b43"
ETH = "0xFF61491A931112DDF1BD8147CD1B641375F79F5825126D665480874634FD0ACE"  # as a user may write it


def test_prices_are_mantissa_times_ten_to_the_expo_at_publish_time() -> None:
    events = pyth.parse_latest(frame("pyth", "price_latest"), RECV_TS, feeds={BTC: "BTC", ETH: "ETH"})
    # 6271068500001 * 10^-8 = 62710.68500001; publish_time in seconds
    assert_event(
        events[0],
        SpotPrice,
        exchange="pyth",
        symbol="BTC-USD",
        raw_symbol=BTC,
        price=Decimal("62710.68500001"),
        source="oracle",
        ts=1785738586_000_000,
        recv_ts=RECV_TS,
    )
    assert_event(
        events[1],
        SpotPrice,
        exchange="pyth",
        symbol="ETH-USD",
        raw_symbol=ETH[2:].lower(),
        price=Decimal("1841.36023127"),
        source="oracle",
        ts=1692110601_000_000,
        recv_ts=RECV_TS,
    )


def test_feeds_not_asked_for_are_skipped() -> None:
    events = pyth.parse_latest(frame("pyth", "price_latest"), RECV_TS, feeds={ETH: "ETH"})
    assert [e.symbol for e in events] == ["ETH-USD"]


@pytest.mark.parametrize(
    "raw",
    [
        b'{"parsed":[{"id":"e62df6c8b4a85fe1a67db44dc12de5db330f7ac66b72dc658afedf0f4a415b43",'
        b'"price":{"price":"1.5","conf":"1","expo":-8,"publish_time":1}}]}',
        b'{"parsed":[{"id":"e62df6c8b4a85fe1a67db44dc12de5db330f7ac66b72dc658afedf0f4a415b43",'
        b'"price":{"price":"15","conf":"1","expo":-99,"publish_time":1}}]}',
        b'{"parsed":[{"id":"e62df6c8b4a85fe1a67db44dc12de5db330f7ac66b72dc658afedf0f4a415b43"}]}',
    ],
)
def test_bad_updates_are_frame_errors(raw: bytes) -> None:
    with pytest.raises(FrameError):
        pyth.parse_latest(raw, RECV_TS, feeds={BTC: "BTC"})
