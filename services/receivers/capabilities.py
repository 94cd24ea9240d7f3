"""What each venue answers over REST, declared by listing its fetch functions (a capability exists
because its function is listed here, not because a base class says so), and where each venue's
REST API lives and how much it lets us ask."""

from __future__ import annotations

from dataclasses import dataclass

from services.receivers.exchanges import (
    aster,
    backpack,
    binance,
    bybit,
    grvt,
    hyperliquid,
    jupiter,
    lighter,
    okx,
    pyth,
)
from services.receivers.rest import VenueClient
from services.receivers.venue import Fetch
from shared.config import ConfigError, Settings

FUNCTIONS = ("funding", "spot", "oi")
TITLES = {"funding": "funding rates", "spot": "spot prices", "oi": "open interest"}


@dataclass(frozen=True)
class RestVenue:
    """A venue's REST API: default base url, request weight per minute, how an API key is sent."""

    base_url: str
    weight_per_minute: int
    key_header: str = ""  # empty: the venue takes no key
    key_prefix: str = ""


REST_VENUES: dict[str, RestVenue] = {
    "binance": RestVenue(binance.REST_URL, binance.REST_WEIGHT_PER_MINUTE),
    "binance_spot": RestVenue(binance.SPOT_REST_URL, binance.SPOT_REST_WEIGHT_PER_MINUTE),
    "bybit": RestVenue(bybit.REST_URL, bybit.REST_WEIGHT_PER_MINUTE),
    "okx": RestVenue(okx.REST_URL, okx.REST_WEIGHT_PER_MINUTE),
    "hyperliquid": RestVenue(hyperliquid.REST_URL, hyperliquid.REST_WEIGHT_PER_MINUTE),
    "lighter": RestVenue(lighter.REST_URL, lighter.REST_WEIGHT_PER_MINUTE),
    "aster": RestVenue(aster.REST_URL, aster.REST_WEIGHT_PER_MINUTE),
    "grvt": RestVenue(grvt.REST_URL, grvt.REST_WEIGHT_PER_MINUTE),
    "backpack": RestVenue(backpack.REST_URL, backpack.REST_WEIGHT_PER_MINUTE),
    "jupiter": RestVenue(jupiter.REST_URL, jupiter.REST_WEIGHT_PER_MINUTE, jupiter.API_KEY_HEADER),
    "pyth": RestVenue(pyth.REST_URL, pyth.REST_WEIGHT_PER_MINUTE, pyth.API_KEY_HEADER, pyth.API_KEY_PREFIX),
}

# function -> venue -> fetch(client, assets) -> events
CAPABILITIES: dict[str, dict[str, Fetch]] = {
    "funding": {
        "binance": binance.fetch_funding,
        "bybit": bybit.fetch_funding,
        "okx": okx.fetch_funding,
        "hyperliquid": hyperliquid.fetch_funding,
        "lighter": lighter.fetch_funding,
        "aster": aster.fetch_funding,
        "grvt": grvt.fetch_funding,
        "backpack": backpack.fetch_funding,
    },
    "spot": {
        "binance_spot": binance.fetch_spot,
        "bybit": bybit.fetch_spot,
        "okx": okx.fetch_spot,
        "jupiter": jupiter.fetch_price,
        "pyth": pyth.fetch_latest,
    },
    "oi": {
        "binance": binance.fetch_open_interest,
        "bybit": bybit.fetch_open_interest,
        "okx": okx.fetch_open_interest,
        "hyperliquid": hyperliquid.fetch_open_interest,
    },
}


def rest_url(settings: Settings, venue: str) -> str:
    """venue_urls["<venue>_rest"] (the simulator in a demo), else the venue's own url.

    The suffix keeps REST apart from the websocket url a venue's feed reads from venue_urls[venue].
    """
    return settings.venues.urls.get(f"{venue}_rest", REST_VENUES[venue].base_url)


def client_for(settings: Settings, venue: str) -> VenueClient:
    """A VenueClient (not yet opened) with the venue's url, budget and API key, if one is set."""
    spec = REST_VENUES[venue]
    key = settings.venues.api_keys.get(venue, "")
    headers = {spec.key_header: spec.key_prefix + key} if key and spec.key_header else {}
    return VenueClient(venue, rest_url(settings, venue), spec.weight_per_minute, settings, headers=headers)


def venues_for(function: str, settings: Settings) -> list[str]:
    """The venues a coordinator asks: the configured ones, or every venue with the capability."""
    configured = {
        "funding": settings.polling.funding_venues,
        "spot": settings.polling.spot_venues,
        "oi": settings.polling.oi_venues,
    }[function]
    able = CAPABILITIES[function]
    unknown = sorted(set(configured) - set(able))
    if unknown:
        raise ConfigError(
            f"poll_{function}_venues: {', '.join(unknown)} cannot answer {TITLES[function]}; "
            f"venues that can: {', '.join(sorted(able))}"
        )
    return list(configured) if configured else sorted(able)


def capability_table() -> str:
    """venues x capabilities, with each venue's default REST url and weight budget per minute."""
    header = ["venue", *FUNCTIONS, "weight/min", "rest url"]
    rows = [
        [
            venue,
            *("yes" if venue in CAPABILITIES[f] else "-" for f in FUNCTIONS),
            str(spec.weight_per_minute),
            spec.base_url,
        ]
        for venue, spec in sorted(REST_VENUES.items())
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]
    legend = ", ".join(f"{f} = {TITLES[f]}" for f in FUNCTIONS)
    return "\n".join([*lines, "", legend])
