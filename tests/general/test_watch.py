"""Alert sources of the general service: a missing heartbeat (3 intervals, as /ready) and its
recovery, lag over the cap, DLQ growth, open breakers, silent feeds, a failed backup and a
large liquidation, each ending up as an Alert on th:alerts."""
from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import asyncpg
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient

from services.api.app import create_app
from services.general.alerts import LiquidationAlerts
from services.general.main import backup_schedule
from services.general.status import read_backup
from services.general.watch import FeedWatch, HeartbeatWatch, Watcher
from shared.config import Settings
from shared.constants import dlq_key, heartbeat_key, stream_key
from shared.events import Alert, Heartbeat, Liquidation, batch_decoder, json_encoder, now_us
from shared.streams import StreamProducer


async def _alerts(redis: aioredis.Redis, settings: Settings) -> list[Alert]:
    entries = await redis.xrange(stream_key(settings.streams.prefix, "alerts"))
    return [event for _, fields in entries for event in batch_decoder.decode(fields[b"e"])
            if isinstance(event, Alert)]


async def _beat(redis: aioredis.Redis, settings: Settings, service: str) -> None:
    """One heartbeat, written the way shared.health does (TTL = 3 intervals), never renewed: a crash."""
    beat = Heartbeat(service=service, instance="i1", started_ts=now_us(), pid=os.getpid(), ts=now_us(),
                     recv_ts=now_us())
    await redis.set(heartbeat_key(settings.streams.prefix, service, "i1"), json_encoder.encode(beat),
                    px=int(settings.heartbeat_interval_s * 3000))


async def test_missing_heartbeat_alerts_after_3_intervals_then_recovery(
        make_settings: Callable[..., Settings], redis: aioredis.Redis, pool: asyncpg.Pool,
        aiohttp_client: Callable[..., TestClient]) -> None:
    settings = make_settings(heartbeat_interval_s=0.2)
    producer = StreamProducer(redis, settings, source="general")
    watcher = Watcher(redis, settings, producer)
    api = await aiohttp_client(create_app(settings))

    async def processor_alerts() -> list[Alert]:
        return [a for a in await watcher.check() if a.key == "heartbeat:processor"]

    async def ready_says_processor_ok() -> bool:
        return bool((await (await api.get("/ready")).json())["services"]["processor"]["ok"])

    await _beat(redis, settings, "processor")
    assert await processor_alerts() == [] and await ready_says_processor_ok()
    await asyncio.sleep(0.25)  # one interval missed: not down yet
    assert await processor_alerts() == [] and await ready_says_processor_ok()
    await asyncio.sleep(0.4)  # three intervals without a beat
    [down] = await processor_alerts()
    assert (down.severity, down.title) == ("critical", "processor is down")
    assert not await ready_says_processor_ok()  # /ready agrees
    assert await processor_alerts() == []  # said once, not every round
    await _beat(redis, settings, "processor")
    [back] = await processor_alerts()
    assert (back.severity, back.title) == ("info", "processor is back")
    watcher.publish([down, back])
    assert await producer.flush()
    published = [a for a in await _alerts(redis, settings) if a.key == "heartbeat:processor"]
    assert [a.severity for a in published] == ["critical", "info"]


