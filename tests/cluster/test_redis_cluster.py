"""tradehub on a Redis Cluster (scripts/local_cluster.py: 3 masters, 3 replicas on loopback): keys of
a stream in its slot, partitions spread over the masters, producers and consumers with a DLQ over 3
partitions, rate-limit buckets and heartbeats; and a master SIGKILLed mid-run, its replica promoted,
the producer and the consumers carrying on by themselves, what was lost counted."""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any, cast

import asyncpg
import pytest
import redis.asyncio as aioredis
import uvloop
from pytest_aiohttp import AiohttpClient

from scripts.local_cluster import LocalCluster
from services.api.app import create_app
from shared.config import Settings
from shared.constants import (
    ALL_FAMILIES,
    PROCESSOR_GROUP,
    SERVICES,
    dlq_key,
    family_streams,
    lost_key,
    stream_key,
    stream_named,
    trimmed_key,
)
from shared.consumer import StreamConsumer
from shared.dlq import list_dead, replay
from shared.events import Event, Trade
from shared.health import beat_forever, read_heartbeats
from shared.monitor import StreamMonitor
from shared.redis_connect import cluster_target, is_cluster, streams_read, xread_any_slots
from shared.streams import StreamProducer, stream_of
from tests.trades import BASE_TS, wait_until

SYMBOLS = [f"C{n}-USDT-PERP" for n in range(12)]

POISON = "poison"


def trade(n: int, trade_id: str | None = None) -> Trade:
    symbol = SYMBOLS[n % len(SYMBOLS)]
    return Trade(exchange="binance", symbol=symbol, raw_symbol=symbol.replace("-", ""),
                 trade_id=trade_id or str(n), price=Decimal("100.5"), size=Decimal("0.01"), side="buy",
                 ts=BASE_TS + n, recv_ts=BASE_TS + n)


class Collected:
    """A sink keeping each trade's identity (a set: storing twice changes nothing) and refusing poison."""

    def __init__(self) -> None:
        self.ids: set[str] = set()

    async def __call__(self, events: Sequence[Event]) -> None:
        trades = [e for e in events if isinstance(e, Trade)]
        if any(t.trade_id == POISON for t in trades):
            raise ValueError("a poison trade")
        self.ids.update(t.trade_id for t in trades)


def cluster_settings(make_settings: Callable[..., Settings], url: str, **more: object) -> Settings:
    return make_settings(redis_url=url, stream_partitions=3, redis_backoff_max_s=1.0,
                         consumer_max_deliveries=1, **more)


def test_a_cluster_is_chosen_by_its_url_or_the_flag() -> None:
    target = cluster_target("redis+cluster://u:p%40ss@10.0.0.1:7000,10.0.0.2:7001", cluster=False)
    assert target is not None and target.nodes == (("10.0.0.1", 7000), ("10.0.0.2", 7001))
    assert (target.username, target.password, target.tls) == ("u", "p@ss", False)
    flagged = cluster_target("redis://10.0.0.1:7000/0", cluster=True)
    assert flagged is not None and flagged.nodes == (("10.0.0.1", 7000),)
    assert cluster_target("redis://127.0.0.1:6379/0", cluster=False) is None
    with pytest.raises(ValueError, match="database 0"):
        cluster_target("redis+cluster://10.0.0.1:7000/2", cluster=False)


def test_a_streams_keys_share_its_slot_and_partitions_spread_over_the_masters(
        local_cluster: LocalCluster) -> None:
    for family in ALL_FAMILIES:
        streams = family_streams("th", family, 3)
        for stream in streams:
            assert stream.startswith("th:")
            slots = {local_cluster_slot(key) for key in (stream, dlq_key(stream), trimmed_key(stream),
                                                         lost_key(stream))}
            assert len(slots) == 1, stream
        assert len({local_cluster.master_of(stream) for stream in streams}) == 3, streams


def local_cluster_slot(key: str) -> int:
    from redis.crc import key_slot
    return key_slot(key.encode())


async def run_consumers(redis: aioredis.Redis, settings: Settings, sink: Collected,
                        stop: asyncio.Event) -> list[asyncio.Task[None]]:
    streams = family_streams(settings.streams.prefix, "trades", settings.streams.partitions)
    consumers = [StreamConsumer(redis, settings, stream, PROCESSOR_GROUP, name, sink)
                 for stream in streams for name in ("c1", "c2")]  # two per stream, as the processor runs
    return [asyncio.create_task(consumer.run(stop)) for consumer in consumers]


