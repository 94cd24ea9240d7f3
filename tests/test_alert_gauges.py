"""The gauges the Prometheus rules read (deploy/prometheus/alerts.yml) hold what the rules assume:
a stream's cap beside its lag, +Inf for a service without a heartbeat, the backup schedule and the
newest dump's time from the start, the tracker's weight limits."""
from __future__ import annotations

import asyncio
import math
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import redis.asyncio as aioredis
from prometheus_client import REGISTRY

from services.general.backups import STAMP
from services.general.main import backup_schedule
from services.general.status import service_states
from services.receivers.budget import RollingWindow
from services.receivers.traders.figures import Figures
from services.receivers.traders.rotation import Rotation
from shared.config import Settings
from shared.constants import heartbeat_key
from shared.events import Heartbeat, json_encoder, now_us
from shared.monitor import GroupFigures, StreamFigures, export
from shared.streams import StreamProducer


def sample(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


def test_the_stream_monitor_exports_each_cap_beside_the_lag() -> None:
    group = GroupFigures(name="processor", lag=120_000, pending=3, consumers=2, trimmed_recorded=0,
                         trimmed_new=0)
    export([StreamFigures("alertgauges:trades", 150_000, 200_000, 0, [group])])
    assert sample("tradehub_stream_cap", stream="alertgauges:trades") == 200_000
    assert sample("tradehub_stream_lag", stream="alertgauges:trades", group="processor") == 120_000


async def test_a_service_without_a_heartbeat_is_infinitely_old(
        make_settings: Callable[..., Settings], redis: aioredis.Redis) -> None:
    settings = make_settings(heartbeat_interval_s=1)
    beat = Heartbeat(service="processor", instance="i1", started_ts=now_us(), pid=os.getpid(), ts=now_us(),
                     recv_ts=now_us())
    await redis.set(heartbeat_key(settings.streams.prefix, "processor", "i1"), json_encoder.encode(beat),
                    px=3000)
    ages = await service_states(redis, settings)
    assert ages["api"] is None and ages["processor"] is not None
    assert sample("tradehub_heartbeat_age_seconds", service="api") == math.inf
    assert 0 <= (sample("tradehub_heartbeat_age_seconds", service="processor") or -1) < 3


async def test_the_backup_schedule_exports_its_interval_and_the_newest_dump_at_start(
        make_settings: Callable[..., Settings], redis: aioredis.Redis, tmp_path: Path) -> None:
    settings = make_settings(backup_dir=str(tmp_path), backup_interval_s=7200)
    newest = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    for taken in (newest - timedelta(days=1), newest):
        (tmp_path / f"tradehub-{settings.db_schema}-{taken.strftime(STAMP)}.dump").write_bytes(b"dump")
    stop = asyncio.Event()
    stop.set()  # the gauges are set before the first wait
    await backup_schedule(settings, redis, StreamProducer(redis, settings, source="general"), None, stop)
    assert sample("tradehub_backup_interval_seconds") == 7200
    assert sample("tradehub_backup_last_success_timestamp_seconds") == newest.timestamp()


async def test_the_tracker_exports_its_weight_limits_beside_the_weight_used(
        settings: Settings, redis: aioredis.Redis) -> None:
    lane = RollingWindow(1200).lane(600)
    figures = Figures(Rotation(redis, settings.streams.prefix), settings.streams.prefix, lane, lambda *_: 0.0)
    assert await figures.write() is not None
    assert sample("tradehub_tracker_weight_limit_per_minute", budget="venue") == 1200
    assert sample("tradehub_tracker_weight_limit_per_minute", budget="tracker") == 600