def test_a_service_never_seen_is_reported_once_the_grace_is_over(
        make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(heartbeat_interval_s=1.0)
    watch = HeartbeatWatch(settings, started_us=0)
    ages = {"receivers": 0.5, "processor": 0.2, "api": 0.1, "general": None}
    assert watch.check(ages, now=2_000_000) == []  # 2 s after start: still starting
    [alert] = watch.check(ages, now=3_000_000)
    assert alert.key == "heartbeat:general" and alert.severity == "critical"


async def test_lag_over_the_cap_fraction_and_dlq_growth(
        make_settings: Callable[..., Settings], redis: aioredis.Redis) -> None:
    settings = make_settings(stream_maxlen_by_family={"trades": 10}, producer_lag_fraction=0.8)
    stream = stream_key(settings.streams.prefix, "trades")
    await redis.xgroup_create(stream, "processor", id="0", mkstream=True)
    for n in range(9):
        await redis.xadd(stream, {"e": b"x", "n": n})
    watcher = Watcher(redis, settings, StreamProducer(redis, settings))
    [lag] = [a for a in await watcher.check() if a.key.startswith("lag:")]
    assert lag.key == f"lag:{stream}" and lag.severity == "critical"
    await redis.xadd(dlq_key(stream), {"e": b"x"})
    [dlq] = [a for a in await watcher.check() if a.key.startswith("dlq:")]
    assert dlq.key == f"dlq:{stream}" and "depth 1" in dlq.text
    assert [a for a in await watcher.check() if a.key.startswith(("dlq:", "lag:"))] == []  # nothing new
    await redis.xreadgroup("processor", "c", {stream: ">"}, count=100)  # the group caught up
    await redis.delete(dlq_key(stream))
    recovered = {a.key: a.severity for a in await watcher.check()}
    assert recovered == {f"lag:{stream}": "info", f"dlq:{stream}": "info"}


def test_open_breaker_and_silent_feed_from_scraped_metrics(make_settings: Callable[..., Settings]) -> None:
    watch = FeedWatch(make_settings(watch_feed_silent_s=60))

    def scrape(breaker: float, frames: float, at: float) -> list[Alert]:
        text = (f'tradehub_breaker_state{{breaker="processor:th:trades"}} {breaker}\n'
                f'tradehub_feed_data_frames_total{{feed="binance:trades"}} {frames}\n')
        return watch.check("processor", text, at)

    assert scrape(0, 10, at=0) == []
    [opened] = scrape(2, 20, at=10)
    assert opened.key == "breaker:processor:processor:th:trades" and opened.severity == "warning"
    assert scrape(1, 30, at=20) == []  # half-open: wait and see
    [closed] = scrape(0, 30, at=30)
    assert closed.key == opened.key and closed.severity == "info"
    assert scrape(0, 30, at=70) == []  # 50 s without a frame
    [silent] = scrape(0, 30, at=95)
    assert silent.key == "feed:binance:trades" and "no data frames for 75s" in silent.text
    [receiving] = scrape(0, 31, at=100)
    assert receiving.key == silent.key and receiving.severity == "info"


async def test_failed_backup_raises_an_alert_and_is_recorded(
        make_settings: Callable[..., Settings], redis: aioredis.Redis, tmp_path: Path) -> None:
    settings = make_settings(database_url="postgresql://postgres@127.0.0.1:1/postgres",  # nothing listens
                             backup_dir=str(tmp_path), backup_retry_s=3600)
    producer = StreamProducer(redis, settings, source="general")
    stop = asyncio.Event()
    async with asyncio.timeout(10):
        task = asyncio.create_task(backup_schedule(settings, redis, producer, None, stop))
        while (await read_backup(redis, settings)).get("last") != "failed":
            await asyncio.sleep(0.05)
        stop.set()
        await task
    assert await producer.flush()
    [alert] = await _alerts(redis, settings)
    assert (alert.key, alert.severity, alert.title) == ("backup", "critical", "Backup failed")
    assert "cannot connect" in alert.text


async def test_large_liquidation_becomes_an_alert(make_settings: Callable[..., Settings],
                                                  redis: aioredis.Redis) -> None:
    settings = make_settings(alert_liquidation_usd=100_000)
    producer = StreamProducer(redis, settings, source="general")
    small, large = (Liquidation(exchange="binance", symbol="BTC-USDT-PERP", raw_symbol="BTCUSDT", side="sell",
                                price=Decimal("60000"), size=size, usd_value=size * 60000, ts=now_us(),
                                recv_ts=now_us()) for size in (Decimal("1"), Decimal("2.5")))
    await LiquidationAlerts(producer, settings)([small, large])
    [alert] = await _alerts(redis, settings)
    assert alert.title == "Large long liquidation binance BTC-USDT-PERP: $150,000"
    assert alert.key.startswith("liquidation:binance:BTC-USDT-PERP:")
