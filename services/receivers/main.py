"""The receivers: exchange connections publishing typed events to the streams."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from contextlib import AsyncExitStack

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from services.receivers.accounts.coordinator import Accounts
from services.receivers.backfill import Backfill, history_records, open_backfill
from services.receivers.capabilities import client_for
from services.receivers.connection import FeedConnection
from services.receivers.exchanges import VENUES, hyperliquid
from services.receivers.feeds import VenueFacts, build_feeds, venue_facts
from services.receivers.instruments import facts_to_load, keep
from services.receivers.pollers import Poller, open_pollers
from services.receivers.rest import VenueClient
from services.receivers.traders.coins import with_trader_coins
from services.receivers.traders.tracker import Tracker
from services.receivers.venue import Feed
from shared.backoff import until_stopped
from shared.config import Settings
from shared.feed_status import FeedStatus, FeedStatusReporter, read_feed_statuses
from shared.streams import StreamProducer
from shared.vault import master_key

log = logging.getLogger(__name__)


async def run_receivers(settings: Settings, redis: aioredis.Redis, stop: asyncio.Event) -> None:
    # the user's accounts need the vault's key: without a valid one, stop here and say how to make one
    master = master_key(settings.accounts) if settings.accounts.enabled else None
    producer = StreamProducer(redis, settings, source="receivers")
    async with AsyncExitStack() as stack:
        shared: dict[str, VenueClient] = {}  # clients the pollers share with the tracker and the accounts
        tracker: Tracker | None = None
        if settings.traders.enabled:
            client = shared[hyperliquid.NAME] = await stack.enter_async_context(
                client_for(settings, hyperliquid.NAME))
            tracker = Tracker(settings, client, producer, redis)
            resolved = await until_stopped(with_trader_coins(settings, client, tracker.lane), stop)
            settings = resolved or settings  # traders.coins ["all"]: the listed perpetuals
            if hyperliquid.NAME not in settings.websockets.feeds:
                log.warning("tracking traders without the hyperliquid feed: no trades name new traders")
        accounts = None
        if master is not None:  # one REST client per venue: signed calls spend from the pollers' budget
            for venue in private_venues():
                shared.setdefault(venue, await stack.enter_async_context(client_for(settings, venue)))
            accounts = Accounts(settings, master, redis, producer, shared, stack)
        for record in history_records(build_feeds(settings)):  # backfill spends from the pollers' budget
            shared.setdefault(record, await stack.enter_async_context(client_for(settings, record)))
        pollers = await stack.enter_async_context(open_pollers(settings, producer, redis, shared))
        await run_feeds(settings, redis, producer, pollers, tracker, stop, accounts, shared)


def private_venues() -> list[str]:
    """The venues with a private side and a REST API (signed snapshots)."""
    return [name for name, venue in VENUES.items() if venue.account is not None and venue.rest is not None]


async def run_feeds(settings: Settings, redis: aioredis.Redis, producer: StreamProducer,
                    pollers: list[Poller], tracker: Tracker | None, stop: asyncio.Event,
                    accounts: Accounts | None = None,
                    clients: Mapping[str, VenueClient] | None = None) -> None:
    """The sockets, the REST pollers and the tracker until stopped, then the producer's last flush."""
    facts = venue_facts(settings)  # tables the parsers read, filled from the venues' REST, in place
    feeds = build_feeds(settings, facts)
    if not feeds:
        log.warning("no feeds configured: nothing to receive")
    async with open_backfill(settings, redis, producer, feeds, clients, facts) as backfill:
        await _run_feeds(settings, redis, producer, pollers, tracker, stop, accounts, facts, feeds, backfill)


async def _run_feeds(settings: Settings, redis: aioredis.Redis, producer: StreamProducer,
                     pollers: list[Poller], tracker: Tracker | None, stop: asyncio.Event,
                     accounts: Accounts | None, facts: VenueFacts, feeds: list[Feed],
                     backfill: Backfill) -> None:
    resume = await outages_to_resume(redis, settings)
    backoff_max_s = settings.websockets.backoff_max_s
    connections = [FeedConnection(f, producer, backoff_max_s, resume_from=resume.get(f.name),
                                  sequencer=backfill.sequencer(f)) for f in feeds]
    def statuses() -> list[FeedStatus]:
        private = accounts.connections() if accounts is not None else []
        return [c.status() for c in [*connections, *private]]

    interval_s = settings.websockets.status_interval_s
    reporter = FeedStatusReporter(redis, settings.streams.prefix, statuses, interval_s)
    feeds_stop = asyncio.Event()
    async with asyncio.TaskGroup() as tasks:
        tasks.create_task(producer.run(feeds_stop))  # stops after the feeds, flushing what they sent
        tasks.create_task(reporter.run(feeds_stop))  # <prefix>:feed:<name> for /ready and the watchers
        tasks.create_task(backfill.run(feeds_stop))  # missed trades fetched again; where each feed stopped
        ready: dict[str, list[asyncio.Event]] = {}  # feed -> first loads of the tables it reads
        for fact in facts_to_load(settings, facts, feeds):
            tried = asyncio.Event()
            tasks.create_task(keep(settings, fact, tried, stop))
            ready.setdefault(fact.venue, []).append(tried)  # the venue's own feeds read its table
        for connection in connections:
            tasks.create_task(run_when(ready.get(connection.feed.exchange, []), connection, stop))
        for poller in pollers:  # REST coordinators (funding, spot, open interest); stop cancels a poll
            tasks.create_task(poller.run(stop))
        if tracker is not None:  # Hyperliquid traders, inside the budget the pollers share
            tasks.create_task(tracker.run(stop))
        if accounts is not None:  # the user's accounts: private sockets and reconciliation
            tasks.create_task(accounts.run(stop))
        await stop.wait()
        feeds_stop.set()


async def run_when(ready: list[asyncio.Event], connection: FeedConnection, stop: asyncio.Event) -> None:
    """Run a feed once the first load of every table it reads was tried (receivers/instruments.py)."""
    for event in ready:
        await event.wait()
    await connection.run(stop)


async def outages_to_resume(redis: aioredis.Redis, settings: Settings) -> dict[str, int]:
    """feed -> when its data stopped, as the previous process recorded it: a restart is a gap too."""
    try:
        statuses = await read_feed_statuses(redis, settings.streams.prefix)
    except (RedisError, OSError) as exc:
        log.warning("previous feed states unreadable: restart gaps not recorded", extra={"error": repr(exc)})
        return {}
    resume = {}
    for status in statuses:
        since = status.outage_from if status.outage_from is not None else status.last_data_ts
        if since is not None:
            resume[status.feed] = since
    return resume
