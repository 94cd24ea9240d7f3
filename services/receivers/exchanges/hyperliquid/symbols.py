"""Hyperliquid's names, read by every part of the venue: the registry name, how a coin becomes a
normalized symbol, the info endpoint every REST request is posted to.

Coin "BTC" is BTC-USD-PERP: the venue names its perps <COIN>-USD ("PURR-USD and HYPE-USD"),
quotes them in dollars and takes USDC only as collateral. Strictly, most oracles are USDT
prices paid out in USDC with no conversion (a quanto; PURR and HYPE use USDC prices), but the
venue applies no FX either way, so its own "USD" label is the honest quote
(trading/contract-specifications page). Perps are linear: 1 contract = 1 coin.
"""
from __future__ import annotations

from decimal import Decimal
from functools import lru_cache

from services.receivers.frames import FrameError, normalized

NAME = "hyperliquid"
INFO_PATH = "/info"  # every REST request: POST a JSON body {"type": ..., ...} (info-endpoint page)
# Funding is paid every hour (trading/funding page); activeAssetCtx "funding" is that hourly rate.
FUNDING_INTERVAL_HOURS = Decimal(1)
HOUR_US = 3600 * 1_000_000


@lru_cache(maxsize=8192)  # called for every event; a venue has a few thousand symbols
def symbol_of(coin: str) -> str:
    """Perp "BTC" -> BTC-USD-PERP; spot "PURR/USDC" -> PURR-USDC; "@107" needs spotMeta -> FrameError."""
    if coin.startswith("@") or not coin:
        raise FrameError(f"spot pair {coin!r} is named by index: resolve it with spotMeta first")
    base, slash, quote = coin.partition("/")
    if slash:
        if not base or not quote:
            raise FrameError(f"malformed spot pair {coin!r}")
        return normalized(base, quote, perpetual=False)
    return normalized(coin, "USD", perpetual=True)
