"""Jupiter Price API V3: USD prices of Solana tokens.

Docs: https://dev.jup.ag/docs/price/v3 and https://dev.jup.ag/api-reference/price/v3/price
(GET /price/v3?ids=<mint>,<mint>, "up to 50 tokens" a call).

Quirks:
- The answer is keyed by mint address; a token without a reliable price is simply absent.
- usdPrice is a JSON number (not a string); it is decoded to Decimal from its text, exactly.
- No time in the answer (blockId is a Solana slot): events carry the receive time.
- The price is an aggregate of swaps across every Solana DEX ("last swapped price across all
  transactions", anchored on oracle prices of a few tokens), not one venue's trade: source is
  "oracle", like Pyth's.
- api.jup.ag wants an x-api-key header (portal.jup.ag); lite-api.jup.ag answers without one.
  A key set in rest_api_keys["jupiter"] is sent as x-api-key.
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

NAME = "jupiter"
REST_URL = "https://lite-api.jup.ag"
API_KEY_HEADER = "x-api-key"
# NOT CONFIRMED: the keyless tier's figure is not in the pages we could search; 60 a minute is
# what third-party monitors of lite-api use.
REST_WEIGHT_PER_MINUTE = 60
MAX_IDS = 50  # "Get USD prices for up to 50 tokens per request"


class TokenPrice(msgspec.Struct, frozen=True):
    """One mint's entry."""

    usdPrice: Decimal  # a JSON number
    blockId: int | None = None  # the slot the price was seen at
    decimals: int | None = None
    priceChange24h: Decimal | None = None  # percent


_prices = msgspec.json.Decoder(dict[str, TokenPrice])


def parse_price(raw: bytes, recv_ts: int, *, mints: Mapping[str, str]) -> list[AnyEvent]:
    """price/v3 -> SpotPrice <ASSET>-USD per requested mint present; `mints` maps mint -> asset.

    {"So11111111111111111111111111111111111111112":{"createdAt":"2024-06-05T08:55:25.527Z",
     "liquidity":621679197.67,"usdPrice":147.48,"blockId":348004023,"decimals":9,"priceChange24h":1.29}}
    """
    events: list[AnyEvent] = []
    for mint, item in decode(_prices, raw).items():
        asset = mints.get(mint)
        if asset is None:
            continue
        if not (asset.isascii() and asset.isalnum()):
            raise FrameError(f"unsupported asset {asset!r} for mint {mint}")
        events.append(
            SpotPrice(
                exchange=NAME,
                symbol=normalized(asset, "USD", perpetual=False),
                raw_symbol=mint,
                price=finite(item.usdPrice, "usdPrice"),
                source="oracle",
                ts=recv_ts,
                recv_ts=recv_ts,
            )
        )
    return events


async def fetch_price(client: VenueClient, assets: Sequence[str], *,
                      mints: Mapping[str, str]) -> list[AnyEvent]:
    """The wanted assets' mints (asset -> mint: jupiter_mints, bound in by fetch_options), 50 a call."""
    by_mint = {mints[a]: a for a in assets if a in mints}
    ids = sorted(by_mint)
    events: list[AnyEvent] = []
    for start in range(0, len(ids), MAX_IDS):
        raw = await client.get("/price/v3", {"ids": ",".join(ids[start : start + MAX_IDS])})
        events += parse_price(raw, now_us(), mints=by_mint)
    return events


def fetch_options(settings: Settings) -> dict[str, object]:
    """What fetch_price needs from the settings: asset -> mint."""
    return {"mints": settings.venues.jupiter.mints}


VENUE = Venue(name=NAME, exchange=NAME, rest=RestApi(REST_URL, REST_WEIGHT_PER_MINUTE, API_KEY_HEADER),
              fetchers={"spot": fetch_price}, fetch_options=fetch_options)
