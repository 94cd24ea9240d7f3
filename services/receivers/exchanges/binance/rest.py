"""Binance REST market data: funding, spot prices, open interest, and the funding intervals the
markPrice stream does not say.

USD-M: https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api
Spot: https://developers.binance.com/docs/binance-spot-api-docs/rest-api/market-data-endpoints
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from decimal import Decimal
from typing import TypeVar

import msgspec

from services.receivers.exchanges.binance.symbols import (
    FUNDING_INTERVAL_HOURS,
    NAME,
    QUOTE,
    spot_symbol_of,
    symbol_of,
)
from services.receivers.frames import (
    FrameError,
    decimal_of,
    decode,
    finite,
    funding_rate,
    ms_to_us,
    multiply,
    normalized,
    split_concatenated,
)
from services.receivers.rest import VenueClient
from shared.events import AnyEvent, OpenInterest, SpotPrice, now_us


class PremiumIndex(msgspec.Struct, frozen=True):
    """GET /fapi/v1/premiumIndex: mark price and funding of one symbol (Mark-Price page)."""

    symbol: str
    markPrice: Decimal
    lastFundingRate: str  # the rate of the running interval; "" on delivery (dated) contracts
    nextFundingTime: int  # ms; 0 on delivery contracts
    time: int  # ms
    indexPrice: Decimal | None = None  # ("estimatedSettlePrice", "interestRate": unused)


T = TypeVar("T")
_premium_index = msgspec.json.Decoder(PremiumIndex | list[PremiumIndex])


def _listed(items: T | list[T]) -> list[T]:
    """Binance answers one object for ?symbol= and a list without it."""
    return items if isinstance(items, list) else [items]


def parse_premium_index(raw: bytes, recv_ts: int, *, symbols: Collection[str] | None = None,
                        interval_hours: Mapping[str, Decimal] | None = None, exchange: str = NAME,
                        quotes_perpetual: bool = True) -> list[AnyEvent]:
    """premiumIndex (one object, or a list without ?symbol) -> FundingRate per perpetual.

    Delivery contracts (lastFundingRate "") have no funding and are skipped; `symbols` keeps
    only those raw symbols. Aster's futures API answers the same shape (aster.py reuses this).
    {"symbol":"BTCUSDT","markPrice":"11793.63104562","indexPrice":"11781.80495970",
     "estimatedSettlePrice":"11781.16138815","lastFundingRate":"0.00038246","interestRate":"0.00010000",
     "nextFundingTime":1597392000000,"time":1597370495002}
    """
    events: list[AnyEvent] = []
    for item in _listed(decode(_premium_index, raw)):
        if (symbols is not None and item.symbol not in symbols) or not item.lastFundingRate:
            continue
        base, quote = split_concatenated(item.symbol)
        rate = decimal_of(item.lastFundingRate, "lastFundingRate")
        hours = (interval_hours or {}).get(item.symbol, FUNDING_INTERVAL_HOURS)
        events.append(funding_rate(
            exchange, normalized(base, quote, perpetual=quotes_perpetual), item.symbol, rate, hours,
            next_funding_ts=ms_to_us(item.nextFundingTime) if item.nextFundingTime else None,
            ts=ms_to_us(item.time), recv_ts=recv_ts))
    return events


def mark_prices(raw: bytes) -> dict[str, Decimal]:
    """premiumIndex -> symbol: mark price, to value open interest in USD."""
    return {item.symbol: finite(item.markPrice, "markPrice") for item in _listed(decode(_premium_index, raw))}


class FundingInfo(msgspec.Struct, frozen=True):
    """GET /fapi/v1/fundingInfo: only symbols whose interval or caps were adjusted are listed."""

    symbol: str
    fundingIntervalHours: int


_funding_info = msgspec.json.Decoder(list[FundingInfo])


def funding_intervals(raw: bytes) -> dict[str, Decimal]:
    """fundingInfo -> symbol: interval hours; a symbol absent from it funds every 8 hours.

    [{"symbol":"BLZUSDT","adjustedFundingRateCap":"0.02500000","adjustedFundingRateFloor":"-0.02500000",
      "fundingIntervalHours":8,"disclaimer":false}]
    """
    intervals = {}
    for item in decode(_funding_info, raw):
        if item.fundingIntervalHours <= 0:
            raise FrameError(f"funding interval of {item.fundingIntervalHours} hours for {item.symbol}")
        intervals[item.symbol] = Decimal(item.fundingIntervalHours)
    return intervals


class OpenInterestSnapshot(msgspec.Struct, frozen=True):
    """GET /fapi/v1/openInterest (Open-Interest page)."""

    symbol: str
    openInterest: Decimal  # in contracts; a USD-M contract is one unit of the base asset
    time: int  # ms


_open_interest = msgspec.json.Decoder(OpenInterestSnapshot)


def parse_open_interest(raw: bytes, recv_ts: int, *, mark_price: Decimal | None = None) -> list[AnyEvent]:
    """openInterest -> OpenInterest in contracts = base units; USD at the mark price when given.

    {"openInterest":"10659.509","symbol":"BTCUSDT","time":1589437530011}
    """
    item = decode(_open_interest, raw)
    contracts = finite(item.openInterest, "openInterest")
    return [OpenInterest(
        exchange=NAME, symbol=symbol_of(item.symbol), raw_symbol=item.symbol, contracts=contracts,
        base=contracts,
        usd=None if mark_price is None else multiply(contracts, mark_price, "open interest usd"),
        ts=ms_to_us(item.time), recv_ts=recv_ts)]


class TickerPrice(msgspec.Struct, frozen=True):
    """Spot GET /api/v3/ticker/price: no time in the answer, so events carry the receive time."""

    symbol: str
    price: Decimal


_ticker_price = msgspec.json.Decoder(TickerPrice | list[TickerPrice])


def parse_ticker_price(raw: bytes, recv_ts: int, *, symbols: Collection[str] | None = None) -> list[AnyEvent]:
    """Spot ticker/price -> SpotPrice on binance (last trade price), stamped with recv_ts.

    {"symbol":"LTCBTC","price":"4.00000200"}  or a list of them
    """
    return [
        SpotPrice(exchange=NAME, symbol=spot_symbol_of(t.symbol), raw_symbol=t.symbol,
                  price=finite(t.price, "price"), source="exchange", ts=recv_ts, recv_ts=recv_ts)
        for t in _listed(decode(_ticker_price, raw)) if symbols is None or t.symbol in symbols
    ]


async def fetch_funding_intervals(client: VenueClient) -> dict[str, Decimal]:
    """fundingInfo (weight 1): the symbols whose funding interval is not 8 hours."""
    return funding_intervals(await client.get("/fapi/v1/fundingInfo", weight=1))


async def fetch_funding(client: VenueClient, assets: Sequence[str]) -> list[AnyEvent]:
    """Every symbol's premiumIndex in one call (weight 10), with fundingInfo for 4 h / 1 h symbols."""
    raw = await client.get("/fapi/v1/premiumIndex", weight=10)
    intervals = await fetch_funding_intervals(client)
    return parse_premium_index(raw, now_us(), symbols={a + QUOTE for a in assets}, interval_hours=intervals)


async def fetch_open_interest(client: VenueClient, assets: Sequence[str]) -> list[AnyEvent]:
    """openInterest is per symbol (weight 1); the mark price for USD comes from premiumIndex (weight 1)."""
    events: list[AnyEvent] = []
    for asset in assets:
        params = {"symbol": asset + QUOTE}
        marks = mark_prices(await client.get("/fapi/v1/premiumIndex", params, weight=1))
        raw = await client.get("/fapi/v1/openInterest", params, weight=1)
        events += parse_open_interest(raw, now_us(), mark_price=marks.get(asset + QUOTE))
    return events


async def fetch_spot(client: VenueClient, assets: Sequence[str]) -> list[AnyEvent]:
    """ticker/price for the wanted pairs in one call: ?symbols=["BTCUSDT","ETHUSDT"] (weight 4)."""
    wanted = [a + QUOTE for a in assets]
    params = {"symbols": msgspec.json.encode(wanted).decode()}
    raw = await client.get("/api/v3/ticker/price", params, weight=4)
    return parse_ticker_price(raw, now_us(), symbols=set(wanted))
