"""The one place a Redis client is made: a single Redis, or a Redis Cluster when the settings say so.

A cluster is named by `redis+cluster://[user:password@]host:port[,host:port...]` or by
`TRADEHUB_REDIS_CLUSTER=true` beside a plain URL (its hosts, comma-separated, are the start-up
nodes). The cluster client answers the same commands, splitting pipelines per node and following
MOVED/ASK and failovers by refreshing its slot map, so callers keep one type (`Redis`); what a
cluster forbids (a command over several slots) the key names rule out (shared/constants.py).
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import unquote

import redis
import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode as AsyncClusterNode
from redis.asyncio.cluster import ClusterPipeline
from redis.cluster import ClusterNode
from redis.crc import key_slot
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisClusterException
from redis.typing import EncodableT

from shared.config import Settings

CLUSTER_SCHEMES = ("redis+cluster", "rediss+cluster")
# keepalive and timeouts so a dead server is noticed; no silent retry on a timeout (our backoff owns that)
SOCKET_OPTIONS: dict[str, Any] = {"socket_keepalive": True, "socket_connect_timeout": 5}
HEALTH_CHECK_S = 15


@dataclass(frozen=True)
class ClusterTarget:
    """Start-up nodes of a cluster and the credentials they share."""

    nodes: tuple[tuple[str, int], ...]
    username: str | None = None
    password: str | None = None
    tls: bool = False


def cluster_target(url: str, cluster: bool) -> ClusterTarget | None:
    """The cluster a URL (or the cluster flag beside it) names; None for a single Redis. Pure."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError("a Redis URL starts with redis://, rediss:// or redis+cluster://")
    if scheme not in CLUSTER_SCHEMES and not cluster:
        return None
    credentials, _, location = rest.rpartition("@")
    hosts, _, path = location.split("?", 1)[0].partition("/")
    if path not in ("", "0"):
        raise ValueError("a Redis Cluster has only database 0")
    nodes = []
    for node in hosts.split(","):
        host, _, port = node.strip().rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"a cluster start-up node is host:port, got {node!r}")
        nodes.append((host.strip("[]"), int(port)))
    username, _, password = credentials.partition(":")
    return ClusterTarget(
        nodes=tuple(nodes),
        username=unquote(username) or None,
        password=unquote(password) or None,
        tls=scheme.startswith("rediss"),
    )


