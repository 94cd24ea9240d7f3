"""Which coins' trades the Hyperliquid feed subscribes to for discovery: traders.coins, or with
["all"] every listed perpetual, which only `meta` answers. It is read once, before the sockets are
planned; a listing added later is subscribed at the next start."""

from __future__ import annotations

import asyncio
import logging

import msgspec

from services.receivers.budget import Budget
from services.receivers.exchanges.hyperliquid.market import ALL_COINS
from services.receivers.exchanges.hyperliquid.rest import fetch_perp_coins
from services.receivers.frames import FrameError
from services.receivers.rest import RestError, VenueClient
from shared.settings import Settings

log = logging.getLogger(__name__)
META_WITHIN_S = 15.0  # the feeds start without the traders' coins after this long


async def with_trader_coins(settings: Settings, client: VenueClient,
                            budget: Budget | None = None) -> Settings:
    """The settings with traders.coins = ["all"] replaced by every listed perpetual (the rest as
    they are). Without an answer from meta the feeds subscribe to hyperliquid_coins only (logged)."""
    part = settings.traders
    if not part.enabled or part.coins != [ALL_COINS]:
        return settings
    try:
        async with asyncio.timeout(META_WITHIN_S):
            coins = await fetch_perp_coins(client, budget)
    except (RestError, FrameError, TimeoutError) as exc:
        log.error("listed perpetuals unknown: trades of hyperliquid_coins only",
                  extra={"error": str(exc)[:300]})
        coins = []
    else:
        log.info("traders' coins from meta", extra={"coins": len(coins)})
    return msgspec.structs.replace(settings, traders=msgspec.structs.replace(part, coins=coins))
