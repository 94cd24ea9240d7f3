"""The receivers: exchange connections publishing typed events to the streams."""
from __future__ import annotations

import asyncio
import logging

import redis.asyncio as aioredis

from services.receivers.connection import FeedConnection
from services.receivers.feeds import build_feeds
from shared.config import Settings
from shared.streams import StreamProducer

log = logging.getLogger(__name__)


async def run_receivers(settings: Settings, redis: aioredis.Redis, stop: asyncio.Event) -> None:
    producer = StreamProducer(redis, settings, source="receivers")
    feeds = build_feeds(settings)
    if not feeds:
        log.warning("no feeds configured: nothing to receive")
    connections = [FeedConnection(feed, producer, settings.ws_backoff_max_s) for feed in feeds]
    feeds_stop = asyncio.Event()
    async with asyncio.TaskGroup() as tasks:
        tasks.create_task(producer.run(feeds_stop))  # stops after the feeds, flushing what they sent
        for connection in connections:
            tasks.create_task(connection.run(stop))
        await stop.wait()
        feeds_stop.set()
