"""Alert sources computed by the general service: missing heartbeats (and recovery), group
lag over the cap fraction, DLQ growth, open breakers and silent feeds (scraped from the
services' /metrics), backup failures. Each alert has a stable key so the Telegram side
deduplicates repeats; a condition alerts when it starts and again when it ends.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable

import aiohttp
import redis.asyncio as aioredis
from prometheus_client.parser import text_string_to_metric_families
from redis.exceptions import RedisError

from services.general.status import max_lag, service_states
from shared import metrics
from shared.backoff import sleep_or_stop
from shared.config import Settings
from shared.constants import SERVICES
from shared.events import Alert, Severity, now_us
from shared.health import HEARTBEAT_INTERVALS
from shared.monitor import read_streams
from shared.streams import StreamProducer

log = logging.getLogger(__name__)
SCRAPE_TIMEOUT_S = 2.0
BREAKER_OPEN = 2.0  # tradehub_breaker_state: 0 closed, 1 half-open, 2 open


def make_alert(key: str, severity: Severity, title: str, text: str = "", source: str = "general") -> Alert:
    now = now_us()
    return Alert(source=source, severity=severity, key=key, title=title, text=text, ts=now, recv_ts=now)


def backup_alert(ok: bool, detail: str, was_failing: bool) -> Alert | None:
    """A failed backup (or restore check) is critical; the next success after a failure says so."""
    if not ok:
        return make_alert("backup", "critical", "Backup failed", detail)
    if was_failing:
        return make_alert("backup", "info", "Backup recovered", detail)
    return None


class Conditions:
    """Which conditions are raised now: alert when one starts, a recovery when it ends."""

    def __init__(self) -> None:
        self.raised: set[str] = set()

    def update(self, key: str, bad: bool | None, alert: Alert, recovery: Alert) -> Alert | None:
        """bad=None means 'between thresholds': nothing changes (hysteresis)."""
        if bad and key not in self.raised:
            self.raised.add(key)
            return alert
        if bad is False and key in self.raised:
            self.raised.discard(key)
            return recovery
        return None


class HeartbeatWatch:
    """A service without a heartbeat for 3 intervals is down (the /ready rule); a service never
    seen is reported only once 3 intervals have passed since this watcher started."""

    def __init__(self, settings: Settings, started_us: int | None = None) -> None:
        self.limit_s = HEARTBEAT_INTERVALS * settings.heartbeat_interval_s
        self.started_us = now_us() if started_us is None else started_us
        self.up: dict[str, bool] = {}

    def check(self, ages: dict[str, float | None], now: int) -> list[Alert]:
        alerts = []
        grace_over = (now - self.started_us) / 1e6 >= self.limit_s
        for service in SERVICES:
            alive = ages.get(service) is not None
            before = self.up.get(service)
            if alive and before is False:
                alerts.append(make_alert(f"heartbeat:{service}", "info", f"{service} is back",
                                         f"heartbeat {ages[service]:.1f}s ago"))
            elif not alive and (before is True or (before is None and grace_over)):
                alerts.append(make_alert(f"heartbeat:{service}", "critical", f"{service} is down",
                                         f"no heartbeat for {self.limit_s:g}s (3 intervals)"))
            if alive or before is not None or grace_over:
                self.up[service] = alive
        return alerts


class FeedWatch:
    """From scraped counters: a breaker open, a feed with no frames for watch_feed_silent_s."""

    def __init__(self, settings: Settings) -> None:
        self.silent_s = settings.watch.feed_silent_s
        self.frames: dict[str, tuple[float, float]] = {}  # feed -> (frames seen, when it last moved)
        self.conditions = Conditions()

    def check(self, service: str, text: str, now: float) -> list[Alert]:
        alerts: list[Alert | None] = []
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == "tradehub_breaker_state":
                    name = sample.labels.get("breaker", "")
                    key = f"breaker:{service}:{name}"
                    half_open = sample.value not in (0.0, BREAKER_OPEN)  # a trial call: wait and see
                    alerts.append(self.conditions.update(
                        key, None if half_open else sample.value == BREAKER_OPEN,
                        make_alert(key, "warning", f"Breaker open: {service} {name}",
                                   "what it guards is unreachable; calls wait until it closes"),
                        make_alert(key, "info", f"Breaker closed: {service} {name}")))
                elif sample.name == "tradehub_feed_data_frames_total":  # pongs and acks do not count
                    alerts.append(self._frames(sample.labels.get("feed", ""), sample.value, now))
        return [alert for alert in alerts if alert is not None]

    def _frames(self, feed: str, value: float, now: float) -> Alert | None:
        seen, moved_at = self.frames.get(feed, (-1.0, now))
        if value != seen:
            moved_at = now
        self.frames[feed] = (value, moved_at)
        silent = now - moved_at
        key = f"feed:{feed}"
        return self.conditions.update(
            key, silent >= self.silent_s,
            make_alert(key, "warning", f"Feed silent: {feed}", f"no data frames for {silent:.0f}s"),
            make_alert(key, "info", f"Feed receiving again: {feed}"))


def metrics_urls(settings: Settings) -> dict[str, str]:
    """service -> /metrics url; by default the local ports of the receivers and the processor."""
    if settings.watch.metrics_urls:
        return dict(settings.watch.metrics_urls)
    return {"receivers": f"http://127.0.0.1:{settings.receivers_metrics_port}/metrics",
            "processor": f"http://127.0.0.1:{settings.processor_metrics_port}/metrics"}


class Watcher:
    """Runs every check each interval and publishes what changed as alerts on th:alerts."""

    def __init__(self, redis: aioredis.Redis, settings: Settings, producer: StreamProducer,
                 session: aiohttp.ClientSession | None = None) -> None:
        self.redis = redis
        self.settings = settings
        self.producer = producer
        self.session = session
        self.heartbeats = HeartbeatWatch(settings)
        self.feeds = FeedWatch(settings)
        self.streams = Conditions()
        self.dlq_depth: dict[str, int] = {}

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self.publish(await self.check())
            await sleep_or_stop(stop, self.settings.watch.interval_s)

    def publish(self, alerts: Iterable[Alert]) -> None:
        for alert in alerts:
            metrics.ALERTS_RAISED.labels(alert.key.split(":")[0]).inc()
            log.warning("alert raised",
                        extra={"key": alert.key, "severity": alert.severity, "title": alert.title})
            self.producer.publish(alert)

    async def check(self) -> list[Alert]:
        """One round; a Redis outage skips the Redis checks this round (the alerts could not go anyway)."""
        alerts: list[Alert] = []
        try:
            alerts += self.heartbeats.check(await service_states(self.redis, self.settings), now_us())
            alerts += await self.check_streams()
        except (RedisError, OSError) as exc:
            log.warning("watch round skipped: redis unavailable", extra={"error": repr(exc)})
        if self.session is not None:
            alerts += await self.check_metrics(self.session)
        return alerts

    async def check_streams(self) -> list[Alert]:
        """Group lag at the producers' cap fraction (clears below half of it) and DLQ growth."""
        alerts: list[Alert | None] = []
        fraction = self.settings.producer.lag_fraction
        for state in await read_streams(self.redis, self.settings):  # as /ready reads them
            limit = state.cap * fraction
            lag = max_lag(state) or 0
            key = f"lag:{state.stream}"  # the producers' own shedding alerts use the same key
            alerts.append(self.streams.update(
                key, True if lag >= limit else (False if lag < limit / 2 else None),
                make_alert(key, "critical", f"{state.stream} lag over {fraction:.0%} of its cap",
                           f"consumer lag {lag} entries, cap {state.cap}"),
                make_alert(key, "info", f"{state.stream} lag recovered", f"consumer lag {lag} entries")))
            alerts.append(self._dlq(state.stream, state.dlq))
        return [alert for alert in alerts if alert is not None]

    def _dlq(self, stream: str, depth: int) -> Alert | None:
        before = self.dlq_depth.get(stream, 0)
        self.dlq_depth[stream] = depth
        key = f"dlq:{stream}"
        if depth > before:
            return make_alert(key, "warning", f"Dead letters in {stream}",
                              f"DLQ depth {depth} (+{depth - before}); "
                              "list and replay with the processor's dlq CLI")
        if depth == 0 and before > 0:
            return make_alert(key, "info", f"DLQ of {stream} is empty")
        return None

    async def check_metrics(self, session: aiohttp.ClientSession) -> list[Alert]:
        """Scrape each service's /metrics; one that does not answer is left to the heartbeat check."""
        alerts = []
        timeout = aiohttp.ClientTimeout(total=SCRAPE_TIMEOUT_S)
        for service, url in metrics_urls(self.settings).items():
            try:
                async with session.get(url, timeout=timeout) as resp:
                    text = await resp.text() if resp.status == 200 else ""
            except (aiohttp.ClientError, TimeoutError) as exc:
                log.debug("metrics not scraped", extra={"service": service, "error": type(exc).__name__})
                continue
            alerts += self.feeds.check(service, text, time.monotonic())
        return alerts
