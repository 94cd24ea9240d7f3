"""Producing to bounded Redis Streams: events packed into entries, pipelined XADDs,
MAXLEN ~ cap, and producers that watch their groups' lag and act before the cap.

An entry holds up to `producer_batch_events` events of one stream as one msgpack
array (field `e`) beside a schema version (field `v`): packing is what lets one
process write hundreds of thousands of events a second.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Callable

import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from shared import metrics
from shared.backoff import Backoff, sleep_or_stop
from shared.config import Settings
from shared.constants import ENTRY_VERSION, FIELD_EVENTS, FIELD_VERSION, family_of, partition_of, stream_key
from shared.events import FAMILY, NEVER_SHED, Alert, Event, Severity, batch_encoder, now_us
from shared.write_audit import WriteAudit

log = logging.getLogger(__name__)
LAG_CHECK_S = 1.0
ROUTES_KEPT = 65536  # (kind, exchange, symbol) routes a producer remembers


def stream_of(event: Event, settings: Settings) -> str:
    """th:<family>[:<partition>] for an event, partitioned by exchange+symbol; an account's events
    by exchange+account, so its snapshot and its stream events stay in one partition, in order."""
    family = FAMILY[type(event)]
    exchange = getattr(event, "exchange", "")
    symbol = getattr(event, "account" if family == "account" else "symbol", "")
    partitions = settings.streams.partitions
    return stream_key(settings.streams.prefix, family, partition_of(exchange, symbol, partitions), partitions)


def maxlen_of(stream: str, settings: Settings) -> int:
    return settings.streams.maxlen_by_family.get(family_of(stream), settings.streams.maxlen)


def encode_entry(events: list[Event]) -> dict[bytes, bytes]:
    return {FIELD_VERSION: ENTRY_VERSION, FIELD_EVENTS: batch_encoder.encode(events)}


async def group_lag(redis: aioredis.Redis, stream: str) -> int | None:
    """The largest backlog of the stream's consumer groups; None when there is no group.

    A backlog never exceeds the stream's length: Redis's lag also counts entries trimmed
    before the group read them (until the stream monitor records them), which are not there
    to be read any more."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.xlen(stream)
        pipe.xinfo_groups(stream)
        length, groups = await pipe.execute(raise_on_error=False)
    if isinstance(groups, ResponseError):  # no such key yet
        return None
    lags = [min(int(g["lag"]), int(length)) for g in groups if g.get("lag") is not None]
    return max(lags) if lags else None


