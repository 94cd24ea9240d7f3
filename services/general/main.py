"""The general service: scheduled backups and retention, the watchers that raise alerts, the
th:alerts consumer that sends them to Telegram, and /status; all in one TaskGroup that
finishes (killing a running pg_dump, acking nothing unsent) when the service stops."""
from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import asyncpg
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from services.general.alerts import (
    LiquidationAlerts,
    LogAlertSink,
    SentLog,
    TelegramAlertSink,
    answer_status,
)
from services.general.backups import Backup, BackupError, list_backups, restore_check, rotate, take_backup
from services.general.hedges import hedge_schedule
from services.general.portfolio import portfolio_schedule
from services.general.retention import apply_retention
from services.general.s3 import S3Error, S3Target, upload_file
from services.general.status import read_backup, record_backup
from services.general.telegram import TelegramBot
from services.general.watch import Watcher, backup_alert, make_alert
from shared import metrics
from shared.backoff import sleep_or_stop, until_stopped
from shared.breaker import SinkBreaker
from shared.config import Settings
from shared.constants import ALERTS_GROUP, family_streams
from shared.consumer import Sink, StreamConsumer
from shared.db import DB_ERRORS, create_pool
from shared.health import instance_name
from shared.streams import StreamProducer

log = logging.getLogger(__name__)


async def run_backup_job(settings: Settings, session: aiohttp.ClientSession,
                         check: bool) -> tuple[Backup, str]:
    """Dump, upload (when configured), rotate, and restore-check if asked; raises on any failure."""
    backup = await take_backup(settings)
    metrics.BACKUP_BYTES.set(backup.size)
    notes = [f"{backup.path.name} ({backup.size / 1e6:.1f} MB)"]
    target = S3Target.from_settings(settings.backup.s3)
    if target is not None:
        await upload_file(session, target, backup.manifest, backup.manifest.name)
        key = await upload_file(session, target, backup.path, backup.path.name, settings.backup.timeout_s)
        notes.append(f"uploaded to {target.bucket}/{key}")
    removed = rotate(settings)
    if removed:
        notes.append(f"{len(removed)} old removed")
    if check:
        result = await restore_check(settings, backup)
        metrics.RESTORE_CHECKS.labels("ok" if result.ok else "mismatch").inc()
        if not result.ok:
            diff = ", ".join(f"{t}: {e} in dump, {r} restored" for t, (e, r) in result.mismatches.items())
            raise BackupError(f"restore check of {backup.path.name} failed: {diff or 'no tables'}")
        notes.append(f"restore check ok ({sum(result.restored.values())} rows)")
    metrics.BACKUP_LAST_SUCCESS.set(backup.taken.timestamp())
    return backup, "; ".join(notes)


def seconds_until_due(settings: Settings) -> float:
    """A backup is due when the newest one on disk is `backup_interval_s` old (none: now)."""
    backups = list_backups(Path(settings.backup.dir), settings.db_schema)
    if not backups:
        return 0.0
    age = (datetime.now(UTC) - backups[-1].taken).total_seconds()
    return max(0.0, settings.backup.interval_s - age)


async def backup_schedule(settings: Settings, redis: aioredis.Redis, producer: StreamProducer,
                          session: aiohttp.ClientSession, stop: asyncio.Event,
                          maintenance: asyncio.Lock | None = None) -> None:
    """Back up when due; after a failure retry in `backup_retry_s`; alert on failure and on recovery.
    `maintenance` keeps retention from dropping a partition between the dump and its count."""
    maintenance = maintenance or asyncio.Lock()
    metrics.BACKUP_INTERVAL.set(settings.backup.interval_s)
    on_disk = list_backups(Path(settings.backup.dir), settings.db_schema)
    if on_disk:  # the age alert judges the newest backup, not this process's first one
        metrics.BACKUP_LAST_SUCCESS.set(on_disk[-1].taken.timestamp())
    retry_in = 0.0
    while not await sleep_or_stop(stop, max(seconds_until_due(settings), retry_in)):
        try:
            async with maintenance:
                job = run_backup_job(settings, session, settings.backup.restore_check)
                outcome = await until_stopped(job, stop)
        except (BackupError, S3Error, OSError, *DB_ERRORS) as exc:
            metrics.BACKUPS.labels("failed").inc()
            log.error("backup failed", extra={"error": str(exc)[:800]})
            await _report_backup(redis, settings, producer, False, f"{type(exc).__name__}: {exc}"[:800])
            retry_in = settings.backup.retry_s
            continue
        if outcome is None:  # stopping: pg_dump was killed, its partial file removed
            return
        metrics.BACKUPS.labels("ok").inc()
        log.info("backup done", extra={"detail": outcome[1]})
        await _report_backup(redis, settings, producer, True, outcome[1])
        retry_in = 0.0


