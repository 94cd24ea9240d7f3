"""User alert rules in the processor: the "rules" group on the streams the rule kinds read
(docs/rules.md), evaluating each event as it flows, never polling tables.

  th:funding, th:prices, th:trades, th:liquidations, th:large_trades, th:alerts (Spike),
  th:positions (PositionChange), th:status (HedgeStatus, StreamLag)
      ->  Alert on th:alerts (key rule:<id>:...) + a row in alert_history

A feed_silent rule has no event to fire on: a timer in the group (SILENCE_CHECK_S) compares the last
receive times the events left (services/processor/rules_silence.py) with the clock.

The group joins every stream at its end ("$"): a rule is about what happens from now on, and a new
group must not lag by whole streams. Rules are reloaded every RELOAD_S; a rule's cooldown is a Redis
key set with NX and a TTL, so every consumer (and processor) shares it.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from functools import partial

import asyncpg
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from services.processor.rules import KINDS, Fire, Memory, evaluate, identity
from services.processor.rules_silence import KIND as SILENT
from services.processor.rules_silence import Silence, SilenceWatch
from services.processor.rules_silence import family_of as silent_family
from shared.alert_rules import Rule, list_rules, record_fire
from shared.backoff import Backoff, sleep_or_stop
from shared.breaker import SinkUnavailable
from shared.config import Settings
from shared.constants import family_streams, partition_stream
from shared.consumer import StreamConsumer
from shared.consumer import join_at_the_end as join_streams_at_the_end
from shared.db import DB_ERRORS
from shared.events import FAMILY, Alert, Event, now_us
from shared.health import instance_name
from shared.streams import StreamProducer

log = logging.getLogger(__name__)
RULES_GROUP = "rules"
FAMILIES = ("funding", "prices", "trades", "liquidations", "large_trades", "alerts", "positions", "status")
RELOAD_S = 3.0
SILENCE_CHECK_S = 1.0
SOURCE = "rules"


def cooldown_key(prefix: str, rule_id: int) -> str:
    """Set while a rule is cooling down after it fired (its TTL is the cooldown)."""
    return f"{prefix}:rules:cooldown:{rule_id}"


class RuleBook:
    """The enabled rules, by the event type they read; reloaded from PostgreSQL."""

    def __init__(self) -> None:
        self.by_type: dict[type[Event], list[Rule]] = {}
        self.silent: list[Rule] = []  # feed_silent: watched by the timer

    def set(self, rules: Sequence[Rule]) -> None:
        by_type: dict[type[Event], list[Rule]] = {}
        for rule in rules:
            if rule.enabled and rule.kind in KINDS:
                for kind in KINDS[rule.kind].events:
                    by_type.setdefault(kind, []).append(rule)
        self.by_type = by_type
        self.silent = [rule for rule in rules if rule.enabled and rule.kind == SILENT]

    def reads(self, family: str) -> bool:
        """Whether a rule needs this family's events now: one of its kinds, or a feed_silent rule
        that notes what flows on it. Else its consumer acks entries without decoding them."""
        return (any(FAMILY[kind] == family for kind in self.by_type)
                or any(silent_family(rule) == family for rule in self.silent))

    def rules_for(self, event: Event) -> list[Rule]:
        return self.by_type.get(type(event), [])

    async def reload(self, pool: asyncpg.Pool) -> None:
        self.set(await list_rules(pool, enabled_only=True))

    async def keep_loaded(self, pool: asyncpg.Pool, stop: asyncio.Event, every_s: float) -> None:
        """Reload every `every_s`; a database outage keeps the rules last loaded."""
        while not await sleep_or_stop(stop, every_s):
            try:
                await self.reload(pool)
            except DB_ERRORS as exc:
                log.warning("rules not reloaded", extra={"error": repr(exc)})


def rule_alert(rule: Rule, fire: Fire, event: Event) -> Alert:
    return Alert(source=SOURCE, severity=rule.severity, key=f"rule:{rule.id}:{identity(event)}",
                 title=fire.title, text=f"{fire.text}\nrule {rule.id} ({rule.kind})", chat=rule.chat,
                 ts=event.ts, recv_ts=now_us())


def silence_alert(silence: Silence, now: int) -> Alert:
    rule = silence.rule
    key = f"rule:{rule.id}:silent:{silence.field}:{silence.since}"
    return Alert(source=SOURCE, severity=rule.severity, key=key,
                 title=silence.fire.title, text=f"{silence.fire.text}\nrule {rule.id} ({rule.kind})",
                 chat=rule.chat, ts=now, recv_ts=now)


class RuleSink:
    """Evaluates each event against the rules of its type; what fires outside its cooldown is stored
    in alert_history and published. A failed store or publication releases the cooldowns it took
    and raises SinkUnavailable, so the redelivered batch fires again."""

    def __init__(self, book: RuleBook, redis: aioredis.Redis, pool: asyncpg.Pool, producer: StreamProducer,
                 prefix: str, memory: Memory) -> None:
        self.book, self.redis, self.pool, self.producer = book, redis, pool, producer
        self.prefix, self.memory = prefix, memory
        self.watch = SilenceWatch(redis, prefix)

    async def __call__(self, events: Sequence[Event]) -> None:
        if self.book.silent:
            try:
                await self.watch.note(self.book.silent, events)
            except (RedisError, OSError) as exc:
                raise SinkUnavailable(f"redis (feed last seen): {exc!r}") from exc
        fired: list[tuple[Rule, Alert]] = []
        for event in events:
            for rule in self.book.rules_for(event):
                fire = evaluate(rule, event, self.memory)
                if fire is not None and await self._cool(rule):
                    fired.append((rule, rule_alert(rule, fire, event)))
        if fired:
            await self._fire(fired)

    async def fire_silences(self, now: int) -> int:
        """Fire the feed_silent rules whose feed is silent at `now` (µs), once per silence, outside
        their cooldown; returns how many fired. A silence the cooldown holds back is tried again."""
        fired: list[tuple[Rule, Alert]] = []
        claimed: list[Silence] = []
        for silence in await self.watch.due(self.book.silent, now):
            if not await self.watch.claim(silence):
                continue
            if await self._cool(silence.rule):
                claimed.append(silence)
                fired.append((silence.rule, silence_alert(silence, now)))
            else:
                await self.watch.release(silence)
        try:
            if fired:
                await self._fire(fired)
        except SinkUnavailable:
            for silence in claimed:
                await self.watch.release(silence)
            raise
        return len(fired)

    async def _cool(self, rule: Rule) -> bool:
        """True when the rule may fire now (and its cooldown starts)."""
        if rule.cooldown_s <= 0:
            return True
        try:
            return bool(await self.redis.set(cooldown_key(self.prefix, rule.id), b"1", nx=True,
                                             ex=rule.cooldown_s))
        except (RedisError, OSError) as exc:
            raise SinkUnavailable(f"redis (rule cooldown): {exc!r}") from exc

    async def _fire(self, fired: list[tuple[Rule, Alert]]) -> None:
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                for rule, alert in fired:
                    await record_fire(conn, rule.id, alert)
        except DB_ERRORS as exc:
            await self._release(fired)
            raise SinkUnavailable(f"postgres (alert history): {exc!r}") from exc
        for _, alert in fired:
            self.producer.publish(alert)
            log.info("rule fired", extra={"key": alert.key, "title": alert.title})
        if not await self.producer.flush():
            await self._release(fired)
            raise SinkUnavailable("redis: rule alerts not published")

    async def _release(self, fired: list[tuple[Rule, Alert]]) -> None:
        try:
            await self.redis.delete(*{cooldown_key(self.prefix, rule.id) for rule, _ in fired})
        except (RedisError, OSError):
            pass  # the cooldown then holds these back: the history still shows what fired


async def join_at_the_end(settings: Settings, redis: aioredis.Redis, stop: asyncio.Event) -> None:
    """Create the group at each stream's end ("$"); an existing group keeps its place."""
    streams = [stream for family in FAMILIES
               for stream in family_streams(settings.streams.prefix, family, settings.streams.partitions)]
    await join_streams_at_the_end(redis, streams, RULES_GROUP, stop, settings.redis_backoff_max_s)


