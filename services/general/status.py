"""The platform's state as the general service sees it: stream lengths, group lag and DLQ
depth, the last backup, the services' heartbeats. Read by the watchers and by /status."""
from __future__ import annotations

import math
import time

import redis.asyncio as aioredis
from redis.typing import EncodableT, FieldT

from shared import metrics
from shared.config import Settings
from shared.constants import SERVICES, backup_status_key
from shared.events import now_us
from shared.health import HEARTBEAT_INTERVALS, read_heartbeats
from shared.monitor import StreamFigures, read_streams
from shared.replies import text


def max_lag(figures: StreamFigures) -> int | None:
    """The slowest group's backlog; None when the stream has no group (or Redis cannot tell)."""
    lags = [group.lag for group in figures.groups if group.lag is not None]
    return max(lags) if lags else None


async def record_backup(redis: aioredis.Redis, settings: Settings, ok: bool, detail: str) -> None:
    """Remember the last backup outcome (file name or error) for /status and the next run."""
    now = str(int(time.time()))
    fields: dict[FieldT, EncodableT] = {
        "ok_at" if ok else "failed_at": now, "last": "ok" if ok else "failed", "detail": detail[:500]
    }
    await redis.hset(backup_status_key(settings.streams.prefix), mapping=fields)


async def read_backup(redis: aioredis.Redis, settings: Settings) -> dict[str, str]:
    raw = await redis.hgetall(backup_status_key(settings.streams.prefix))
    return {text(k): text(v) for k, v in raw.items()}


async def service_states(redis: aioredis.Redis, settings: Settings) -> dict[str, float | None]:
    """service -> age in seconds of its freshest heartbeat, None when it has none within 3 intervals."""
    limit_s = HEARTBEAT_INTERVALS * settings.heartbeat_interval_s
    now = now_us()
    ages: dict[str, float | None] = {service: None for service in SERVICES}
    for beat in await read_heartbeats(redis, settings):
        age = (now - beat.ts) / 1e6
        current = ages.get(beat.service)
        if age <= limit_s and (current is None or age < current):
            ages[beat.service] = age
    for service, fresh in ages.items():  # a missing heartbeat is infinitely old, never a stale gauge
        metrics.HEARTBEAT_AGE.labels(service).set(math.inf if fresh is None else fresh)
    return ages


async def status_report(redis: aioredis.Redis, settings: Settings) -> str:
    """The /status answer: one line per service, busy stream, DLQ and the last backup."""
    lines = ["tradehub status"]
    for service, age in (await service_states(redis, settings)).items():
        lines.append(f"{'✅' if age is not None else '❌'} {service}: "
                     + (f"heartbeat {age:.1f}s ago" if age is not None else "down (no heartbeat)"))
    for state in await read_streams(redis, settings):
        if state.length or state.dlq:
            lag = "no group" if max_lag(state) is None else f"lag {max_lag(state)}"
            dlq = f", DLQ {state.dlq}" if state.dlq else ""
            lines.append(f"{state.stream}: {state.length}/{state.cap} entries, {lag}{dlq}")
    backup = await read_backup(redis, settings)
    if backup:
        lines.append(f"backup: last {backup.get('last', '?')}, {backup.get('detail', '')}")
    else:
        lines.append("backup: none recorded")
    return "\n".join(lines)
