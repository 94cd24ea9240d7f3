"""LP pool sources for the hedge monitor: each says how many tokens of each asset one pool token
is exposed to, so a holder knows the short that makes the holding delta-neutral.

A source is a function `(session, settings, pool) -> PoolExposure`; SOURCES names them. Adding a
pool (Aster's ALP, once its net exposure has a public source) is one module and one line here.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal

import aiohttp
import msgspec

from shared.settings import HedgePool, VenueSettings


class AssetExposure(msgspec.Struct, frozen=True):
    """One asset of a pool: tokens per pool token, and the pool's own price when it tells one."""

    asset: str  # the pool's name for it (SOL, ETH, BTC, WBTC, ...)
    per_unit: Decimal  # tokens of the asset per one pool token
    price: Decimal | None = None  # USD per token, from the pool source; None: use stored marks


class PoolExposure(msgspec.Struct, frozen=True):
    """What one read of a pool found: the non-stable assets' exposure, and the pool token supply."""

    assets: list[AssetExposure]
    supply: Decimal  # pool tokens outstanding (whole tokens)


class PoolSourceError(Exception):
    """The pool source could not be read or did not parse; the message says which and why."""


Source = Callable[[aiohttp.ClientSession, VenueSettings, HedgePool], Awaitable[PoolExposure]]


def sources() -> dict[str, Source]:
    """source name (settings: hedge_pools.<name>.source) -> its reader."""
    from services.general.pools import adrena, jlp

    return {"jlp": jlp.read_exposure, "adrena": adrena.read_exposure}
