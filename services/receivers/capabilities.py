"""What each venue answers over REST, and where its REST API lives and how much it lets us ask: a
view of the registry. A capability exists because the venue's record lists a fetch function for
it, not because a base class says so."""

from __future__ import annotations

from functools import partial

from services.receivers.budget import RollingWindow
from services.receivers.exchanges import REGISTRY, VENUES
from services.receivers.rest import VenueClient
from services.receivers.venue import Fetch, RestApi
from shared.config import ConfigError, Settings

FUNCTIONS = ("funding", "spot", "oi")
TITLES = {"funding": "funding rates", "spot": "spot prices", "oi": "open interest"}

# venue -> its REST API (default base url, weight per minute, how an API key is sent)
REST_VENUES: dict[str, RestApi] = {venue.name: venue.rest for venue in REGISTRY if venue.rest is not None}
# function -> venue -> fetch(client, assets) -> events (before the venue's settings are bound in)
CAPABILITIES: dict[str, dict[str, Fetch]] = {
    function: {venue.name: venue.fetchers[function] for venue in REGISTRY if function in venue.fetchers}
    for function in FUNCTIONS
}


def rest_url(settings: Settings, venue: str) -> str:
    """venue_urls["<venue>_rest"] (the simulator in a demo), else the venue's own url.

    The suffix keeps REST apart from the websocket url a venue's feed reads from venue_urls[venue].
    """
    return settings.venues.urls.get(f"{venue}_rest", REST_VENUES[venue].base_url)


def client_for(settings: Settings, venue: str) -> VenueClient:
    """A VenueClient (not yet opened) with the venue's url, budget and API key, if one is set.

    A venue counting a rolling window gets one for its whole budget per IP; the client's own calls
    (the pollers') spend from a lane of rest.weight_fraction of it, and VenueClient.lane() cuts
    other shares (the trader tracker's), all inside the venue's window."""
    spec = REST_VENUES[venue]
    key = settings.venues.api_keys.get(venue, "")
    headers = {spec.key_header: spec.key_prefix + key} if key and spec.key_header else {}
    budget = None
    if spec.window_s is not None:
        window = RollingWindow(spec.weight_per_minute * spec.window_s / 60, spec.window_s)
        budget = window.lane(window.limit * settings.rest.weight_fraction)
    return VenueClient(venue, rest_url(settings, venue), spec.weight_per_minute, settings.rest,
                       headers=headers, budget=budget)


def fetcher(settings: Settings, function: str, venue: str) -> Fetch:
    """The venue's fetch for `function`, its settings bound in (Jupiter's mints, Pyth's feed ids)."""
    record = VENUES[venue]
    fetch = record.fetchers[function]
    if record.fetch_options is None:
        return fetch
    return partial(fetch, **record.fetch_options(settings))


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
    """venues x capabilities, with each venue's default REST url and weight budget per minute; a
    venue's second market is shown as its exchange and market, e.g. "binance (spot)"."""
    header = ["venue", *FUNCTIONS, "weight/min", "rest url"]
    rows = [
        [
            VENUES[venue].label,
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
    named = [f'"{VENUES[venue].label}" is {venue}' for venue in sorted(REST_VENUES) if VENUES[venue].market]
    return "\n".join([*lines, "", legend + (f"; in poll_*_venues {', '.join(named)}" if named else "")])
