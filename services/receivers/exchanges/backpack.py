"""Backpack Exchange perpetuals: REST funding from the mark prices.

Docs: https://docs.backpack.exchange/#tag/Markets/operation/get_mark_prices (GET /api/v1/markPrices:
"mark price, index price and the funding rate for the current interval") and
https://docs.backpack.exchange/#tag/Markets/operation/get_markets ("fundingInterval: Funding
interval for perpetuals in milliseconds"). The reference gives schemas without values; the
fixture's values are a recorded answer (e-time/taolifunding docs/backpack-funding-api.md).

Quirks:
- No time in the answer: events carry the receive time.
- nextFundingTimestamp is in milliseconds ("The end time of the current interval").
- Perpetuals are BASE_USDC_PERP; the interval comes from /api/v1/markets, 1 hour when absent
  (the recorded answers settle on the hour).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from decimal import Decimal

import msgspec

from services.receivers.frames import (
    FrameError,
    decode,
    divide,
    finite,
    funding_rate,
    ms_to_us,
    normalized,
)
from services.receivers.rest import VenueClient
from services.receivers.venue import RestApi, Venue
from shared.events import AnyEvent, now_us

NAME = "backpack"
REST_URL = "https://api.backpack.exchange"
# NOT CONFIRMED: the docs' rate-limit section states no figure; 600 a minute is a guess.
REST_WEIGHT_PER_MINUTE = 600
DEFAULT_FUNDING_INTERVAL_HOURS = Decimal(1)
QUOTE = "USDC"
_HOUR_MS = Decimal(3_600_000)


def symbol_of(raw_symbol: str) -> str:
    """BTC_USDC_PERP -> BTC-USDC-PERP; spot pairs (BTC_USDC) are refused."""
    parts = raw_symbol.split("_")
    if len(parts) != 3 or parts[2] != "PERP" or not all(p.isascii() and p.isalnum() for p in parts[:2]):
        raise FrameError(f"not a perpetual: {raw_symbol!r}")
    return normalized(parts[0], parts[1], perpetual=True)


class Market(msgspec.Struct, frozen=True):
    """One item of GET /api/v1/markets; only what funding needs."""

    symbol: str
    fundingInterval: int | None = None  # ms, perpetuals only


_markets = msgspec.json.Decoder(list[Market])


def funding_intervals(raw: bytes) -> dict[str, Decimal]:
    """markets -> symbol: interval hours, for the markets that state one.

    [{"symbol":"BTC_USDC_PERP","baseSymbol":"BTC","quoteSymbol":"USDC","marketType":"PERP",
      "fundingInterval":3600000, ...}]
    """
    intervals = {}
    for market in decode(_markets, raw):
        if market.fundingInterval is None:
            continue
        if market.fundingInterval <= 0:
            raise FrameError(f"funding interval of {market.fundingInterval} ms for {market.symbol}")
        intervals[market.symbol] = divide(Decimal(market.fundingInterval), _HOUR_MS, "funding interval")
    return intervals


class MarkPrice(msgspec.Struct, frozen=True):
    """One item of GET /api/v1/markPrices."""

    symbol: str  # BTC_USDC_PERP
    fundingRate: Decimal  # "the funding rate for the current interval", a fraction
    markPrice: Decimal
    nextFundingTimestamp: int  # ms
    indexPrice: Decimal | None = None


_mark_prices = msgspec.json.Decoder(list[MarkPrice])


def parse_mark_prices(
    raw: bytes,
    recv_ts: int,
    *,
    symbols: Collection[str] | None = None,
    interval_hours: Mapping[str, Decimal] | None = None,
) -> list[AnyEvent]:
    """markPrices -> FundingRate per perpetual, stamped with the receive time.

    [{"fundingRate":"0.0000125","indexPrice":"285.79854845","markPrice":"285.78212281",
      "nextFundingTimestamp":1759489200000,"symbol":"AAVE_USDC_PERP"}]
    """
    events: list[AnyEvent] = []
    for item in decode(_mark_prices, raw):
        if symbols is not None and item.symbol not in symbols:
            continue
        rate = finite(item.fundingRate, "fundingRate")
        hours = (interval_hours or {}).get(item.symbol, DEFAULT_FUNDING_INTERVAL_HOURS)
        events.append(
            funding_rate(
                NAME,
                symbol_of(item.symbol),
                item.symbol,
                rate,
                hours,
                next_funding_ts=ms_to_us(item.nextFundingTimestamp),
                ts=recv_ts,
                recv_ts=recv_ts,
            )
        )
    return events


async def fetch_funding(client: VenueClient, assets: Sequence[str]) -> list[AnyEvent]:
    """Every perpetual's mark price and funding in one call, the intervals in another."""
    intervals = funding_intervals(await client.get("/api/v1/markets", {"marketType": "PERP"}))
    raw = await client.get("/api/v1/markPrices")
    return parse_mark_prices(
        raw, now_us(), symbols={f"{a}_{QUOTE}_PERP" for a in assets}, interval_hours=intervals
    )


VENUE = Venue(name=NAME, exchange=NAME, rest=RestApi(REST_URL, REST_WEIGHT_PER_MINUTE),
              fetchers={"funding": fetch_funding})
