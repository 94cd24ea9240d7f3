"""Aster (asterdex) perpetuals: REST funding.

Docs: https://github.com/asterdex/api-docs/blob/master/aster-finance-futures-api.md ("Mark Price",
"Get Funding Rate Config"). Aster's futures API is Binance USD-M's, field for field: the same
GET /fapi/v1/premiumIndex answer and GET /fapi/v1/fundingInfo (fundingIntervalHours per symbol;
fundingFeeCap/Floor are JSON numbers there, unused), so the parsing is binance/rest.py's with
exchange="aster". Both endpoints weigh 1.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from decimal import Decimal

from services.receivers.exchanges.binance import rest as binance
from services.receivers.rest import VenueClient
from services.receivers.venue import RestApi, Venue
from shared.events import AnyEvent, now_us

NAME = "aster"
REST_URL = "https://fapi.asterdex.com"
# LIMITS section: the figures live in /fapi/v1/exchangeInfo rateLimits, the page states none.
# NOT CONFIRMED: 1200 a minute is a conservative guess below Binance's 2400.
REST_WEIGHT_PER_MINUTE = 1200
QUOTE = "USDT"


def parse_premium_index(
    raw: bytes,
    recv_ts: int,
    *,
    symbols: Collection[str] | None = None,
    interval_hours: Mapping[str, Decimal] | None = None,
) -> list[AnyEvent]:
    """premiumIndex -> FundingRate per perpetual; 8 hours unless fundingInfo says otherwise.

    [{"symbol":"BTCUSDT","markPrice":"11793.63104562","indexPrice":"11781.80495970",
      "estimatedSettlePrice":"11781.16138815","lastFundingRate":"0.00038246",
      "nextFundingTime":1597392000000,"interestRate":"0.00010000","time":1597370495002}]
    """
    return binance.parse_premium_index(
        raw, recv_ts, symbols=symbols, interval_hours=interval_hours, exchange=NAME
    )


def funding_intervals(raw: bytes) -> dict[str, Decimal]:
    """fundingInfo -> symbol: interval hours.

    [{"symbol":"INJUSDT","interestRate":"0.00010000","time":1756197479000,"fundingIntervalHours":8,
      "fundingFeeCap":0.03,"fundingFeeFloor":-0.03}]
    """
    return binance.funding_intervals(raw)


async def fetch_funding(client: VenueClient, assets: Sequence[str]) -> list[AnyEvent]:
    """Every symbol's premiumIndex in one call, and the funding intervals in another."""
    raw = await client.get("/fapi/v1/premiumIndex", weight=1)
    intervals = funding_intervals(await client.get("/fapi/v1/fundingInfo", weight=1))
    return parse_premium_index(raw, now_us(), symbols={a + QUOTE for a in assets}, interval_hours=intervals)


VENUE = Venue(name=NAME, exchange=NAME, rest=RestApi(REST_URL, REST_WEIGHT_PER_MINUTE),
              fetchers={"funding": fetch_funding})
