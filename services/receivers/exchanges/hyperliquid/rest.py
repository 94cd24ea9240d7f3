"""Hyperliquid REST market data: funding and open interest from metaAndAssetCtxs, the listed
perpetuals from meta; and the weight of every info request, which all share one budget per IP.

https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/info-endpoint/perpetuals
("Retrieve perpetuals asset contexts (includes mark price, current funding, open interest, etc.)",
"Retrieve perpetuals metadata (universe and margin tables)").
"""
from __future__ import annotations

from collections.abc import Collection, Sequence
from decimal import Decimal

import msgspec

from services.receivers.budget import Budget
from services.receivers.exchanges.hyperliquid.symbols import (
    FUNDING_INTERVAL_HOURS,
    HOUR_US,
    INFO_PATH,
    NAME,
    symbol_of,
)
from services.receivers.frames import FrameError, decode, finite, funding_rate, multiply
from services.receivers.rest import VenueClient
from shared.events import AnyEvent, OpenInterest, now_us

# Weights, https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/rate-limits-and-user-limits:
# "REST requests share an aggregated weight limit of 1200 per minute"; clearinghouseState (with l2Book,
# allMids, orderStatus, spotClearinghouseState, exchangeStatus) weighs 2, userRole 60, "All other
# documented info requests have weight 20": meta, metaAndAssetCtxs, portfolio, userFills, userFillsByTime.
WEIGHT_PER_MINUTE = 1200
WINDOW_S = 60.0  # the venue counts weight over a rolling minute
META_WEIGHT = 20
META_AND_ASSET_CTXS_WEIGHT = 20


class UniverseAsset(msgspec.Struct, frozen=True):
    """An entry of meta.universe; its position is the index of its ctx."""

    name: str  # the coin, "BTC"
    szDecimals: int = 0
    isDelisted: bool = False


class Meta(msgspec.Struct, frozen=True):
    universe: list[UniverseAsset]


class RestAssetCtx(msgspec.Struct, frozen=True):
    """A perp's context in metaAndAssetCtxs; numbers are strings."""

    funding: Decimal  # current hourly funding rate, a fraction
    openInterest: Decimal  # in coins
    markPx: Decimal
    oraclePx: Decimal | None = None
    midPx: Decimal | None = None  # null without a two-sided book


_meta_and_asset_ctxs = msgspec.json.Decoder(tuple[Meta, list[RestAssetCtx]])


def _contexts(raw: bytes, coins: Collection[str] | None) -> list[tuple[str, RestAssetCtx]]:
    meta, ctxs = decode(_meta_and_asset_ctxs, raw)
    if len(meta.universe) != len(ctxs):  # matched by position: a mismatch would pair wrong coins
        raise FrameError(f"{len(meta.universe)} assets but {len(ctxs)} contexts")
    return [(a.name, ctx) for a, ctx in zip(meta.universe, ctxs, strict=True)
            if not a.isDelisted and (coins is None or a.name in coins)]


def parse_meta_funding(raw: bytes, recv_ts: int, *, coins: Collection[str] | None = None) -> list[AnyEvent]:
    """metaAndAssetCtxs -> FundingRate per perp: hourly, paid on the hour; no time in the answer.

    [{"universe":[{"name":"BTC","szDecimals":5,"maxLeverage":50}]},
     [{"dayNtlVlm":"1169046.29406","funding":"0.0000125","impactPxs":["14.3047","14.3444"],
       "markPx":"14.3161","midPx":"14.314","openInterest":"688.11","oraclePx":"14.32",
       "premium":"0.00031774","prevDayPx":"15.322"}]]
    """
    events: list[AnyEvent] = []
    for coin, ctx in _contexts(raw, coins):
        rate = finite(ctx.funding, "funding")
        events.append(funding_rate(
            NAME, symbol_of(coin), coin, rate, FUNDING_INTERVAL_HOURS,
            next_funding_ts=(recv_ts // HOUR_US + 1) * HOUR_US, ts=recv_ts, recv_ts=recv_ts))
    return events


def parse_meta_open_interest(raw: bytes, recv_ts: int, *,
                             coins: Collection[str] | None = None) -> list[AnyEvent]:
    """metaAndAssetCtxs -> OpenInterest in coins (1 contract = 1 coin), USD at the mark price."""
    events: list[AnyEvent] = []
    for coin, ctx in _contexts(raw, coins):
        oi = finite(ctx.openInterest, "openInterest")
        events.append(OpenInterest(
            exchange=NAME, symbol=symbol_of(coin), raw_symbol=coin, contracts=oi, base=oi,
            usd=multiply(oi, finite(ctx.markPx, "markPx"), "open interest usd"), ts=recv_ts, recv_ts=recv_ts))
    return events


async def _meta_and_asset_ctxs_raw(client: VenueClient) -> bytes:
    return await client.post(INFO_PATH, {"type": "metaAndAssetCtxs"}, weight=META_AND_ASSET_CTXS_WEIGHT)


async def fetch_funding(client: VenueClient, assets: Sequence[str]) -> list[AnyEvent]:
    """One info request answers every perp."""
    return parse_meta_funding(await _meta_and_asset_ctxs_raw(client), now_us(), coins=set(assets))


async def fetch_open_interest(client: VenueClient, assets: Sequence[str]) -> list[AnyEvent]:
    return parse_meta_open_interest(await _meta_and_asset_ctxs_raw(client), now_us(), coins=set(assets))




_meta = msgspec.json.Decoder(Meta)


def parse_perp_coins(raw: bytes) -> list[str]:
    """meta -> the coins of every listed perpetual (delisted ones left out), in the venue's order.

    {"universe":[{"name":"BTC","szDecimals":5,"maxLeverage":50},
                 {"name":"LOOM","szDecimals":1,"maxLeverage":3,"isDelisted":true}],"marginTables":[...]}
    """
    return [asset.name for asset in decode(_meta, raw).universe if not asset.isDelisted]


async def fetch_perp_coins(client: VenueClient, budget: Budget | None = None) -> list[str]:
    """Every listed perpetual, through `budget` (the client's own when None)."""
    return parse_perp_coins(await client.post(INFO_PATH, {"type": "meta"}, weight=META_WEIGHT, budget=budget))
