"""Counting what a failover lost. Redis replication is asynchronous: entries a master acknowledged
but had not yet sent to its replica are gone when the replica takes over (or when a Redis without
persistence restarts). Nobody downstream can see the hole, so the producer, who holds the ids Redis
gave it, looks: it remembers its last entries per stream, and when the server behind a stream
changes (another cluster node serves its slot, or a single Redis has a new run id) it reads those
ids back once (one by one, in a pipeline), and counts the missing ones in `<stream>:lost` (a hash:
producer -> entries), in tradehub_stream_entries_lost_total and in the log. The stream monitor
exports the hash.
"""
from __future__ import annotations

import logging
from collections import deque
from typing import cast

import redis.asyncio as aioredis

from shared import metrics
from shared.constants import lost_key
from shared.redis_connect import is_cluster

log = logging.getLogger(__name__)
AUDITED_ENTRIES = 256  # per stream: seconds of writes at any rate we run, replication lags by ms


def _id(raw: bytes) -> tuple[int, int]:
    ms, _, seq = raw.partition(b"-")
    return int(ms), int(seq or 0)


Written = list[tuple[bytes, int]]  # (entry id, events in it)


def missing(written: Written, present: set[bytes], first: bytes | None) -> Written:
    """Written entries not in the stream any more; those older than its first entry were trimmed
    (MAXLEN), not lost. Pure."""
    return [(entry_id, events) for entry_id, events in written
            if entry_id not in present and (first is None or _id(entry_id) >= _id(first))]


class WriteAudit:
    """A producer's memory of its last entries, read back when the server behind a stream changed."""

    def __init__(self, source: str) -> None:
        self.source = source or "producer"
        self._written: dict[str, deque[tuple[bytes, int]]] = {}
        self._server: dict[str, str] = {}  # stream -> the server that answered its last audit
        self.lost = 0

    def record(self, stream: str, entry_id: bytes, events: int) -> None:
        self._written.setdefault(stream, deque(maxlen=AUDITED_ENTRIES)).append((entry_id, events))

    async def check(self, redis: aioredis.Redis) -> int:
        """Entries found lost now (each counted once). Redis errors are the caller's."""
        servers = await self._servers(redis, list(self._written))
        found = 0
        for stream, server in servers.items():
            before = self._server.get(stream)
            if before is not None and before != server and self._written[stream]:
                found += await self._count(redis, stream)
            self._server[stream] = server
        return found

    async def _servers(self, redis: aioredis.Redis, streams: list[str]) -> dict[str, str]:
        """stream -> which server holds it now: the cluster node of its slot, else the run id."""
        if is_cluster(redis):
            cluster = cast(aioredis.RedisCluster, redis)
            nodes = {stream: cluster.get_node_from_key(stream) for stream in streams}
            return {stream: node.name for stream, node in nodes.items() if node is not None}
        run_id = str((await redis.info("server")).get("run_id", ""))
        return dict.fromkeys(streams, run_id)

    async def _count(self, redis: aioredis.Redis, stream: str) -> int:
        written = list(self._written[stream])
        async with redis.pipeline(transaction=False) as pipe:  # id by id: others' entries stay unread
            for entry_id, _ in written:
                pipe.xrange(stream, min=entry_id, max=entry_id, count=1)
            pipe.xrange(stream, count=1)
            *found, first = await pipe.execute()
        gone = missing(written, {rows[0][0] for rows in found if rows}, first[0][0] if first else None)
        self._written[stream] = deque((w for w in written if w not in gone), maxlen=AUDITED_ENTRIES)
        if not gone:
            return 0
        await redis.hincrby(lost_key(stream), self.source, len(gone))
        events = sum(n for _, n in gone)
        metrics.ENTRIES_LOST.labels(stream).inc(len(gone))
        metrics.EVENTS_LOST.labels(stream).inc(events)
        self.lost += events
        log.error("entries acknowledged by redis are gone from the stream (lost in a failover)",
                  extra={"stream": stream, "entries": len(gone), "events": events, "source": self.source,
                         "first_lost": gone[0][0].decode(), "last_lost": gone[-1][0].decode()})
        return len(gone)
