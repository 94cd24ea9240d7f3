"""Consume+store with 1, 2 and 3 partitions and as many processors, each a process of its own
sharing the partitions by leases (services/processor/ownership.py), on one Redis or, given its URL,
a Redis Cluster. `run()` returns {"partitions": {...}} for `make bench`; alone:

    python bench/partitions.py [--redis-url URL] [--events N] [--counts 1,2,3]

For each count k: EVENTS trades over many symbols are written first (StreamProducer, k partitions),
then k worker processes start; each joins the processors' membership and waits for the others, so
the first round gives each its fair share (one partition), then runs the real ownership coordinator
with only the store group's consumers (storing_consumers + EventStore, consumer_concurrency per
partition). Timed from the start signal until every partition's store group has read and acked
everything; stored rows are counted after. The workers are stopped with SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import redis.asyncio as aioredis
import uvloop

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from services.processor.main import storing_consumers  # noqa: E402
from services.processor.ownership import Leases, PartitionOwnership  # noqa: E402
from services.processor.store import TRADES, EventStore  # noqa: E402
from shared.config import Settings, load_settings  # noqa: E402
from shared.constants import PROCESSOR_GROUP, family_streams, partition_stream  # noqa: E402
from shared.db import create_pool, ensure_daily_partitions, migrate  # noqa: E402
from shared.events import Trade  # noqa: E402
from shared.service import redis_client  # noqa: E402
from shared.streams import StreamProducer  # noqa: E402

EVENTS = 500_000  # as the streams part drains
COUNTS = (1, 2, 3)
SYMBOLS = [(ex, f"C{n:02d}-USDT-PERP") for ex in ("binance", "bybit", "okx") for n in range(20)]
LEASE = {"stream_lease_ttl_s": 3.0, "stream_lease_renew_s": 0.5}
GO_KEY = "bench:go"
START_TS = 1_763_000_000_000_000
DISTINCT_TRADES = "SELECT count(DISTINCT (exchange, symbol, trade_id, ts)) FROM trades"


def say(message: str) -> None:
    print(f"bench partitions: {message}", file=sys.stderr, flush=True)


def bench_settings(prefix: str, schema: str, partitions: int, redis_url: str | None) -> Settings:
    overrides: dict[str, Any] = {"stream_prefix": prefix, "db_schema": schema,
                                 "stream_partitions": partitions, **LEASE}
    if redis_url:
        overrides["redis_url"] = redis_url
    return load_settings(**overrides)


def trade(n: int) -> Trade:
    exchange, symbol = SYMBOLS[n % len(SYMBOLS)]
    return Trade(exchange=exchange, symbol=symbol, raw_symbol=symbol.replace("-", ""), trade_id=str(n),
                 price=Decimal(f"{100 + n % 89}.{n % 100:02d}"), size=Decimal(f"0.{n % 997 + 1:03d}"),
                 side="buy" if n % 2 else "sell", ts=START_TS + n, recv_ts=START_TS + 150 + n)


async def write_trades(settings: Settings, count: int) -> None:
    redis = redis_client(settings)
    producer = StreamProducer(redis, settings, source="bench")
    try:
        for start in range(0, count, 10_000):
            for n in range(start, min(count, start + 10_000)):
                assert producer.publish(trade(n))
            assert await producer.flush()
    finally:
        await redis.aclose()


async def drained(redis: aioredis.Redis, settings: Settings) -> bool:
    """Every partition's store group read and acked everything."""
    for stream in family_streams(settings.streams.prefix, "trades", settings.streams.partitions):
        groups = {g["name"]: g for g in await redis.xinfo_groups(stream)}
        group = groups.get(PROCESSOR_GROUP.encode())
        if group is None or group["lag"] != 0 or group["pending"] != 0:
            return False
    return True