async def _report_backup(redis: aioredis.Redis, settings: Settings, producer: StreamProducer,
                         ok: bool, detail: str) -> None:
    was_failing = False
    try:
        was_failing = (await read_backup(redis, settings)).get("last") == "failed"
        await record_backup(redis, settings, ok, detail)
    except (RedisError, OSError) as exc:
        log.warning("backup status not recorded", extra={"error": repr(exc)})
    alert = backup_alert(ok, detail, was_failing)
    if alert is not None:
        producer.publish(alert)


async def retention_schedule(settings: Settings, producer: StreamProducer, stop: asyncio.Event,
                             maintenance: asyncio.Lock | None = None) -> None:
    """Retention every `retention_interval_s`, the first run at start, never during a backup."""
    maintenance = maintenance or asyncio.Lock()
    while not stop.is_set():
        try:
            async with maintenance:
                conn = await asyncpg.connect(settings.database_url)
                try:
                    await until_stopped(apply_retention(conn, settings), stop)
                finally:
                    await conn.close()
        except DB_ERRORS as exc:
            log.error("retention failed", extra={"error": repr(exc)})
            producer.publish(make_alert("retention", "warning", "Retention run failed", repr(exc)[:500]))
        if await sleep_or_stop(stop, settings.retention.interval_s):
            return


async def portfolio_job(settings: Settings, redis: aioredis.Redis, stop: asyncio.Event) -> None:
    """The portfolio sync every portfolio.sync_s (services/general/portfolio.py), on its own pool."""
    try:
        pool = await create_pool(settings)
    except DB_ERRORS as exc:
        log.error("portfolio sync off: no database", extra={"error": repr(exc)[:300]})
        return
    try:
        await portfolio_schedule(settings, redis, pool, stop)
    finally:
        await pool.close()


def alert_consumers(redis: aioredis.Redis, settings: Settings, producer: StreamProducer,
                    bot: TelegramBot | None) -> list[StreamConsumer]:
    """th:alerts into Telegram (or the log without a token) behind one breaker;
    large liquidations into alerts."""
    name = instance_name(settings)
    sink: Sink = TelegramAlertSink(bot, SentLog(redis, settings), settings) if bot else LogAlertSink()
    breaker = SinkBreaker("telegram", settings)
    consumers = [StreamConsumer(redis, settings, stream, ALERTS_GROUP, name, sink, breaker)
                 for stream in family_streams(settings.streams.prefix, "alerts", settings.streams.partitions)]
    if settings.alerts.liquidation_usd > 0:
        liquidations = LiquidationAlerts(producer, settings)
        streams = family_streams(settings.streams.prefix, "liquidations", settings.streams.partitions)
        consumers += [StreamConsumer(redis, settings, stream, ALERTS_GROUP, name, liquidations)
                      for stream in streams]
    return consumers


async def run_general(settings: Settings, redis: aioredis.Redis, stop: asyncio.Event) -> None:
    """Everything the general service does, until stopped; the producer flushes last."""
    producer = StreamProducer(redis, settings, source="general")
    producer_stop = asyncio.Event()
    async with aiohttp.ClientSession() as session:
        bot = TelegramBot(session, settings.telegram) if settings.telegram.token else None
        if bot is None:
            log.warning("no telegram_token: alerts are only logged")
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(producer.run(producer_stop))
            tasks.create_task(Watcher(redis, settings, producer, session).run(stop))
            maintenance = asyncio.Lock()  # backups and retention take turns
            tasks.create_task(retention_schedule(settings, producer, stop, maintenance))
            if settings.backup.enabled:
                tasks.create_task(backup_schedule(settings, redis, producer, session, stop, maintenance))
            if settings.accounts.enabled:
                tasks.create_task(portfolio_job(settings, redis, stop))
            if settings.hedges.pools:
                tasks.create_task(hedge_schedule(settings, redis, producer, session, stop))
            for consumer in alert_consumers(redis, settings, producer, bot):
                tasks.create_task(consumer.run(stop))
            if bot is not None and settings.telegram.chats:
                tasks.create_task(answer_status(bot, redis, settings, stop))
            await stop.wait()
            producer_stop.set()
