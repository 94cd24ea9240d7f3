"""Pyth Network oracle prices through Hermes.

Docs: https://docs.pyth.network/price-feeds/api-instances-and-providers/hermes and
https://docs.pyth.network/api-reference/hermes/latest-price-updates
(GET /v2/updates/price/latest?ids[]=<id>&ids[]=<id>, decoded prices under "parsed").

Quirks:
- A price is an integer with an exponent: price "6271068500001", expo -8 -> 62710.68500001.
- publish_time is in SECONDS.
- Feed ids come back without the 0x prefix, lower case.
- Rate limit of the public instance: "30 requests every 10 seconds per IP"; past it, 429 "for the
  subsequent 60-second period" (our client then holds the venue back for the Retry-After).
- Hermes now wants an API key ("Authorization: Bearer <API_KEY>"); one set in
  rest_api_keys["pyth"] is sent that way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

import msgspec

from services.receivers.frames import FrameError, decode, finite, normalized
from services.receivers.rest import VenueClient
from services.receivers.venue import RestApi, Venue
from shared.events import AnyEvent, SpotPrice, now_us
from shared.settings import Settings

NAME = "pyth"
REST_URL = "https://hermes.pyth.network"
API_KEY_HEADER = "Authorization"
API_KEY_PREFIX = "Bearer "
REST_WEIGHT_PER_MINUTE = 180  # 30 requests per 10 seconds per IP


def feed_key(feed_id: str) -> str:
    """The form Hermes answers with: lower case, no 0x."""
    return feed_id.lower().removeprefix("0x")


class Price(msgspec.Struct, frozen=True):
    price: str  # integer mantissa, as a string
    conf: str  # confidence interval, same exponent
    expo: int
    publish_time: int  # seconds


def scaled(price: Price) -> Decimal:
    """mantissa * 10**expo, exactly."""
    if not (price.price.lstrip("-").isdigit() and -30 <= price.expo <= 30):
        raise FrameError(f"not a Pyth price: {price.price!r} expo {price.expo}")
    return finite(Decimal(price.price).scaleb(price.expo), "price")


class ParsedUpdate(msgspec.Struct, frozen=True):
    id: str  # feed id, hex without 0x
    price: Price
    ema_price: Price | None = None


class LatestUpdates(msgspec.Struct, frozen=True):
    parsed: list[ParsedUpdate] = []  # ("binary": the signed update for on-chain use, unused)


_latest = msgspec.json.Decoder(LatestUpdates)


def parse_latest(raw: bytes, recv_ts: int, *, feeds: Mapping[str, str]) -> list[AnyEvent]:
    """updates/price/latest -> SpotPrice <ASSET>-USD (source oracle) at publish_time; feeds: id -> asset.

    {"binary":{"encoding":"hex","data":["504e4155..."]},"parsed":[{"id":"e62df6c8b4a85fe1a67db44dc12de5db330f7ac66b72dc658afedf0f4a415b43",
     "price":{"price":"6271068500001","conf":"1776242059","expo":-8,"publish_time":1785738586},
     "ema_price":{...},"metadata":{"slot":306241769,"proof_available_time":1785738589,"prev_publish_time":1785738585}}]}
    """
    wanted = {feed_key(k): v for k, v in feeds.items()}
    events: list[AnyEvent] = []
    for update in decode(_latest, raw).parsed:
        asset = wanted.get(feed_key(update.id))
        if asset is None:
            continue
        if not (asset.isascii() and asset.isalnum()):
            raise FrameError(f"unsupported asset {asset!r} for feed {update.id}")
        events.append(
            SpotPrice(
                exchange=NAME,
                symbol=normalized(asset, "USD", perpetual=False),
                raw_symbol=update.id,
                price=scaled(update.price),
                source="oracle",
                ts=update.price.publish_time * 1_000_000,
                recv_ts=recv_ts,
            )
        )
    return events


async def fetch_latest(client: VenueClient, assets: Sequence[str], *,
                       feeds: Mapping[str, str]) -> list[AnyEvent]:
    """Every wanted feed in one call; `feeds`: asset -> feed id (pyth_feeds, bound in by fetch_options)."""
    by_feed = {feed_key(feeds[a]): a for a in assets if a in feeds}
    if not by_feed:
        return []
    params = [("ids[]", feed_id) for feed_id in sorted(by_feed)] + [("parsed", "true")]
    return parse_latest(await client.get("/v2/updates/price/latest", params), now_us(), feeds=by_feed)


def fetch_options(settings: Settings) -> dict[str, object]:
    """What fetch_latest needs from the settings: asset -> feed id."""
    return {"feeds": settings.venues.pyth.feeds}


VENUE = Venue(
    name=NAME,
    exchange=NAME,
    rest=RestApi(REST_URL, REST_WEIGHT_PER_MINUTE, API_KEY_HEADER, API_KEY_PREFIX),
    fetchers={"spot": fetch_latest},
    fetch_options=fetch_options,
)
