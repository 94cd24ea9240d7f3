"""Venue facts only a REST call answers, loaded before the feeds that need them start and kept
fresh while they run. Each venue's record declares its table (services/receivers/venue.py
FactTable); today:

- OKX contract values (a swap's size arrives in contracts of ctVal coins), from
  public/instruments; `okx_contract_values` wins over what the venue answers: it is the user's word.
- Binance funding intervals of the symbols moved off 8 hours, from fundingInfo.
- Bybit funding intervals of every linear perpetual, from instruments-info (a ticker push
  that does not carry its own interval reads it here).

Each table is the one the venue's parser already holds (feeds.py VenueFacts), filled in place,
so a new listing is known once the next refresh has seen it. Until a load succeeds the defaults
serve: built-in contract values (a swap without one is refused frame by frame, never guessed)
and 8-hour funding.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from services.receivers.capabilities import client_for
from services.receivers.exchanges import REGISTRY
from services.receivers.feeds import VenueFacts
from services.receivers.frames import FrameError
from services.receivers.rest import RestError, VenueClient
from services.receivers.venue import Feed
from shared.backoff import sleep_or_stop
from shared.config import Settings

log = logging.getLogger(__name__)
REFRESH_S = 3600.0  # new listings reach the tables within the hour
RETRY_S = 60.0  # after a failed load
FIRST_LOAD_S = 15.0  # a venue's feeds wait at most this long for the first load


@dataclass(frozen=True)
class Fact:
    """One venue's table, and how to load it."""

    what: str  # for the logs: "okx contract values"
    venue: str  # its REST client (capabilities.REST_VENUES), and the feeds (Feed.exchange) that read it
    fetch: Callable[[VenueClient], Awaitable[dict[str, Decimal]]]
    table: MutableMapping[str, Decimal]
    pinned: Mapping[str, Decimal] = field(default_factory=dict)  # the user's values: they win
    expected: Sequence[str] = ()  # keys a feed needs: logged as an error when still missing


def facts_to_load(settings: Settings, facts: VenueFacts, feeds: Sequence[Feed]) -> list[Fact]:
    """The tables the running feeds read."""
    running = {feed.exchange for feed in feeds}
    return [
        Fact(venue.facts.what, venue.name, venue.facts.fetch, facts[venue.name],
             pinned=venue.facts.pinned(settings), expected=venue.facts.expected(settings))
        for venue in REGISTRY
        if venue.facts is not None and venue.name in running
    ]


async def load(client: VenueClient, fact: Fact) -> bool:
    """One load into fact.table; False (logged) when the venue did not answer usably."""
    try:
        fetched = await fact.fetch(client)
    except (RestError, FrameError) as exc:
        log.warning(f"{fact.what} not loaded: the defaults serve", extra={"error": str(exc)[:300]})
        return False
    fact.table.update(fetched)
    fact.table.update(fact.pinned)
    missing = [key for key in fact.expected if key not in fact.table]
    if missing:
        log.error(f"{fact.what}: none for these, their frames are refused", extra={"instruments": missing})
    log.info(f"{fact.what} loaded", extra={"entries": len(fetched)})
    return True


async def keep(settings: Settings, fact: Fact, first_done: asyncio.Event, stop: asyncio.Event) -> None:
    """Load now (first_done is set after the first attempt, whatever it gave), then every
    REFRESH_S, or RETRY_S after a failure, until stop."""
    try:
        async with client_for(settings, fact.venue) as client:
            while not stop.is_set():
                try:
                    async with asyncio.timeout(FIRST_LOAD_S if not first_done.is_set() else None):
                        loaded = await load(client, fact)
                except TimeoutError:
                    log.warning(f"{fact.what}: no answer in time, the feeds start without them")
                    loaded = False
                first_done.set()
                await sleep_or_stop(stop, REFRESH_S if loaded else RETRY_S)
    finally:
        first_done.set()  # stopped or failed before the first attempt: nobody waits for ever