def streams_read(args: tuple[Any, ...]) -> list[Any]:
    """The stream keys of an XREAD / XREADGROUP's arguments: the first half of what follows STREAMS."""
    words = [(arg.decode() if isinstance(arg, bytes) else str(arg)).upper() for arg in args]
    rest = args[words.index("STREAMS") + 1 :]
    return list(rest[: len(rest) // 2])


def closed_under_us(exc: BaseException) -> bool:
    """A command that found its connection closed by another task: redis-py's cluster client
    closes the connections of nodes a failover replaced, and under uvloop the command in flight
    then fails with these instead of a ConnectionError."""
    text = str(exc)
    return (isinstance(exc, RuntimeError) and "handler is closed" in text) or \
        (isinstance(exc, AttributeError) and text.startswith("'NoneType' object has no attribute"))


class StreamsClusterPipeline(ClusterPipeline):
    async def execute(self, raise_on_error: bool = True, allow_redirections: bool = True) -> list[Any]:
        try:
            return await super().execute(raise_on_error, allow_redirections)
        except (RuntimeError, AttributeError) as exc:
            if closed_under_us(exc):
                raise RedisConnectionError(f"connection closed during a failover: {exc!r}") from exc
            raise


class StreamsCluster(aioredis.RedisCluster):
    """RedisCluster as tradehub needs it through a failover.

    - It finds the keys of XREAD / XREADGROUP itself: redis-py asks a server for them (COMMAND
      GETKEYS: one more round trip per read) through one node outside its error handling, so the
      failover of that node broke every consumer's read.
    - A connection closed under a command is a ConnectionError (closed_under_us), which every
      caller already retries with backoff, not an error that stops the service."""

    async def _determine_slot(self, command: str, *args: Any) -> int:
        if command.upper() not in ("XREAD", "XREADGROUP"):
            return await super()._determine_slot(command, *args)
        slots = {self.keyslot(key) for key in streams_read(args)}
        if len(slots) != 1:
            raise RedisClusterException(f"{command} - all keys must map to the same key slot")
        return slots.pop()

    async def execute_command(self, *args: EncodableT, **kwargs: Any) -> Any:
        try:
            return await super().execute_command(*args, **kwargs)
        except (RuntimeError, AttributeError) as exc:
            if closed_under_us(exc):
                raise RedisConnectionError(f"connection closed during a failover: {exc!r}") from exc
            raise

    def pipeline(self, transaction: Any | None = None, shard_hint: Any | None = None) -> ClusterPipeline:
        if shard_hint:
            raise RedisClusterException("shard_hint is deprecated in cluster mode")
        return StreamsClusterPipeline(self, transaction)  # type: ignore[abstract]  # as redis-py makes its own


def redis_client(settings: Settings) -> aioredis.Redis:
    """One asyncio client per process: Redis, or RedisCluster (typed as Redis: same commands)."""
    target = cluster_target(settings.redis_url, settings.redis_cluster)
    if target is None:
        return aioredis.Redis.from_url(settings.redis_url, health_check_interval=HEALTH_CHECK_S,
                                       retry_on_timeout=False, **SOCKET_OPTIONS)
    client = StreamsCluster(
        startup_nodes=[AsyncClusterNode(host, port) for host, port in target.nodes],
        username=target.username, password=target.password, ssl=target.tls,
        health_check_interval=HEALTH_CHECK_S, **SOCKET_OPTIONS,
    )
    return cast(aioredis.Redis, client)


def redis_client_sync(settings: Settings) -> redis.Redis:
    """The blocking twin, for scripts (the demo's summary, its start-up cleaning)."""
    target = cluster_target(settings.redis_url, settings.redis_cluster)
    if target is None:
        return redis.Redis.from_url(settings.redis_url, retry_on_timeout=False, **SOCKET_OPTIONS)
    client = redis.RedisCluster(
        startup_nodes=[ClusterNode(host, port) for host, port in target.nodes],  # type: ignore[no-untyped-call]
        username=target.username, password=target.password, ssl=target.tls, **SOCKET_OPTIONS,
    )
    return cast(redis.Redis, client)


def is_cluster(client: aioredis.Redis | redis.Redis) -> bool:
    return isinstance(client, aioredis.RedisCluster | redis.RedisCluster)


async def get_many(client: aioredis.Redis, keys: list[bytes] | list[str]) -> list[bytes | None]:
    """MGET over keys of any slots: one pipeline of GETs (a cluster sends one batch per node;
    MGET itself must stay in one slot there)."""
    async with client.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.get(key)
        return cast(list[bytes | None], await pipe.execute())


CLUSTER_XREAD_BLOCK_MS = 50  # on a cluster every slot is read in turn, so none waits long on another


async def xread_any_slots(client: aioredis.Redis, cursors: dict[str, str], count: int,
                          block: int) -> list[Any]:
    """XREAD over streams of any slots. A cluster refuses one XREAD across slots: there, one XREAD
    per slot, run together with a short BLOCK (an idle slot must not delay a busy one), replies joined."""
    if not is_cluster(client):
        return cast(list[Any], await client.xread(cursors, count=count, block=block) or [])  # type: ignore[arg-type]
    by_slot: dict[int, dict[str, str]] = {}
    for stream, cursor in cursors.items():
        by_slot.setdefault(key_slot(stream.encode()), {})[stream] = cursor
    wait = min(block, CLUSTER_XREAD_BLOCK_MS)
    replies = await asyncio.gather(*(client.xread(group, count=count, block=wait)  # type: ignore[arg-type]
                                     for group in by_slot.values()))
    return [stream for reply in replies for stream in reply or []]
