"""The price of each holding for the portfolio sync, and where it came from: tradehub's own stored
prices first (spot_prices, then the venue's latest candle), then the venue's mark from the account's
snapshot, then the venue's spot ticker (its REST fetcher), else none. Each price says its source
and age, so a valuation on an old or borrowed price is visible.

MarkPrice events are not stored (services/processor/sinks.py): the stored "mark" is the candle
close of the perpetual itself, beside the spot price of its base asset.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal

import asyncpg
import msgspec

from services.receivers.capabilities import CAPABILITIES, fetcher
from services.receivers.rest import RestError, VenueClient
from shared.config import Settings
from shared.events import SpotPrice

log = logging.getLogger(__name__)
DOLLARS = frozenset({"USD", "USDT", "USDC"})  # valued at par: price_source "par"
QUOTES = ("USDT", "USD", "USDC")  # a base asset's stored spot pairs, any of these quotes
US_PER_S = Decimal(1_000_000)

# the freshest stored spot price of the asset against a dollar, from any exchange or oracle
SPOT_QUERY = """
SELECT exchange, price, ts FROM spot_prices
WHERE symbol = ANY($1::text[]) AND ts >= $2
ORDER BY ts DESC LIMIT 1
"""
# the venue's own latest candle of the symbol (its perpetual, or its spot pair)
CANDLE_QUERY = """
SELECT exchange, close AS price, ts FROM candles
WHERE exchange = $1 AND symbol = $2 AND interval = '1m' AND ts >= $3
ORDER BY ts DESC LIMIT 1
"""


@dataclass(frozen=True)
class Price:
    value: Decimal | None
    source: str  # spot_prices:<exchange>, candles:<exchange>, venue_mark, ticker:<venue>, par, none
    age_s: Decimal | None


NO_PRICE = Price(None, "none", None)


def base_of(symbol_or_asset: str) -> str:
    """BTC-USDT-PERP, BTC-USDT and BTC all -> BTC."""
    return symbol_or_asset.split("-", 1)[0]


def _age(now_us: int, ts_us: int) -> Decimal:
    return Decimal(max(0, now_us - ts_us)) / US_PER_S


async def stored_price(conn: asyncpg.Connection, exchange: str, symbol: str, now_us: int,
                       max_age_s: float) -> Price | None:
    """The fresher of the stored spot price of the base asset and the venue's own candle."""
    oldest = now_us - int(max_age_s * 1_000_000)
    base = base_of(symbol)
    spot = await conn.fetchrow(SPOT_QUERY, [f"{base}-{quote}" for quote in QUOTES], oldest)
    candle = await conn.fetchrow(CANDLE_QUERY, exchange, symbol, oldest) if "-" in symbol else None
    found = [(row["ts"], kind, row) for kind, row in (("spot_prices", spot), ("candles", candle)) if row]
    if not found:
        return None
    ts, kind, row = max(found, key=lambda item: item[0])
    return Price(row["price"], f"{kind}:{row['exchange']}", _age(now_us, ts))


def ticker_venue(venue: str) -> str | None:
    """The venue (or its spot market) that has a spot price fetcher."""
    able = CAPABILITIES["spot"]
    return next((v for v in (venue, f"{venue}_spot") if v in able), None)


async def ticker_prices(settings: Settings, client: VenueClient, venue: str, assets: list[str],
                        now_us: int) -> dict[str, Price]:
    """asset -> the venue's spot ticker price against a dollar; {} when it has none or fails."""
    if not assets:
        return {}
    try:
        events = await fetcher(settings, "spot", venue)(client, sorted(set(assets)))
    except (RestError, msgspec.MsgspecError, ValueError) as exc:
        log.warning("ticker prices not read", extra={"venue": venue, "error": repr(exc)[:300]})
        return {}
    found: dict[str, Price] = {}
    for event in events:
        if isinstance(event, SpotPrice) and event.symbol.split("-")[1:2] in ([q] for q in QUOTES):
            price = Price(event.price, f"ticker:{venue}", _age(now_us, event.ts))
            found.setdefault(base_of(event.symbol), price)
    return found
