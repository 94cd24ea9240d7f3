"""The general service: scheduled jobs beside the data path."""
from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

from shared.config import Settings


async def run_general(settings: Settings, redis: aioredis.Redis, stop: asyncio.Event) -> None:
    """Nothing scheduled yet beyond the heartbeat every service writes."""
    await stop.wait()
