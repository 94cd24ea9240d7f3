"""Consuming Redis Streams without losing anything: read in batches with a consumer
group, ack only after the sink committed, reclaim what dead consumers left pending,
dead-letter what keeps failing, and stop reading while the sink is down.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import msgspec
import pybreaker
import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from shared import metrics
from shared.backoff import Backoff, sleep_or_stop
from shared.breaker import SinkBreaker, SinkUnavailable
from shared.config import Settings
from shared.constants import FIELD_EVENTS, trimmed_key
from shared.dlq import dead_letter
from shared.events import Event, batch_decoder, batch_encoder

log = logging.getLogger(__name__)
Sink = Callable[[Sequence[Event]], Awaitable[None]]
RawEntry = tuple[bytes, dict[bytes, bytes] | None]  # (id, fields); no fields: trimmed while pending


@dataclass
class Entry:
    """One stream entry and the events it carries."""

    id: bytes
    payload: bytes
    events: Sequence[Event] = field(default_factory=list)


class StreamConsumer:
    """One consumer of one group on one stream, feeding a sink.

    The sink raises SinkUnavailable when it cannot reach its store (the batch is held
    and retried behind a breaker, the stream keeps the backlog); any other error means
    the data was refused (the entry is retried by redelivery, then dead-lettered).
    """

    def __init__(self, redis: aioredis.Redis, settings: Settings, stream: str, group: str,
                 consumer: str, sink: Sink, breaker: SinkBreaker | None = None,
                 wanted: Callable[[], bool] | None = None, batch_entries: int | None = None) -> None:
        self.redis = redis
        self.settings = settings
        self.stream = stream
        self.group = group
        self.consumer = consumer
        self.sink = sink
        # False: the sink has no use for this stream now (no rule reads it): entries are acked undecoded
        self.wanted = wanted
        self.batch_entries = batch_entries or settings.consumer.batch_entries  # entries per read
        self.breaker = breaker or SinkBreaker(f"{group}:{stream}", settings)
        self._held: list[Entry] = []
        self._read_own_pending = True
        self._labels = (stream, group)
        self._backoff = Backoff(base=0.2, cap=settings.redis_backoff_max_s)
        self._stop = asyncio.Event()  # run() replaces it with the service's stop event

    async def ensure_group(self) -> None:
        try:
            await self.redis.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def run(self, stop: asyncio.Event) -> None:
        """Until stopped: finish the batch in hand, ack it, return (unfinished work stays pending)."""
        self._stop = stop
        while not stop.is_set():
            try:
                await self.ensure_group()
                break
            except (RedisError, OSError) as exc:
                await self._redis_down("xgroup", exc)
        while not stop.is_set():
            try:
                await self.step()
            except (RedisError, OSError) as exc:
                await self._redis_down("xreadgroup", exc)

    async def _redis_down(self, op: str, exc: Exception) -> None:
        """Back off; then re-read our own pending entries first: a read whose reply was lost, or an
        ack that failed, left entries pending under our name that nobody would see for claim_idle."""
        metrics.REDIS_ERRORS.labels(op).inc()
        self._read_own_pending = True
        log.warning("redis unavailable to consumer",
                    extra={"stream": self.stream, "error": repr(exc)})
        await sleep_or_stop(self._stop, self._backoff.next_delay())

    async def step(self) -> int:
        """One round: retry held work, else reclaim idle entries, else read new ones.
        Returns entries handled."""
        if self._held:
            if await sleep_or_stop(self._stop, self.breaker.wait_s()):
                return 0  # stopping: the held entries stay pending, for us or another consumer
            entries, self._held = self._held, []
        else:
            entries = await self._reclaim() or await self._read()
        if entries:
            await self._handle(entries)
        self._backoff.reset()
        return len(entries)

    async def _read(self) -> list[Entry]:
        """Own pending entries first (left by a previous run under this name), then new ones."""
        count = min(self.batch_entries, self.settings.consumer.max_in_flight)
        raw: list[RawEntry] = []
        if self._read_own_pending:
            raw = await self._read_group("0", count, block=None)
            self._read_own_pending = bool(raw)
        if not raw:
            raw = await self._read_group(">", count, block=self.settings.consumer.block_ms)
        gone = [entry_id for entry_id, fields in raw if not fields]
        if gone:  # pending here, but trimmed from the stream before we processed them
            await self._count_trimmed(len(gone))
            await self._ack(gone)
        entries = [Entry(entry_id, fields.get(FIELD_EVENTS, b"")) for entry_id, fields in raw if fields]
        metrics.DELIVERIES.labels(*self._labels).inc(len(entries))
        return entries

    async def _read_group(self, last_id: str, count: int, block: int | None) -> list[RawEntry]:
        """One XREADGROUP. Not raced against the stop: its BLOCK (consumer_block_ms) bounds the wait,
        and a task per read would widen the window in which a handled batch loses its ack."""
        reply = await self.redis.xreadgroup(self.group, self.consumer, {self.stream: last_id},
                                            count=count, block=block)
        # RESP2, responses not decoded: [[stream, [(id, fields), ...]]]
        return cast(list[RawEntry], cast(list[list[Any]], reply)[0][1]) if reply else []

    async def _reclaim(self) -> list[Entry]:
        """XAUTOCLAIM entries idle past the claim time; dead-letter those delivered too often."""
        reply = await self.redis.xautoclaim(self.stream, self.group, self.consumer,
                                            min_idle_time=self.settings.consumer.claim_idle_ms,
                                            start_id="0-0", count=self.batch_entries)
        claimed = [Entry(entry_id, fields.get(FIELD_EVENTS, b"")) for entry_id, fields in reply[1] if fields]
        deleted = reply[2] if len(reply) > 2 else []  # Redis 6.2 does not report them
        if deleted:  # pending, but trimmed before anyone processed them (XAUTOCLAIM dropped them)
            await self._count_trimmed(len(deleted))
        if not claimed:
            return []
        metrics.ENTRIES_RECLAIMED.labels(*self._labels).inc(len(claimed))
        counts = await self._deliveries([e.id for e in claimed])
        fresh = []
        for entry in claimed:
            if counts.get(entry.id, 0) > self.settings.consumer.max_deliveries:
                await self._dead_letter(entry, entry.payload, "delivered too many times without success")
            else:
                fresh.append(entry)
        return fresh

    async def _deliveries(self, ids: list[bytes]) -> dict[bytes, int]:
        rows = await self.redis.xpending_range(self.stream, self.group, min=min(ids), max=max(ids),
                                               count=len(ids) * 4)
        # responses are not decoded: message ids are bytes
        return {cast(bytes, row["message_id"]): int(row["times_delivered"]) for row in rows}

    async def _handle(self, entries: list[Entry]) -> None:
        if self.wanted is not None and not self.wanted():
            await self._ack([entry.id for entry in entries])
            return
        good: list[Entry] = []
        for entry in entries:
            try:
                entry.events = batch_decoder.decode(entry.payload)
                good.append(entry)
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                await self._dead_letter(entry, entry.payload, f"undecodable entry: {exc}")
        if not good:
            return
        try:
            await self.breaker.call(self.sink, [ev for entry in good for ev in entry.events])
        except (SinkUnavailable, pybreaker.CircuitBreakerError):
            self._held = good  # kept in hand, not acked: retried when the breaker lets us
            return
        except Exception as exc:  # noqa: BLE001 - the sink refused the data: isolate it
            log.warning("sink refused a batch, isolating", extra={"stream": self.stream, "error": repr(exc)})
            await self._isolate(good)
            return
        await self._ack([entry.id for entry in good])

    async def _isolate(self, entries: list[Entry]) -> None:
        """Store entry by entry, then event by event, so only the refused events stay behind."""
        for index, entry in enumerate(entries):
            try:
                await self.breaker.call(self.sink, entry.events)
            except (SinkUnavailable, pybreaker.CircuitBreakerError):
                self._held = entries[index:]
                return
            except Exception:  # noqa: BLE001 - refused: find which events
                if not await self._isolate_events(entry, entries[index:]):
                    return
                continue
            await self._ack([entry.id])

    async def _isolate_events(self, entry: Entry, rest: list[Entry]) -> bool:
        """Store the good events of a refused entry; dead-letter the bad ones once it failed often enough."""
        refused: list[tuple[Event, str]] = []
        for event in entry.events:
            try:
                await self.breaker.call(self.sink, [event])
            except (SinkUnavailable, pybreaker.CircuitBreakerError):
                self._held = rest
                return False
            except Exception as exc:  # noqa: BLE001 - this event is the poison
                refused.append((event, repr(exc)))
        metrics.ENTRIES_FAILED.labels(*self._labels).inc()
        deliveries = (await self._deliveries([entry.id])).get(entry.id, 1)
        if deliveries >= self.settings.consumer.max_deliveries:
            payload = batch_encoder.encode([event for event, _ in refused])
            await self._dead_letter(entry, payload, "; ".join(sorted({error for _, error in refused}))[:2000])
        else:
            log.warning("entry refused, left pending for redelivery",
                        extra={"stream": self.stream, "entry": entry.id.decode(), "deliveries": deliveries,
                               "refused": len(refused), "error": refused[0][1] if refused else ""})
        return True

    async def _dead_letter(self, entry: Entry, payload: bytes, error: str) -> None:
        await dead_letter(self.redis, self.stream, self.group, entry.id, payload, error, self.consumer)
        metrics.ENTRIES_DEAD.labels(*self._labels).inc()
        log.error("entry dead-lettered",
                  extra={"stream": self.stream, "entry": entry.id.decode(), "error": error})

    async def _count_trimmed(self, count: int) -> None:
        """Entries read but trimmed before we processed them: a metric here, a running total in Redis."""
        metrics.TRIMMED_UNREAD.labels(*self._labels).inc(count)
        await self.redis.hincrby(trimmed_key(self.stream), self.group, count)
        log.error("pending entries trimmed before they were processed",
                  extra={"stream": self.stream, "group": self.group, "entries": count})

    async def _ack(self, ids: list[bytes]) -> None:
        await self.redis.xack(self.stream, self.group, *ids)
        metrics.ENTRIES_ACKED.labels(*self._labels).inc(len(ids))


async def join_at_the_end(redis: aioredis.Redis, streams: Sequence[str], group: str, stop: asyncio.Event,
                          backoff_max_s: float) -> None:
    """Create `group` at each stream's end ("$"), an existing group keeping its place: a group that
    only wants what comes next (discovery, alert rules) never starts by lagging the whole stream.
    Redis away is waited out with backoff until stop."""
    backoff = Backoff(base=0.2, cap=backoff_max_s)
    for stream in streams:
        while not stop.is_set():
            try:
                await redis.xgroup_create(stream, group, id="$", mkstream=True)
                break
            except ResponseError as exc:
                if "BUSYGROUP" in str(exc):
                    break
                raise
            except (RedisError, OSError) as exc:
                log.warning("redis unavailable: group not joined yet",
                            extra={"stream": stream, "group": group, "error": repr(exc)})
                await sleep_or_stop(stop, backoff.next_delay())
