"""Partition ownership: the processors share the partitions of the streams among themselves, and
take over those of a processor that died (docs/scaling.md).

A partition is one number n across every family (th:trades:n, th:oi:n, th:account:n, ...), so
everything of one exchange+symbol moves together. Its owner holds a lease, a key holding its
instance name, set NX with a TTL (streams.lease_ttl_s) and renewed every streams.lease_renew_s.
The live processors are the members of a sorted set, each scored by when its membership lapses.
Every round a processor aims at its fair share, ceil(N / live processors): over it, it stops the
consumers of its highest partitions (each finishes and acks its batch in hand, reads nothing new)
and only then frees their leases; under it, it takes free leases and starts the consumers of every
group on them, with fresh in-memory state, after moving the groups' pending entries to its own name.
A lease it could not renew in time is given up before it lapses. Each command touches one key (no
multi-key command, no Lua across keys), so the same runs on a Redis Cluster.
"""
from __future__ import annotations

import asyncio
import logging
import time
import zlib
from collections.abc import Callable, Collection, Sequence
from typing import cast

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from redis.typing import StreamIdT

from shared import metrics
from shared.backoff import Backoff, sleep_or_stop
from shared.config import Settings
from shared.constants import partition_lease_key, processor_members_key
from shared.consumer import StreamConsumer

log = logging.getLogger(__name__)
PartitionWork = Callable[[int], Sequence[StreamConsumer]]  # partition n -> its consumers, fresh sinks
PENDING_PAGE = 1000  # pending entries moved per XPENDING/XCLAIM round at a takeover

# KEYS[1] a lease; ARGV[1] the instance, ARGV[2] ttl ms: extended only while it is still ours
RENEW_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
# KEYS[1] a lease; ARGV[1] the instance: freed only while it is still ours
RELEASE_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


