"""Lighter (zkLighter) perpetuals, the market side: REST funding rates.

Docs: https://apidocs.lighter.xyz/reference/funding-rates (GET /api/v1/funding-rates). The reference
gives the schema only (FundingRates: code, message, funding_rates[] of market_id, exchange, symbol,
rate), no example values, so tests/fixtures/lighter/funding-rates.json follows that schema.

Quirks:
- The endpoint relays other venues too ("Get funding rates across venues"): `exchange` is one of
  binance, bybit, hyperliquid, lighter, and only the "lighter" rows are Lighter's own.
- `rate` is a bare JSON number whose period the reference does not state. Lighter settles every
  hour (lighter-go examples/market_data/funding_rates: "Funding rates are charged/credited every
  hour"); the df-lighter-core SDK (docs.rs, markets/funding.rs, from recordings) reads `rate` as
  the eight-hour rate, a fraction. We follow it: the hourly rate is rate / 8. NOT CONFIRMED by
  Lighter's own documentation; the annualized figure is the same either way.
- No time in the answer: events carry the receive time; the next funding is the next full hour.
- Coins are bare ("ETH"), quoted and margined in USDC; named BASE-USD-PERP like Hyperliquid's,
  a dollar perp whatever the collateral token.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from decimal import Decimal

import msgspec

from services.receivers.frames import FrameError, decode, divide, finite, funding_rate, normalized
from services.receivers.rest import VenueClient
from shared.events import AnyEvent, now_us

NAME = "lighter"
REST_URL = "https://mainnet.zklighter.elliot.ai"
# Rate limits page: a standard account gets 60 requests a minute per IP. NOT CONFIRMED: the
# reference we could search did not state the figure; 60 is the figure third-party clients use.
REST_WEIGHT_PER_MINUTE = 60
RELAYED_PERIOD_HOURS = Decimal(8)  # `rate` is read as an eight-hour rate (see above)
FUNDING_INTERVAL_HOURS = Decimal(1)  # Lighter settles every hour
_HOUR_US = 3600 * 1_000_000


class RelayedRate(msgspec.Struct, frozen=True):
    """One row of funding_rates."""

    market_id: int
    exchange: str  # binance | bybit | hyperliquid | lighter
    symbol: str  # bare coin, "ETH"
    rate: Decimal  # a JSON number, decoded to Decimal from its text


class FundingRates(msgspec.Struct, frozen=True):
    code: int  # 200 on success
    funding_rates: list[RelayedRate] = []
    message: str = ""


_funding_rates = msgspec.json.Decoder(FundingRates)


def parse_funding_rates(raw: bytes, recv_ts: int, *, coins: Collection[str] | None = None) -> list[AnyEvent]:
    """funding-rates -> FundingRate per Lighter market (the relayed venues are skipped), hourly.

    {"code":200,"funding_rates":[{"market_id":0,"exchange":"lighter","symbol":"ETH","rate":0.0001},
     {"market_id":0,"exchange":"binance","symbol":"ETH","rate":0.00008}]}
    """
    msg = decode(_funding_rates, raw)
    if msg.code != 200:
        raise FrameError(f"lighter code {msg.code}: {msg.message}")
    events: list[AnyEvent] = []
    for row in msg.funding_rates:
        if row.exchange != NAME or (coins is not None and row.symbol not in coins):
            continue
        if not (row.symbol.isascii() and row.symbol.isalnum()):
            raise FrameError(f"unsupported symbol {row.symbol!r}")
        rate = divide(finite(row.rate, "rate"), RELAYED_PERIOD_HOURS / FUNDING_INTERVAL_HOURS, "hourly rate")
        events.append(
            funding_rate(
                NAME,
                normalized(row.symbol, "USD", perpetual=True),
                row.symbol,
                rate,
                FUNDING_INTERVAL_HOURS,
                next_funding_ts=(recv_ts // _HOUR_US + 1) * _HOUR_US,
                ts=recv_ts,
                recv_ts=recv_ts,
            )
        )
    return events


async def fetch_funding(client: VenueClient, assets: Sequence[str]) -> list[AnyEvent]:
    """One call answers every market."""
    raw = await client.get("/api/v1/funding-rates")
    return parse_funding_rates(raw, now_us(), coins=set(assets))

