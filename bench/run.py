"""make bench: the benchmarks on the real Redis and PostgreSQL, as one JSON document on stdout.

Streams, all from this run: redis-benchmark's single-client pipelined XADD rate (the ceiling
for one connection), a plain redis-py pipeline of one XADD per event, StreamProducer from one
process, and the processor's consumers + EventStore storing into a scratch schema. Then the
receivers' figures (bench/receivers.py, under "receivers"), the traders' (bench/traders.py) and the
whole pipeline's, the services running as processes (bench/pipeline.py, under "pipeline", a few
minutes; `python bench/pipeline.py --help` runs it longer). Consume+store with 1, 2 and 3 partitions
and processors sharing them (bench/partitions.py, under "partitions"; BENCH_REDIS_URL runs it on
another Redis), then the same on a local Redis Cluster ("partitions_cluster"). Progress goes to stderr.

usage: python bench/run.py [streams|partitions|receivers|traders|pipeline ...]   (default: all)
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import redis.asyncio as aioredis
import uvloop

from services.processor.main import storing_consumers
from services.processor.store import TRADES, EventStore
from shared import metrics
from shared.config import Settings, load_settings, public_view
from shared.constants import ENTRY_VERSION, FIELD_EVENTS, FIELD_VERSION, stream_key
from shared.db import create_pool, ensure_daily_partitions, migrate
from shared.events import Trade, batch_encoder
from shared.streams import StreamProducer, maxlen_of

PRODUCE_EVENTS = 500_000
PRODUCE_RUNS = 2
PLAIN_EVENTS = 100_000
BENCHMARK_REQUESTS = 200_000
BENCHMARK_RUNS = 3
SYMBOLS = [(ex, f"{base}-USDT-PERP") for ex in ("binance", "bybit") for base in ("BTC", "ETH", "SOL", "XRP")]


def progress(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def trades(count: int, start_ts: int) -> list[Trade]:
    """Trades as receivers make them: several venues and symbols, increasing times, exact decimals."""
    out = []
    for n in range(count):
        exchange, symbol = SYMBOLS[n % len(SYMBOLS)]
        out.append(
            Trade(
                exchange=exchange,
                symbol=symbol,
                raw_symbol=symbol.replace("-", "")[:-4],
                trade_id=str(n),
                price=Decimal(f"{65000 + n % 997}.{n % 100:02d}"),
                size=Decimal(f"0.{n % 9973:04d}"),
                side="buy" if n % 2 else "sell",
                ts=start_ts + n,
                recv_ts=start_ts + n + 150,
            )
        )
    return out


def redis_benchmark(settings: Settings, key: str) -> tuple[float, list[float], str]:
    """Best of a few runs of redis-benchmark -c 1 -P 64 XADD: requests (= entries) per second."""
    url = urlsplit(settings.redis_url)
    command = [
        "redis-benchmark",
        "-h",
        url.hostname or "127.0.0.1",
        "-p",
        str(url.port or 6379),
        "-c",
        "1",
        "-P",
        "64",
        "-n",
        str(BENCHMARK_REQUESTS),
        "--csv",
        "XADD",
        key,
        "MAXLEN",
        "~",
        "1000000",
        "*",
        "f",
        "v",
    ]
    rates = []
    for _ in range(BENCHMARK_RUNS):
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        match = re.search(r'^"XADD[^"]*","([\d.]+)"', out, re.MULTILINE)
        if not match:
            raise RuntimeError(f"cannot read redis-benchmark's output: {out!r}")
        rates.append(float(match.group(1)))
    return max(rates), rates, " ".join(command)


async def plain_xadd(redis: aioredis.Redis, settings: Settings, stream: str) -> float:
    """The naive way: one XADD per event, pipelined 1000 at a time."""
    events = trades(PLAIN_EVENTS, 1_763_000_000_000_000)
    cap = maxlen_of(stream, settings)
    started = time.perf_counter()
    for start in range(0, len(events), 1000):
        async with redis.pipeline(transaction=False) as pipe:
            for event in events[start : start + 1000]:
                pipe.xadd(
                    stream,
                    {FIELD_VERSION: ENTRY_VERSION, FIELD_EVENTS: batch_encoder.encode([event])},
                    maxlen=cap,
                    approximate=True,
                )
            await pipe.execute()
    return len(events) / (time.perf_counter() - started)


async def produce(redis: aioredis.Redis, settings: Settings) -> tuple[float, int]:
    """StreamProducer as a receiver drives it: publish() per event, its run loop flushing; timed
    from the first publish to the last flush. Returns events/s and events written."""
    events = trades(PRODUCE_EVENTS, 1_763_000_000_000_000)
    producer = StreamProducer(redis, settings, source="bench")
    stop = asyncio.Event()
    started = time.perf_counter()
    async with asyncio.TaskGroup() as tasks:
        tasks.create_task(producer.run(stop))
        for start in range(0, len(events), 2000):
            for event in events[start : start + 2000]:
                producer.publish(event)
            await asyncio.sleep(0)  # a receiver yields between frames
            while producer.buffered > 100_000:  # keep clear of the buffer bound: nothing may be dropped
                await asyncio.sleep(0.001)
        stop.set()
    return producer.published / (time.perf_counter() - started), producer.published


async def consume_store(
    redis: aioredis.Redis, settings: Settings, stream: str, total: int
) -> tuple[float, int]:
    """The processor's storing consumers (consumer_concurrency of them) draining `total` events into
    a scratch schema; timed until all are stored. Returns events/s and rows in the table."""
    conn = await asyncpg.connect(settings.database_url)
    try:
        await migrate(conn, settings.db_schema)
        await ensure_daily_partitions(conn, "trades")
    finally:
        await conn.close()
    pool = await create_pool(settings)
    try:
        consumers = storing_consumers(redis, settings, stream, "bench", EventStore(pool, {Trade: TRADES}))
        await consumers[0].ensure_group()
        stored = metrics.EVENTS_STORED.labels("trades")
        before = stored._value.get()
        stop = asyncio.Event()
        started = time.perf_counter()
        async with asyncio.TaskGroup() as tasks:
            for consumer in consumers:
                tasks.create_task(consumer.run(stop))
            while stored._value.get() - before < total:
                await asyncio.sleep(0.01)
            elapsed = time.perf_counter() - started
            stop.set()
        rows = await pool.fetchval("SELECT count(DISTINCT (exchange, symbol, trade_id, ts)) FROM trades")
        return total / elapsed, int(rows)
    finally:
        await pool.close()


async def cleanup(redis: aioredis.Redis, settings: Settings, prefix: str) -> None:
    keys = [key async for key in redis.scan_iter(match=f"{prefix}*", count=1000)]
    if keys:
        await redis.delete(*keys)
    conn = await asyncpg.connect(settings.database_url)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{settings.db_schema}" CASCADE')  # our own scratch name
    finally:
        await conn.close()


async def main() -> dict[str, Any]:
    tag = "bench" + uuid.uuid4().hex[:8]
    base = load_settings()
    shown = public_view(base)  # by flat name, as users set them
    settings = load_settings(stream_prefix=tag, db_schema=tag)
    redis = aioredis.Redis.from_url(settings.redis_url)
    try:
        progress(f"redis-benchmark: {BENCHMARK_RUNS} x {BENCHMARK_REQUESTS} pipelined XADD, 1 client")
        ceiling, ceilings, command = await asyncio.to_thread(
            redis_benchmark, settings, f"{tag}:redis-benchmark"
        )
        progress(f"  {ceiling:,.0f} XADD/s (runs: {', '.join(f'{r:,.0f}' for r in ceilings)})")
        plain = await plain_xadd(redis, settings, f"{tag}:plain")
        progress(f"plain redis-py, one XADD per event: {plain:,.0f} events/s")
        runs = []
        for run in range(PRODUCE_RUNS):
            runs.append(await produce(redis, load_settings(stream_prefix=f"{tag}:p{run}", db_schema=tag)))
            progress(f"StreamProducer run {run + 1}: {runs[-1][0]:,.0f} events/s ({runs[-1][1]:,} events)")
        produced, written = max(runs)
        stream = stream_key(f"{tag}:p0", "trades")
        progress(
            f"consume+store {runs[0][1]:,} events into schema {tag} "
            f"({settings.consumer.concurrency} consumers, "
            f"batches of {settings.consumer.batch_entries} entries)"
        )
        stored, rows = await consume_store(redis, settings, stream, runs[0][1])
        progress(f"  {stored:,.0f} events/s, {rows:,} distinct rows stored")
        info = await redis.info("server")
        pg = await (await asyncpg.connect(settings.database_url)).fetchval("SHOW server_version")
    finally:
        await cleanup(redis, settings, tag)
        await redis.aclose()
    return {
        "redis_benchmark_xadd_pipelined_per_s": round(ceiling),
        "redis_benchmark_runs_per_s": [round(r) for r in ceilings],
        "redis_benchmark_command": command,
        "produce_events_per_s": round(produced),
        "produce_ratio": round(produced / ceiling, 3),
        "produce_target_ratio": 0.5,
        "produce_events": written,
        "plain_redis_py_one_xadd_per_event_per_s": round(plain),
        "plain_ratio": round(plain / ceiling, 3),
        "consume_store_events_per_s": round(stored),
        "consume_store_target_per_s": 100_000,
        "consume_store_events": runs[0][1],
        "consume_store_rows_stored": rows,
        "settings": {
            key: shown[key]
            for key in (
                "producer_batch_events",
                "producer_flush_ms",
                "consumer_batch_entries",
                "consumer_concurrency",
                "db_pool_size",
            )
        },
        "machine": {
            "cpus": os.cpu_count(),
            "load_avg_1m": round(os.getloadavg()[0], 2),
            "redis": info.get("redis_version"),
            "postgres": pg,
            "python": sys.version.split()[0],
        },
    }


def on_local_cluster(bench: Callable[[str], dict[str, Any]]) -> dict[str, Any]:
    """The same figures on a local Redis Cluster (3 masters, 3 replicas: scripts/local_cluster.py),
    started for the run and removed after it."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
    from local_cluster import LocalCluster

    cluster = LocalCluster()
    try:
        return bench(cluster.start())
    finally:
        cluster.stop()


def document(parts: list[str]) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    if "streams" in parts:
        doc.update(uvloop.run(main()))
    if "receivers" in parts:
        import receivers  # bench/receivers.py, beside this file

        doc.update(receivers.run())
    if "traders" in parts:
        import traders  # bench/traders.py, beside this file

        doc.update(traders.run())
    if "partitions" in parts:
        import partitions  # bench/partitions.py, beside this file: 1, 2, 3 partitions and processors

        doc.update(partitions.run(os.environ.get("BENCH_REDIS_URL") or None))
        doc["partitions_cluster"] = on_local_cluster(partitions.run)["partitions"]
    if "pipeline" in parts:
        import pipeline  # bench/pipeline.py, beside this file

        doc.update(pipeline.run())
    return doc


if __name__ == "__main__":
    print(json.dumps(document(sys.argv[1:] or ["streams", "partitions", "receivers", "traders", "pipeline"]),
                     indent=2))
