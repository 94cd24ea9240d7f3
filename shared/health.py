"""Heartbeats: each service writes one to Redis with a TTL; /ready and the general
service read them to tell which services are alive and how fresh they are."""
from __future__ import annotations

import asyncio
import logging
import os
import socket

import msgspec
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from shared import metrics
from shared.backoff import LAST_WRITE_S, sleep_or_stop, until_stopped
from shared.config import Settings
from shared.constants import heartbeat_key, heartbeat_pattern
from shared.events import Heartbeat, json_encoder, now_us
from shared.redis_connect import get_many

log = logging.getLogger(__name__)
HEARTBEAT_INTERVALS = 3  # a service silent for this many heartbeat intervals is down
_heartbeat = msgspec.json.Decoder(Heartbeat)


def instance_name(settings: Settings) -> str:
    """A stable name for this process: the configured instance, else the host name."""
    return settings.service_instance or socket.gethostname()


async def beat_forever(redis: aioredis.Redis, settings: Settings, service: str, stop: asyncio.Event) -> None:
    """Write a heartbeat every interval; it expires after three missed beats."""
    instance = instance_name(settings)
    started = now_us()
    key = heartbeat_key(settings.streams.prefix, service, instance)
    ttl_ms = int(settings.heartbeat_interval_s * HEARTBEAT_INTERVALS * 1000)
    while not stop.is_set():
        beat = Heartbeat(service=service, instance=instance, started_ts=started, pid=os.getpid(),
                         ts=now_us(), recv_ts=now_us())
        try:
            await until_stopped(redis.set(key, json_encoder.encode(beat), px=ttl_ms), stop)
        except (RedisError, OSError) as exc:
            log.warning("heartbeat not written", extra={"service": service, "error": repr(exc)})
        await sleep_or_stop(stop, settings.heartbeat_interval_s)
    try:
        async with asyncio.timeout(LAST_WRITE_S):
            await redis.delete(key)
    except (RedisError, OSError, TimeoutError) as exc:  # the key expires with its TTL anyway
        log.info("heartbeat not removed at stop", extra={"service": service, "error": repr(exc)})


async def read_heartbeats(redis: aioredis.Redis, settings: Settings) -> list[Heartbeat]:
    """Every live heartbeat (expired ones are gone with their TTL)."""
    keys = [key async for key in redis.scan_iter(match=heartbeat_pattern(settings.streams.prefix), count=100)]
    if not keys:
        return []
    beats = []
    for raw in await get_many(redis, keys):
        if raw:
            beats.append(_heartbeat.decode(raw))
    now = now_us()
    for beat in beats:
        metrics.HEARTBEAT_AGE.labels(beat.service).set((now - beat.ts) / 1e6)
    return beats