async def worker(settings: Settings, name: str, expected: int) -> None:
    """One processor of the bench: joins, waits for the others and the go, then consumes until SIGTERM."""
    import signal

    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    redis = redis_client(settings)
    pool = await create_pool(settings)
    leases = Leases(redis, settings.streams.prefix, name, int(settings.streams.lease_ttl_s * 1000))
    store = EventStore(pool, {Trade: TRADES})
    prefix, partitions = settings.streams.prefix, settings.streams.partitions

    def work(n: int) -> list[Any]:
        stream = partition_stream(prefix, "trades", partitions, n)
        return storing_consumers(redis, settings, stream, name, store)

    try:
        while await leases.join() < expected or not await redis.exists(f"{prefix}:{GO_KEY}"):
            await asyncio.sleep(0.02)
        await PartitionOwnership(redis, settings, name, work, stop_grace_s=5.0).run(stop)
    finally:
        await pool.close()
        await redis.aclose()


async def one_count(count: int, events: int, redis_url: str | None) -> dict[str, Any]:
    tag = f"benchpart{count}{uuid.uuid4().hex[:6]}"
    settings = bench_settings(tag, tag, count, redis_url)
    conn = await asyncpg.connect(settings.database_url)
    try:
        await migrate(conn, tag)
        await ensure_daily_partitions(conn, "trades")
    finally:
        await conn.close()
    await write_trades(settings, events)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", "--prefix", tag,
               "--partitions", str(count), *(["--redis-url", redis_url] if redis_url else [])]
    workers = [subprocess.Popen([*command, "--name", f"w{n}"], env=env) for n in range(count)]
    redis = redis_client(settings)
    try:
        members = f"{tag}:owners:members"
        while await redis.zcard(members) < count:
            await asyncio.sleep(0.02)
        started = time.perf_counter()
        await redis.set(f"{tag}:{GO_KEY}", b"1")
        while not await drained(redis, settings):
            await asyncio.sleep(0.02)
        elapsed = time.perf_counter() - started
        owners = [await redis.get(f"{tag}:owners:lease:{n}") for n in range(count)]
        pool = await create_pool(settings)
        try:
            rows = int(await pool.fetchval(DISTINCT_TRADES))
        finally:
            await pool.close()
        return {"events": events, "events_per_s": round(events / elapsed), "seconds": round(elapsed, 2),
                "rows_stored": rows, "stored_equals_sent": rows == events,
                "owners": [o.decode() if isinstance(o, bytes) else o for o in owners]}
    finally:
        for process in workers:
            process.terminate()
        for process in workers:
            process.wait(timeout=30)
        keys = [key async for key in redis.scan_iter(match=f"{tag}:*", count=1000)]
        if keys:
            for key in keys:  # one key per command: the same on a cluster
                await redis.delete(key)
        await redis.aclose()
        conn = await asyncpg.connect(settings.database_url)
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{tag}" CASCADE')  # our own scratch schema
        finally:
            await conn.close()


async def measure(events: int, counts: tuple[int, ...], redis_url: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {"redis_url_given": bool(redis_url), "cpus": os.cpu_count()}
    for count in counts:
        say(f"{count} partition(s), {count} processor(s): {events:,} events")
        figures = await one_count(count, events, redis_url)
        say(f"  {figures['events_per_s']:,} events/s, stored == sent {figures['stored_equals_sent']}, "
            f"owners {figures['owners']}")
        out[f"{count}_partitions"] = figures
    out["load_avg_1m"] = round(os.getloadavg()[0], 2)
    return out


def run(redis_url: str | None = None, events: int = EVENTS,
        counts: tuple[int, ...] = COUNTS) -> dict[str, Any]:
    """For bench/run.py: {"partitions": figures} on one Redis (or the cluster at `redis_url`)."""
    return {"partitions": uvloop.run(measure(events, counts, redis_url))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--redis-url", default=None, help="another Redis (e.g. the cluster's URL)")
    parser.add_argument("--events", type=int, default=EVENTS)
    parser.add_argument("--counts", default=",".join(map(str, COUNTS)))
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--prefix", help=argparse.SUPPRESS)
    parser.add_argument("--partitions", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--name", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        settings = bench_settings(args.prefix, args.prefix, args.partitions, args.redis_url)
        uvloop.run(worker(settings, args.name, args.partitions))
        return
    counts = tuple(int(c) for c in args.counts.split(","))
    print(json.dumps(run(args.redis_url, args.events, counts), indent=2))


if __name__ == "__main__":
    main()
