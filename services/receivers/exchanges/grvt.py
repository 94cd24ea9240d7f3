"""GRVT perpetuals: REST funding from the market-data ticker.

Docs: https://api-docs.grvt.io/market_data_api/ ("Ticker", FULL ENDPOINT full/v1/ticker; "All
requests should be made using the POST HTTP method") and the funding schema
https://api-docs.grvt.io/schemas/api_funding_rate_response/.

Quirks:
- funding_rate is "expressed in percentage points" (api_funding_rate_response schema): "0.01"
  means 0.01 % = 0.0001 as a fraction, so it is divided by 100.
- Times are unix NANOseconds, as strings (event_time, next_funding_time).
- funding_interval_hours ("Funding interval in hours (e.g. 1/4/8/etc)") appears in newer answers;
  absent, 8 hours (the interval of funding_rate_8h_curr).
- Instruments are BASE_QUOTE_Perp: BTC_USDT_Perp -> BTC-USDT-PERP.
The documented example tickers come from ccxt's grvt.ts (fetchTicker, watchTicker), which copies
them from live answers; the ticker page itself lists fields without values.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import msgspec

from services.receivers.frames import (
    FrameError,
    decimal_of,
    decode,
    divide,
    finite,
    funding_rate,
    normalized,
)
from services.receivers.rest import VenueClient
from services.receivers.venue import RestApi, Venue
from shared.events import AnyEvent, now_us

NAME = "grvt"
REST_URL = "https://market-data.grvt.io"
# NOT CONFIRMED: the rate limits of market data are not in the pages we could search; 600 a
# minute is a conservative guess.
REST_WEIGHT_PER_MINUTE = 600
DEFAULT_FUNDING_INTERVAL_HOURS = Decimal(8)
PERCENT = Decimal(100)
QUOTE = "USDT"


def _ns_to_us(text: str, what: str) -> int:
    if not (text.isascii() and text.isdigit() and len(text) < 22):
        raise FrameError(f"{what} is not a nanosecond time: {text!r}")
    return int(text) // 1000


def symbol_of(instrument: str) -> str:
    """BTC_USDT_Perp -> BTC-USDT-PERP; futures and options are refused."""
    parts = instrument.split("_")
    if len(parts) != 3 or parts[2] != "Perp" or not all(p.isascii() and p.isalnum() for p in parts[:2]):
        raise FrameError(f"not a perpetual: {instrument!r}")
    return normalized(parts[0], parts[1], perpetual=True)


class Ticker(msgspec.Struct, frozen=True):
    """result of full/v1/ticker; numbers are strings."""

    instrument: str  # BTC_USDT_Perp
    event_time: str  # unix nanoseconds
    funding_rate: str  # percentage points per funding interval
    next_funding_time: str = ""  # unix nanoseconds
    funding_interval_hours: int | None = None  # newer answers
    mark_price: Decimal | None = None
    open_interest: Decimal | None = None  # base currency
    funding_rate_8h_curr: str = ""  # the same rate scaled to 8 hours (unused)


class TickerResponse(msgspec.Struct, frozen=True):
    result: Ticker


_ticker = msgspec.json.Decoder(TickerResponse)


def parse_ticker(raw: bytes, recv_ts: int) -> list[AnyEvent]:
    """full/v1/ticker -> FundingRate: percentage points / 100, over funding_interval_hours.

    {"result":{"event_time":"1767199535382794823","instrument":"BTC_USDT_Perp",
     "mark_price":"87439.392166151","funding_rate_8h_curr":"0.01","funding_rate":"0.01",
     "funding_interval_hours":8,"next_funding_time":"1767225600000000000",
     "open_interest":"1914.093886738", ...}}
    """
    t = decode(_ticker, raw).result
    rate = divide(decimal_of(t.funding_rate, "funding_rate"), PERCENT, "funding rate")
    hours = (
        DEFAULT_FUNDING_INTERVAL_HOURS
        if t.funding_interval_hours is None
        else Decimal(t.funding_interval_hours)
    )
    return [
        funding_rate(
            NAME,
            symbol_of(t.instrument),
            t.instrument,
            finite(rate, "funding rate"),
            hours,
            next_funding_ts=_ns_to_us(t.next_funding_time, "next_funding_time")
            if t.next_funding_time
            else None,
            ts=_ns_to_us(t.event_time, "event_time"),
            recv_ts=recv_ts,
        )
    ]


async def fetch_funding(client: VenueClient, assets: Sequence[str]) -> list[AnyEvent]:
    """The ticker answers one instrument per POST."""
    events: list[AnyEvent] = []
    for asset in assets:
        raw = await client.post("/full/v1/ticker", {"instrument": f"{asset}_{QUOTE}_Perp"})
        events += parse_ticker(raw, now_us())
    return events


VENUE = Venue(name=NAME, exchange=NAME, rest=RestApi(REST_URL, REST_WEIGHT_PER_MINUTE),
              fetchers={"funding": fetch_funding})
