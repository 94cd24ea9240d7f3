"""Jupiter Price API V3, the example of dev.jup.ag/api-reference/price/v3/price verbatim."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.receivers.exchanges import jupiter
from services.receivers.frames import FrameError
from shared.events import SpotPrice
from tests.fixtures import frame
from tests.receivers.frame_checks import RECV_TS, assert_event

SOL = "So11111111111111111111111111111111111111112"
USDC = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"


def test_prices_of_the_configured_mints() -> None:
    events = jupiter.parse_price(frame("jupiter", "price_v3"), RECV_TS, mints={SOL: "SOL", USDC: "USDC"})
    # usdPrice is a JSON number: decoded from its text, 147.48 stays 147.48
    assert_event(
        events[0],
        SpotPrice,
        exchange="jupiter",
        symbol="SOL-USD",
        raw_symbol=SOL,
        price=Decimal("147.48"),
        source="oracle",
        ts=RECV_TS,
        recv_ts=RECV_TS,
    )
    assert_event(
        events[1],
        SpotPrice,
        exchange="jupiter",
        symbol="USDC-USD",
        raw_symbol=USDC,
        price=Decimal("0.9999"),
        source="oracle",
        ts=RECV_TS,
        recv_ts=RECV_TS,
    )


def test_mints_not_asked_for_are_skipped() -> None:
    assert [
        e.symbol for e in jupiter.parse_price(frame("jupiter", "price_v3"), RECV_TS, mints={SOL: "SOL"})
    ] == ["SOL-USD"]


@pytest.mark.parametrize(
    "raw",
    [
        b'{"So11111111111111111111111111111111111111112":{"usdPrice":"abc"}}',
        b'{"So11111111111111111111111111111111111111112":{"blockId":1}}',
        b"[]",
    ],
)
def test_bad_answers_are_frame_errors(raw: bytes) -> None:
    with pytest.raises(FrameError):
        jupiter.parse_price(raw, RECV_TS, mints={SOL: "SOL"})