async def watch_silences(sink: RuleSink, stop: asyncio.Event, every_s: float = SILENCE_CHECK_S) -> None:
    """The feed_silent timer; Redis or PostgreSQL away is logged and tried again next tick."""
    while not await sleep_or_stop(stop, every_s):
        if not sink.book.silent:
            continue
        try:
            await sink.fire_silences(now_us())
        except (RedisError, OSError, SinkUnavailable) as exc:
            log.warning("feed silences not checked", extra={"error": repr(exc)})


async def first_load(book: RuleBook, pool: asyncpg.Pool, stop: asyncio.Event) -> None:
    backoff = Backoff(base=0.5, cap=30.0)
    while not stop.is_set():
        try:
            await book.reload(pool)
            return
        except DB_ERRORS as exc:
            log.warning("rules not loaded", extra={"error": repr(exc)})
            await sleep_or_stop(stop, backoff.next_delay())


async def prepare_rules(settings: Settings, redis: aioredis.Redis, pool: asyncpg.Pool,
                        stop: asyncio.Event) -> RuleBook:
    """Once per process, before any partition's consumers: the group joined at every stream's end,
    and the rules loaded."""
    await join_at_the_end(settings, redis, stop)
    book = RuleBook()
    await first_load(book, pool, stop)
    return book


def rules_consumers(settings: Settings, redis: aioredis.Redis, pool: asyncpg.Pool, book: RuleBook,
                    partition: int) -> list[StreamConsumer]:
    """One consumer per family the rule kinds read, on one partition. The partition's price Memory
    is its own: an exchange+symbol's trades and prices share one partition number."""
    name, prefix, partitions = instance_name(settings), settings.streams.prefix, settings.streams.partitions
    memory = Memory()
    return [  # each sink owns its producer, which it flushes itself
        StreamConsumer(redis, settings, partition_stream(prefix, family, partitions, partition),
                       RULES_GROUP, name,
                       RuleSink(book, redis, pool, StreamProducer(redis, settings, source="processor"),
                                prefix, memory),
                       wanted=partial(book.reads, family))
        for family in FAMILIES
    ]


def silence_timer(settings: Settings, redis: aioredis.Redis, pool: asyncpg.Pool, book: RuleBook) -> RuleSink:
    """The sink the feed_silent timer fires through, one per process: a silence is claimed in Redis
    before it fires, so several processors report it once."""
    return RuleSink(book, redis, pool, StreamProducer(redis, settings, source="processor"),
                    settings.streams.prefix, Memory())


async def run_rules(settings: Settings, redis: aioredis.Redis, pool: asyncpg.Pool, stop: asyncio.Event,
                    reload_s: float = RELOAD_S) -> None:
    """Every partition, without ownership, until stopped (the processor runs the rules through its
    partitions instead)."""
    book = await prepare_rules(settings, redis, pool, stop)
    consumers = [consumer for n in range(settings.streams.partitions)
                 for consumer in rules_consumers(settings, redis, pool, book, n)]
    async with asyncio.TaskGroup() as tasks:
        tasks.create_task(book.keep_loaded(pool, stop, reload_s))
        tasks.create_task(watch_silences(silence_timer(settings, redis, pool, book), stop))
        for consumer in consumers:
            tasks.create_task(consumer.run(stop))
