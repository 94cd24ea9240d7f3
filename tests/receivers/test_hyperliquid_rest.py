"""Hyperliquid info metaAndAssetCtxs from the documented answer (info-endpoint/perpetuals page,
"Retrieve perpetuals asset contexts"), verbatim: universe BTC, ETH, HPOS and their contexts."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.receivers.exchanges.hyperliquid import rest
from services.receivers.frames import FrameError
from shared.events import FundingRate, OpenInterest
from tests.fixtures import frame
from tests.receivers.frame_checks import RECV_TS, assert_event

NEXT_HOUR_US = (RECV_TS // 3_600_000_000 + 1) * 3_600_000_000


def test_funding_is_hourly_and_stamped_with_the_receive_time() -> None:
    events = rest.parse_meta_funding(frame("hyperliquid", "metaAndAssetCtxs"), RECV_TS)
    assert [e.raw_symbol for e in events] == ["BTC", "ETH", "HPOS"]
    # 0.0000125 per hour * 24 * 365 = 0.1095
    assert_event(
        events[0],
        FundingRate,
        exchange="hyperliquid",
        symbol="BTC-USD-PERP",
        raw_symbol="BTC",
        rate=Decimal("0.0000125"),
        interval_hours=Decimal(1),
        annualized=Decimal("0.1095000"),
        next_funding_ts=NEXT_HOUR_US,
        ts=RECV_TS,
        recv_ts=RECV_TS,
    )


def test_open_interest_in_coins_and_usd_at_the_mark() -> None:
    events = rest.parse_meta_open_interest(
        frame("hyperliquid", "metaAndAssetCtxs"), RECV_TS, coins={"ETH"}
    )
    # 1882.55 coins * 6.0436 = 11295.30 + 82.07918 = 11377.37918
    assert_event(
        events[0],
        OpenInterest,
        exchange="hyperliquid",
        symbol="ETH-USD-PERP",
        raw_symbol="ETH",
        contracts=Decimal("1882.55"),
        base=Decimal("1882.55"),
        usd=Decimal("11377.379180"),
        ts=RECV_TS,
        recv_ts=RECV_TS,
    )


def test_delisted_assets_are_skipped() -> None:
    raw = (
        b'[{"universe":[{"name":"LOOM","szDecimals":1,"isDelisted":true}]},'
        b'[{"funding":"0.0","openInterest":"0.0","markPx":"0.05"}]]'
    )
    assert rest.parse_meta_funding(raw, RECV_TS) == []


@pytest.mark.parametrize(
    "raw",
    [
        b'[{"universe":[{"name":"BTC"},{"name":"ETH"}]},[{"funding":"0.1","openInterest":"1","markPx":"2"}]]',
        b'[{"universe":[{"name":"BTC"}]},[{"funding":"x","openInterest":"1","markPx":"2"}]]',
        b'{"universe":[]}',
    ],
)
def test_bad_answers_are_frame_errors(raw: bytes) -> None:
    with pytest.raises(FrameError):
        rest.parse_meta_funding(raw, RECV_TS)
