"""Binance's names and symbols, read by every part of the venue (its market streams and its REST)."""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache

from services.receivers.frames import normalized, split_concatenated

NAME = "binance"  # the futures record's name, and the exchange every event names, spot included
SPOT_NAME = "binance_spot"  # registry name of the spot record (its sockets, REST client, settings)
# Funding is every 8 h by default; /fapi/v1/fundingInfo lists the symbols moved to 4 h or 1 h,
# which the markPrice stream does not say (Mark-Price-Stream page, Get-Funding-Rate-Info page).
FUNDING_INTERVAL_HOURS = Decimal(8)
QUOTE = "USDT"  # the perpetuals and spot pairs polled for an asset: <ASSET>USDT


@lru_cache(maxsize=8192)  # called for every event; a venue has a few thousand symbols
def symbol_of(raw_symbol: str) -> str:
    """USD-M perpetuals: BTCUSDT -> BTC-USDT-PERP."""
    base, quote = split_concatenated(raw_symbol)
    return normalized(base, quote, perpetual=True)


@lru_cache(maxsize=8192)
def spot_symbol_of(raw_symbol: str) -> str:
    """Spot: BTCUSDT -> BTC-USDT."""
    base, quote = split_concatenated(raw_symbol)
    return normalized(base, quote, perpetual=False)