async def test_producer_and_consumers_over_three_partitions_with_a_dlq(
        cluster_redis: aioredis.Redis, cluster_url: str, make_settings: Callable[..., Settings]) -> None:
    settings = cluster_settings(make_settings, cluster_url)
    assert is_cluster(cluster_redis)
    producer = StreamProducer(cluster_redis, settings)
    total = 3000
    for n in range(total):
        assert producer.publish(trade(n))
    assert producer.publish(trade(7, trade_id=POISON))  # dead-lettered, in its partition's DLQ
    assert await producer.flush()
    streams = family_streams(settings.streams.prefix, "trades", 3)
    assert all([await cluster_redis.xlen(stream) for stream in streams])  # every partition got trades
    sink, stop = Collected(), asyncio.Event()
    tasks = await run_consumers(cluster_redis, settings, sink, stop)
    poisoned = stream_of(trade(7), settings)

    async def done() -> bool:
        return len(sink.ids) == total and await cluster_redis.xlen(dlq_key(poisoned)) == 1

    try:
        await wait_until(done, 15, "every trade consumed and the poison dead-lettered")
    finally:
        stop.set()
        await asyncio.gather(*tasks)
    assert sink.ids == {str(n) for n in range(total)}
    dead = await list_dead(cluster_redis, poisoned)
    assert [row["error"] for row in dead] == ["ValueError('a poison trade')"]
    report = {f.stream: f for f in await StreamMonitor(cluster_redis, settings).poll()}
    assert sum(report[s].length for s in streams) == sum([await cluster_redis.xlen(s) for s in streams])
    assert all(g.lag == 0 and g.pending == 0 for s in streams for g in report[s].groups)
    assert report[poisoned].dlq == 1 and all(report[s].lost == 0 for s in streams)


async def test_rate_limit_buckets_and_heartbeats_on_the_cluster(
        cluster_redis: aioredis.Redis, cluster_url: str, make_settings: Callable[..., Settings],
        pool: asyncpg.Pool, aiohttp_client: AiohttpClient) -> None:
    settings = make_settings(redis_url=cluster_url, api_rate_anonymous_burst=3, api_rate_anonymous_per_s=0.1)
    stop = asyncio.Event()
    beats = [asyncio.create_task(beat_forever(cluster_redis, settings, name, stop)) for name in SERVICES]
    first = await aiohttp_client(create_app(settings))
    second = await aiohttp_client(create_app(settings))  # a second api process: the same bucket
    try:
        answered = [(await client.get("/api/v1/trades")).status for client in (first, second, first, second)]
        assert answered == [200, 200, 200, 429]
        await wait_until(lambda: heartbeats_of(cluster_redis, settings, len(SERVICES)), 5, "every heartbeat")
        assert (await first.get("/ready")).status == 200
    finally:
        stop.set()
        await asyncio.gather(*beats)


async def heartbeats_of(redis: aioredis.Redis, settings: Settings, wanted: int) -> bool:
    return len(await read_heartbeats(redis, settings)) == wanted


async def test_master_sigkill_mid_run_is_survived_and_its_loss_counted(
        local_cluster: LocalCluster, cluster_redis: aioredis.Redis, cluster_url: str,
        make_settings: Callable[..., Settings]) -> None:
    assert isinstance(asyncio.get_running_loop(), uvloop.Loop)  # as the services run
    settings = cluster_settings(make_settings, cluster_url)
    producer = StreamProducer(cluster_redis, settings, source="test")
    sink, stop, sent = Collected(), asyncio.Event(), 0
    tasks = await run_consumers(cluster_redis, settings, sink, stop)
    tasks.append(asyncio.create_task(producer.run(stop)))
    victim_stream = family_streams(settings.streams.prefix, "trades", 3)[0]
    victim = local_cluster.master_of(victim_stream)

    async def publish(until: int) -> None:
        nonlocal sent
        while sent < until:
            for _ in range(20):
                assert producer.publish(trade(sent))
                sent += 1
            await asyncio.sleep(0.005)

    try:
        await publish(2000)
        # the first reads may meet the cluster still settling (a consumer backs off up to 1 s a time)
        await wait_until(lambda: consumed(sink, 1000), 30, "consuming before the kill")
        await asyncio.to_thread(local_cluster.kill, victim)
        killed_at = time.monotonic()
        await publish(6000)  # the producer keeps taking events; the dead master's share waits in memory
        await asyncio.to_thread(local_cluster.wait_failover, victim, 15)
        assert local_cluster.master_of(victim_stream) != victim  # its replica took over
        await wait_until(lambda: consumed(sink, sent - producer.audit.lost), 15, "carrying on after failover")
        recovered_s = time.monotonic() - killed_at
    finally:
        stop.set()
        await asyncio.gather(*tasks)
        await asyncio.to_thread(restart_node, local_cluster, victim)
    lost = producer.audit.lost
    assert producer.published == sent
    assert sent - lost <= len(sink.ids) <= sent and sink.ids <= {str(n) for n in range(sent)}
    recorded = sum(int(n) for n in await cluster_redis.hvals(lost_key(victim_stream)))
    assert (recorded > 0) == (lost > 0)  # entries in Redis, events here
    print(f"failover: {sent} sent, {len(sink.ids)} consumed, {lost} counted lost, {recovered_s:.1f} s")


def restart_node(cluster: LocalCluster, port: int) -> None:
    """The killed node back, as a replica of the master that replaced it."""
    cluster.start_node(port)
    cluster.wait_ok(30)


