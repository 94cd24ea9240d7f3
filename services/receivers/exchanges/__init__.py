"""The registry: every venue tradehub speaks to, one record each, declared in the venue's own file.

Every other table is a view of it: the sockets to open (services/receivers/feeds.py), who answers
what over REST and with which budget (capabilities.py), the venue facts to load (instruments.py),
the names `normalize` and TRADEHUB_FEEDS accept. Adding a venue = its file (or folder), its
simulator part, its fixtures and tests, and one entry below.
"""

from __future__ import annotations

from services.receivers.exchanges import (
    aster,
    backpack,
    binance,
    bybit,
    deribit,
    grvt,
    hyperliquid,
    jupiter,
    lighter,
    okx,
    pyth,
)
from services.receivers.venue import NO_FACTS, Parse, Venue

REGISTRY: tuple[Venue, ...] = (
    binance.VENUE,
    binance.SPOT_VENUE,
    bybit.VENUE,
    bybit.SPOT_VENUE,
    okx.VENUE,
    hyperliquid.VENUE,
    deribit.VENUE,
    lighter.VENUE,
    aster.VENUE,
    grvt.VENUE,
    backpack.VENUE,
    jupiter.VENUE,
    pyth.VENUE,
)
VENUES: dict[str, Venue] = {venue.name: venue for venue in REGISTRY}
# the venues with websocket feeds: the names TRADEHUB_FEEDS and `normalize --exchange` take
FEEDS: dict[str, Venue] = {venue.name: venue for venue in REGISTRY if venue.plan is not None}


def parse_of(name: str) -> Parse:
    """A feed's parse with its venue's built-in facts only (no REST call): `normalize`, benchmarks."""
    venue = FEEDS[name]
    if venue.parser is None:
        raise ValueError(f"{name} declares sockets but no parser")
    return venue.parser(dict(venue.facts.defaults) if venue.facts is not None else NO_FACTS)


def exchange_of(name: str) -> str:
    """The exchange named by the events, gap records and feed states of registry entry `name`:
    always the venue (binance_spot -> binance), the normalized symbol telling the market."""
    venue = VENUES.get(name)
    return name if venue is None else venue.exchange
