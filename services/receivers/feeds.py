"""Which sockets to open: a view of the registry. Each venue's socket plan (in its own file) turns
its settings into sockets; here every configured venue's plan runs with its parser bound to the
venue's facts table, the table services/receivers/instruments.py keeps fresh while the sockets run.

Channels use the same words on every venue (trades, candles, funding, liquidations, prices);
a socket carries the channels of a few symbols, and its idle timeout is the shortest of its
channels' (a quiet liquidation stream sharing a socket with trades never looks idle).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from functools import partial

from services.receivers.exchanges import FEEDS, REGISTRY
from services.receivers.venue import NO_FACTS, Feed, Venue
from shared.config import ConfigError, Settings

VenueFacts = dict[str, dict[str, Decimal]]  # venue -> its facts table, filled in place


def venue_facts(settings: Settings) -> VenueFacts:
    """Every venue's facts table as known before any REST call: its built-in values and the
    user's (okx_contract_values), which a ConfigError refuses when they are not numbers."""
    return {
        venue.name: {**venue.facts.defaults, **venue.facts.pinned(settings)}
        for venue in REGISTRY
        if venue.facts is not None
    }


def feeds_of(venue: Venue, settings: Settings, facts: VenueFacts | None = None) -> list[Feed]:
    """One venue's sockets (none without symbols), its parse reading its table in `facts`
    (venue_facts(settings) when not given)."""
    if venue.plan is None or venue.parser is None:
        return []
    facts = venue_facts(settings) if facts is None else facts
    return venue.plan(venue, settings, venue.parser(facts.get(venue.name, NO_FACTS)))


# feed name -> its sockets, their parse reading the venue's table in VenueFacts
BUILDERS: dict[str, Callable[[Settings, VenueFacts], list[Feed]]] = {
    name: partial(feeds_of, venue) for name, venue in FEEDS.items()
}


def build_feeds(settings: Settings, facts: VenueFacts | None = None) -> list[Feed]:
    """Every socket of every venue in websockets.feeds (TRADEHUB_FEEDS), each parse reading its
    venue's table in `facts` (venue_facts(settings) when not given)."""
    unknown = [name for name in settings.websockets.feeds if name not in FEEDS]
    if unknown:
        raise ConfigError(f"TRADEHUB_FEEDS: unknown feeds {', '.join(unknown)}; known: {', '.join(FEEDS)}")
    facts = venue_facts(settings) if facts is None else facts
    return [feed for name in settings.websockets.feeds for feed in feeds_of(FEEDS[name], settings, facts)]