async def consumed(sink: Collected, count: int) -> bool:
    return len(sink.ids) >= count


def test_the_docs_stream_names_resolve_to_the_tagged_keys() -> None:
    assert stream_named("th", "th:trades", 3) == "th:{trades}"
    assert stream_named("th", "trades:1", 3) == stream_key("th", "trades", 1, 3)
    assert stream_named("th", "th:{candles:1.1}", 3) == "th:{candles:1.1}"
    with pytest.raises(ValueError, match="not a stream"):
        stream_named("th", "th:trades:x", 3)


async def test_stream_reads_find_their_slot_without_asking_a_server(
        cluster_redis: aioredis.Redis, tag: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """redis-py asks COMMAND GETKEYS of one node for XREAD(GROUP): a failover of that node broke every
    read with a RuntimeError. The client of shared/redis_connect.py finds the keys itself."""
    cluster = cast(aioredis.RedisCluster, cluster_redis)
    await cluster.initialize()

    async def no_server(*args: object) -> None:
        raise AssertionError(f"asked a server for the keys of {args[:2]}")

    monkeypatch.setattr(cluster.commands_parser, "_get_moveable_keys", no_server)
    stream = stream_key(tag, "trades", 2, 3)
    await cluster.xgroup_create(stream, "g", id="0", mkstream=True)
    await cluster.xadd(stream, {"v": "1"})
    read: Any = await cluster.xreadgroup("g", "c", {stream: ">"}, count=10, block=10)
    assert len(read[0][1]) == 1
    assert await cluster.xread({stream: "0"}, count=10)
    assert streams_read(("GROUP", "g", "c", "COUNT", 5, "STREAMS", "a", "b", ">", ">")) == ["a", "b"]


async def test_entries_gone_after_the_stream_changed_server_are_counted_once(
        cluster_redis: aioredis.Redis, cluster_url: str, make_settings: Callable[..., Settings]) -> None:
    """The unreplicated tail a failover loses, played by XDEL of the producer's newest entries while
    the stream seems to have moved: counted in <stream>:lost and by the monitor, once."""
    await lose_tail(cluster_redis, cluster_settings(make_settings, cluster_url, producer_batch_events=10))


async def test_a_single_redis_that_lost_entries_is_counted_too(
        redis: aioredis.Redis, make_settings: Callable[..., Settings]) -> None:
    """On one Redis the server is its run id: a restart without persistence loses the same way."""
    await lose_tail(redis, make_settings(stream_partitions=3, producer_batch_events=10))


async def lose_tail(client: aioredis.Redis, settings: Settings) -> None:
    producer = StreamProducer(client, settings, source="test")
    stream = stream_of(trade(0), settings)
    for n in range(0, 12 * 50, 12):  # trades of one symbol: one partition, 5 entries of 10
        assert producer.publish(trade(n))
    assert await producer.flush()
    await producer.audit.check(client)  # where the stream is now
    newest = [entry_id for entry_id, _ in await client.xrevrange(stream, count=2)]
    await client.xdel(stream, *newest)
    producer.audit._server[stream] = "another server"  # as if another server had held it before
    assert await producer.audit.check(client) == 2
    assert await producer.audit.check(client) == 0  # counted once
    assert producer.audit.lost == 20
    assert await client.hget(lost_key(stream), "test") == b"2"
    report = {f.stream: f for f in await StreamMonitor(client, settings).poll()}
    assert report[stream].lost == 2


async def test_trimmed_unread_reconciled_and_push_reads_and_dlq_replay_on_the_cluster(
        cluster_redis: aioredis.Redis, cluster_url: str, make_settings: Callable[..., Settings]) -> None:
    """The monitor's Lua script (a stream and its :trimmed hash), the push hub's XREAD over the
    partitions (one slot at a time) and a DLQ replay (one MULTI) run on the cluster."""
    settings = cluster_settings(make_settings, cluster_url, stream_maxlen=100)
    streams = family_streams(settings.streams.prefix, "trades", 3)
    for stream in streams:
        await cluster_redis.xgroup_create(stream, "idle", id="0", mkstream=True)
        async with cluster_redis.pipeline(transaction=False) as pipe:
            for _ in range(400):
                pipe.xadd(stream, {"v": "1", "e": b""}, maxlen=100, approximate=True)
            await pipe.execute()
    figures = {f.stream: f for f in await StreamMonitor(cluster_redis, settings).poll()}
    for stream in streams:
        recorded = int(await cluster_redis.hget(trimmed_key(stream), "idle") or 0)
        assert recorded >= 200 and figures[stream].groups[0].trimmed_unread == recorded
    read = await xread_any_slots(cluster_redis, dict.fromkeys(streams, "0"), count=5, block=100)
    assert sorted(name.decode() for name, entries in read if len(entries) == 5) == sorted(streams)
    first = streams[0]
    await cluster_redis.xadd(dlq_key(first), {"v": "1", "e": b"x", "error": "refused"})
    assert await replay(cluster_redis, first) == 1
    assert await cluster_redis.xlen(dlq_key(first)) == 0