class StreamProducer:
    """Buffers events per stream and flushes them as packed entries in one pipeline.

    publish() never blocks and never raises: market data beyond the buffer, or while
    the stream's groups lag near the cap, is shed and counted; `publish_wait` is for
    account and position events, which are never shed (the caller waits instead).
    """

    def __init__(self, redis: aioredis.Redis, settings: Settings, source: str = "",
                 on_written: Callable[[list[bytes]], None] | None = None) -> None:
        self.redis = redis
        self.on_written = on_written  # sees the ids Redis returned for each flush (audits, tests)
        self.settings = settings
        self.source = source
        self._pending: dict[str, list[Event]] = defaultdict(list)
        self._buffered = 0
        self._full = asyncio.Event()
        self._drained = asyncio.Event()
        self._shedding: set[str] = set()
        # (kind, exchange, symbol) -> (stream, never shed): the same answer for every event of a
        # symbol, worked out once instead of hashing the partition per event
        self._routes: dict[tuple[type, str, str], tuple[str, bool]] = {}
        self._lag_checked = 0.0
        self._backoff = Backoff(base=0.2, cap=settings.redis_backoff_max_s)
        self.published = 0
        self.audit = WriteAudit(source)

    @property
    def buffered(self) -> int:
        return self._buffered

    def _route(self, event: Event) -> tuple[str, bool]:
        """(the event's stream, whether it is never shed), remembered per (kind, exchange, symbol)."""
        key = (type(event), getattr(event, "exchange", ""), getattr(event, "symbol", ""))
        route = self._routes.get(key)
        if route is None:
            if len(self._routes) >= ROUTES_KEPT:
                self._routes.clear()
            route = self._routes[key] = (stream_of(event, self.settings), FAMILY[type(event)] in NEVER_SHED)
        return route

    def publish(self, event: Event) -> bool:
        """Queue one event; False when it was shed or dropped (counted)."""
        stream, never_shed = self._route(event)
        if not never_shed:
            if stream in self._shedding:
                metrics.EVENTS_SHED.labels(stream).inc()
                return False
            if self._buffered >= self.settings.producer.buffer_events:
                metrics.EVENTS_DROPPED.labels(stream, "buffer_full").inc()
                return False
        self._pending[stream].append(event)
        self._buffered += 1
        if len(self._pending[stream]) >= self.settings.producer.batch_events:
            self._full.set()
        return True

    async def publish_wait(self, event: Event) -> None:
        """Queue an event that must never be shed: wait while the buffer is full or lag is high."""
        stream, _ = self._route(event)
        while self._buffered >= self.settings.producer.buffer_events or stream in self._shedding:
            self._drained.clear()
            self._full.set()
            await self._drained.wait()
        self.publish(event)

    async def run(self, stop: asyncio.Event) -> None:
        """Flush every flush interval (or as soon as a batch fills) until stopped, then flush the rest.
        A flush in progress is not raced against the stop (a task per flush costs the hot path);
        Redis away fails it at once, and the backoff after it ends with the stop."""
        interval = self.settings.producer.flush_ms / 1000
        while not stop.is_set():
            try:  # asyncio.timeout: 3.11's wait_for makes a task each time, and can swallow a cancel
                async with asyncio.timeout(interval):
                    await self._full.wait()
            except TimeoutError:
                pass
            self._full.clear()
            if not await self.flush():
                await sleep_or_stop(stop, self._backoff.next_delay())
        await self._flush_rest()

    async def _flush_rest(self) -> None:
        """At stop: keep flushing what is buffered for at most half the shutdown budget, however
        Redis answers (a flush cut off at the deadline keeps its events, counted below)."""
        try:
            async with asyncio.timeout(self.settings.shutdown_timeout_s / 2):
                while self._buffered:
                    if not await self.flush():
                        await asyncio.sleep(0.2)
        except TimeoutError:
            pass
        if self._buffered:
            log.error("events left unwritten at stop",
                      extra={"events": self._buffered, "source": self.source})

    async def flush(self) -> bool:
        """Write everything pending in one pipeline; False when Redis failed (events kept)."""
        if not self._buffered:
            if self._shedding and time.monotonic() - self._lag_checked >= LAG_CHECK_S:
                await self.check_lag(set(self._shedding))  # so a waiting publish_wait learns of recovery
            return True
        batches = self._pending
        self._pending = defaultdict(list)
        size = self.settings.producer.batch_events
        entries: list[tuple[str, list[Event]]] = []
        for stream, events in batches.items():
            for start in range(0, len(events), size):
                entries.append((stream, events[start : start + size]))
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for stream, chunk in entries:
                    pipe.xadd(stream,
                              encode_entry(chunk),  # type: ignore[arg-type]  # bytes fit, but dict is invariant
                              maxlen=maxlen_of(stream, self.settings), approximate=True)
                ids = await pipe.execute()
        except asyncio.CancelledError:
            self._restore(batches)  # cut off (a stop's deadline): the events are still ours
            raise
        except (RedisError, OSError) as exc:
            self._restore(batches)
            metrics.REDIS_ERRORS.labels("xadd").inc()
            log.warning("redis write failed, events kept in memory",
                        extra={"error": repr(exc), "buffered": self._buffered, "source": self.source})
            return False
        for (stream, chunk), entry_id in zip(entries, ids, strict=True):
            self.audit.record(stream, entry_id, len(chunk))
            metrics.ENTRIES_PUBLISHED.labels(stream).inc()
            metrics.EVENTS_PUBLISHED.labels(stream).inc(len(chunk))
            self.published += len(chunk)
        self._buffered -= sum(len(chunk) for _, chunk in entries)
        if self.on_written is not None:
            self.on_written(ids)
        metrics.PRODUCER_BUFFERED.set(self._buffered)
        self._backoff.reset()
        self._drained.set()
        if time.monotonic() - self._lag_checked >= LAG_CHECK_S:
            await self._audit_writes()
            await self.check_lag({stream for stream, _ in entries} | self._shedding)
        return True

    async def _audit_writes(self) -> None:
        """Count entries a failover lost (shared/write_audit.py); Redis away: next time."""
        try:
            await self.audit.check(self.redis)
        except (RedisError, OSError):
            metrics.REDIS_ERRORS.labels("audit").inc()

    def _restore(self, batches: dict[str, list[Event]]) -> None:
        """Put unwritten events back in front of what arrived meanwhile, order kept."""
        for stream, events in self._pending.items():
            batches.setdefault(stream, []).extend(events)
        self._pending = defaultdict(list, batches)
        metrics.PRODUCER_BUFFERED.set(self._buffered)

    async def check_lag(self, streams: set[str]) -> None:
        """Start shedding a stream whose slowest group lags past the cap fraction; stop below half of it."""
        self._lag_checked = time.monotonic()
        for stream in streams:
            try:
                lag = await group_lag(self.redis, stream)
            except (RedisError, OSError):
                metrics.REDIS_ERRORS.labels("xinfo").inc()
                return
            limit = maxlen_of(stream, self.settings) * self.settings.producer.lag_fraction
            if lag is not None and lag >= limit and stream not in self._shedding:
                self._shedding.add(stream)
                log.warning("group lag near the stream cap: shedding", extra={"stream": stream, "lag": lag})
                self._alert(stream, lag, "critical", "shedding")
            elif stream in self._shedding and (lag is None or lag < limit / 2):
                self._shedding.discard(stream)
                self._drained.set()  # publish_wait callers re-check their own stream
                log.info("group lag recovered: no longer shedding", extra={"stream": stream, "lag": lag})
                self._alert(stream, lag or 0, "info", "recovered")
        if not self._shedding:
            self._drained.set()

    def _alert(self, stream: str, lag: int, severity: Severity, what: str) -> None:
        if family_of(stream) == "alerts":
            return
        alert = Alert(
            source=self.source or "producer", severity=severity, key=f"lag:{stream}",
            title=f"{stream} {what}",
            text=f"consumer lag {lag} entries, cap {maxlen_of(stream, self.settings)}",
            ts=now_us(), recv_ts=now_us(),
        )
        self.publish(alert)