def fair_share(partitions: int, live: int) -> int:
    """The most partitions one of `live` processors should own: ceil(N / live)."""
    return -(-partitions // max(1, live))


def rebalance(owned: Collection[int], share: int) -> tuple[list[int], int]:
    """(partitions to release, how many free ones to take) to move towards `share`: the highest
    owned ones go."""
    mine = sorted(owned)
    return mine[share:], max(0, share - len(mine))


def take_order(free: Collection[int], first: int) -> list[int]:
    """The free partitions in the order this processor tries them: from its own starting point
    upwards, wrapping, so processors starting together rarely race for the same lease."""
    return sorted(free, key=lambda n: (n < first, n))


class Leases:
    """The Redis side of ownership: membership and one lease per partition."""

    def __init__(self, redis: aioredis.Redis, prefix: str, instance: str, ttl_ms: int) -> None:
        self.redis = redis
        self.prefix = prefix
        self.instance = instance
        self.mine = instance.encode()
        self.ttl_ms = ttl_ms
        self.members = processor_members_key(prefix)
        self._renew = redis.register_script(RENEW_LUA)
        self._release = redis.register_script(RELEASE_LUA)

    async def join(self) -> int:
        """Renew our membership, forget lapsed members; the number of live processors. Members
        are scored by wall-clock time: the hosts' clocks must agree to well within the TTL."""
        now_ms = int(time.time() * 1000)
        await self.redis.zadd(self.members, {self.instance: now_ms + self.ttl_ms})
        await self.redis.zremrangebyscore(self.members, "-inf", now_ms)
        return int(await self.redis.zcard(self.members))

    async def holders(self, partitions: int) -> list[bytes | None]:
        """Each partition's lease holder (None: free). One GET per key, grouped in a pipeline."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for n in range(partitions):
                pipe.get(partition_lease_key(self.prefix, n))
            return cast(list[bytes | None], await pipe.execute())

    async def renew(self, partition: int) -> bool:
        return bool(await self._renew(keys=[partition_lease_key(self.prefix, partition)],
                                      args=[self.instance, self.ttl_ms]))

    async def take(self, partition: int) -> bool:
        return bool(await self.redis.set(partition_lease_key(self.prefix, partition), self.instance,
                                         nx=True, px=self.ttl_ms))

    async def release(self, partition: int) -> None:
        await self._release(keys=[partition_lease_key(self.prefix, partition)], args=[self.instance])

    async def leave(self) -> None:
        await self.redis.zrem(self.members, self.instance)


async def take_over_pending(consumer: StreamConsumer) -> int:
    """Move every pending entry of the consumer's group on its stream to this consumer's name:
    the partition's previous owner is gone (its lease lapsed or was freed), so its unacked entries
    are ours now, and this consumer's first read (its own pending first) handles them at once
    instead of after claim_idle_ms. Entries trimmed meanwhile come back empty on that read, where
    they are counted. Returns how many moved."""
    await consumer.ensure_group()
    start, moved, ours = "-", 0, consumer.consumer.encode()
    while True:
        rows = await consumer.redis.xpending_range(consumer.stream, consumer.group, min=start, max="+",
                                                   count=PENDING_PAGE)
        ids: list[StreamIdT] = [row["message_id"] for row in rows if row["consumer"] != ours]
        if ids:
            await consumer.redis.xclaim(consumer.stream, consumer.group, consumer.consumer, min_idle_time=0,
                                        message_ids=ids, justid=True)
            moved += len(ids)
        if len(rows) < PENDING_PAGE:
            return moved
        start = "(" + cast(bytes, rows[-1]["message_id"]).decode()


class Partition:
    """One partition this processor owns: its consumers run until its own stop is set."""

    def __init__(self, number: int, consumers: Sequence[StreamConsumer]) -> None:
        self.number = number
        self.consumers = consumers
        self.stop = asyncio.Event()
        self.renewed = time.monotonic()  # when the last renewal (or the take) was sent
        self.stopped = 0.0  # when it was told to stop, leaving
        self.task: asyncio.Task[None] | None = None

    async def serve(self, redis_backoff_max_s: float) -> None:
        """Take over the pending entries of each (stream, group), then consume until stopped."""
        firsts = {(c.stream, c.group): c for c in reversed(self.consumers)}  # the first consumer of each
        backoff = Backoff(base=0.2, cap=redis_backoff_max_s)
        for consumer in firsts.values():
            while not self.stop.is_set():
                try:
                    moved = await take_over_pending(consumer)
                    break
                except (RedisError, OSError) as exc:
                    log.warning("pending entries not taken over yet", extra={
                        "stream": consumer.stream, "group": consumer.group, "error": repr(exc)})
                    await sleep_or_stop(self.stop, backoff.next_delay())
            else:
                return
            if moved:
                log.info("pending entries taken over", extra={"stream": consumer.stream,
                                                              "group": consumer.group, "entries": moved})
        async with asyncio.TaskGroup() as tasks:
            for consumer in self.consumers:
                tasks.create_task(consumer.run(self.stop))


class PartitionOwnership:
    """The one coordinator of a processor: which partitions it owns, and their consumers.

    `owned` partitions run; `leaving` ones were told to stop (over our share) and keep their lease,
    renewed, until their consumers have finished, when it is freed. Stopping never holds up a
    round, so the other leases are renewed meanwhile."""

    def __init__(self, redis: aioredis.Redis, settings: Settings, instance: str, work: PartitionWork,
                 stop_grace_s: float) -> None:
        streams = settings.streams
        self.partitions = streams.partitions
        self.renew_s = streams.lease_renew_s
        self.give_up_s = streams.lease_ttl_s - 2 * streams.lease_renew_s  # unrenewed this long: stop
        self.leases = Leases(redis, streams.prefix, instance, int(streams.lease_ttl_s * 1000))
        self.instance = instance
        self.first = zlib.crc32(instance.encode()) % self.partitions  # where its take_order starts
        self.work = work
        self.stop_grace_s = stop_grace_s
        self.backoff_max_s = settings.redis_backoff_max_s
        self.owned: dict[int, Partition] = {}
        self.leaving: dict[int, Partition] = {}
        self._tasks: asyncio.TaskGroup | None = None

    async def run(self, stop: asyncio.Event) -> None:
        """Rebalance every renew interval until stopped; then stop every partition (each finishes its
        batch) and free its lease. Cancelled instead (a crash, in tests a SIGKILL), it frees nothing:
        its leases lapse after their TTL and another processor takes them over."""
        async with asyncio.TaskGroup() as tasks:
            self._tasks = tasks
            while not stop.is_set():
                try:
                    await self.round()
                except (RedisError, OSError, TimeoutError) as exc:
                    metrics.REDIS_ERRORS.labels("ownership").inc()
                    log.warning("partition leases not renewed", extra={"instance": self.instance,
                                                                       "error": repr(exc)})
                self._give_up_unrenewed()
                await sleep_or_stop(stop, self.renew_s)
            await self._stop_all()

    async def round(self) -> None:
        """Renew what we hold, stop what we lost, free what has finished leaving, then move towards
        the fair share. Redis is given one renewal interval for its part of a round."""
        async with asyncio.timeout(self.renew_s):
            live = await self.leases.join()
            holders = await self.leases.holders(self.partitions)
            renewed = await self._renew([n for n, holder in enumerate(holders) if holder == self.leases.mine])
        lost = [n for n in self.owned if n not in renewed]
        if lost:
            log.warning("partitions lost to another processor", extra={"partitions": lost})
            self._let_go(lost, "lost")
        for n in renewed:
            if n not in self.owned and n not in self.leaving:  # ours from before a restart: adopted
                self._start(n)
        async with asyncio.timeout(self.renew_s):
            await self._free_finished(renewed)
        release, room = rebalance(self.owned, fair_share(self.partitions, live))
        if release:
            log.info("partitions released", extra={"partitions": release, "live": live})
            for n in release:
                self.leaving[n] = self.owned.pop(n)
                self.leaving[n].stop.set()
                self.leaving[n].stopped = time.monotonic()
        free = [n for n, holder in enumerate(holders) if holder is None]
        async with asyncio.timeout(self.renew_s):
            await self._take(take_order(free, self.first), room, live)
        metrics.PARTITIONS_OWNED.set(len(self.owned))

    async def _renew(self, mine: list[int]) -> set[int]:
        renewed = set()
        for n in mine:
            sent = time.monotonic()
            if await self.leases.renew(n):
                renewed.add(n)
                for held in (self.owned, self.leaving):
                    if n in held:
                        held[n].renewed = sent
        return renewed

    async def _free_finished(self, renewed: set[int]) -> None:
        """Free the lease of each leaving partition whose consumers have finished (cancelled when
        past the grace: their batch stays pending for the next owner); forget those already lost."""
        now = time.monotonic()
        for n, partition in list(self.leaving.items()):
            if n not in renewed:
                self._let_go([n], "lost")
                continue
            task = partition.task
            if task is not None and not task.done():
                if now - partition.stopped < self.stop_grace_s:
                    continue
                log.warning("partition still busy at its stop deadline: cancelled, its batch stays pending",
                            extra={"partition": n})
                task.cancel()
                await asyncio.wait([task])
            await self.leases.release(n)
            del self.leaving[n]
            metrics.PARTITION_MOVES.labels("released").inc()

    async def _take(self, candidates: list[int], room: int, live: int) -> None:
        for n in candidates:
            if room == 0:
                return
            sent = time.monotonic()
            if await self.leases.take(n):  # another processor may have been faster: then the next
                self._start(n).renewed = sent
                room -= 1
                metrics.PARTITION_MOVES.labels("taken").inc()
                log.info("partition taken", extra={"partition": n, "live": live})

    def _start(self, n: int) -> Partition:
        assert self._tasks is not None, "started outside run()"
        partition = Partition(n, self.work(n))
        partition.task = self._tasks.create_task(partition.serve(self.backoff_max_s))
        self.owned[n] = partition
        return partition

    def _let_go(self, numbers: list[int], change: str) -> None:
        """Stop these partitions without waiting. "given_up": the lease may lapse soon, each consumer
        finishes its batch in hand; "lost": the lease is another's already, so a consumer still busy
        is cancelled (its batch stays pending for the new owner, which must not see stale writes)."""
        for n in numbers:
            partition = self.owned.pop(n, None) or self.leaving.pop(n)
            partition.stop.set()
            if partition.task is not None and not partition.task.done() and change == "lost":
                partition.task.cancel()
            metrics.PARTITION_MOVES.labels(change).inc()
        metrics.PARTITIONS_OWNED.set(len(self.owned))

    def _give_up_unrenewed(self) -> None:
        """A lease not renewed for ttl - 2 renewals may lapse soon: its consumers stop now, before
        another processor can take it."""
        now = time.monotonic()
        late = [n for held in (self.owned, self.leaving) for n, partition in held.items()
                if now - partition.renewed > self.give_up_s]
        if late:
            log.warning("partitions given up: their leases were not renewed in time",
                        extra={"partitions": late})
            self._let_go(late, "given_up")

    async def _stop_all(self) -> None:
        """At the stop: every partition stopped (its consumers finish and ack the batch in hand, within
        the grace), then its lease freed and our membership removed, within one renewal (with Redis
        away they lapse with their TTL instead)."""
        held = {**self.leaving, **self.owned}
        self.owned, self.leaving = {}, {}
        for partition in held.values():
            partition.stop.set()
        tasks = [p.task for p in held.values() if p.task is not None]
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=self.stop_grace_s)
            for task in late:
                log.warning("partition still busy at the stop deadline: cancelled, its batch stays pending")
                task.cancel()
        metrics.PARTITIONS_OWNED.set(0)
        try:
            async with asyncio.timeout(self.renew_s):
                for n in sorted(held):
                    await self.leases.release(n)
                await self.leases.leave()
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("leases not freed at stop", extra={"partitions": sorted(held), "error": repr(exc)})
