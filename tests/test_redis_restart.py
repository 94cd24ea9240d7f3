"""Redis restarted (AOF, fsync always) while a producer and a consumer run against it: every
entry id an XADD returned is still there after the restart, and the events published while
Redis was down were kept in memory and written once it was back."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from shared import metrics
from shared.config import Settings
from shared.constants import PROCESSOR_GROUP, stream_key
from shared.consumer import StreamConsumer
from shared.events import batch_decoder
from shared.service import redis_client
from shared.streams import StreamProducer
from tests.redis_server import RedisServer
from tests.shared.test_streams import ListSink
from tests.trades import trade, wait_until

pytestmark = pytest.mark.fault
TOTAL = 6000
PER_TICK = 30  # events every 10 ms: 3000/s


async def stream_contents(client: aioredis.Redis, stream: str) -> tuple[set[bytes], list[str]]:
    rows = await client.xrange(stream)
    ids = {entry_id for entry_id, _ in rows}
    trade_ids = [event.trade_id for _, fields in rows for event in batch_decoder.decode(fields[b"e"])]
    return ids, trade_ids


@pytest.mark.parametrize("how", ["sigkill", "shutdown"])
async def test_redis_restart_with_aof_loses_no_acknowledged_entry(
    tmp_path: Path, make_settings: Callable[..., Settings], how: str
) -> None:
    server = RedisServer(tmp_path)
    server.start()
    settings = make_settings(
        redis_url=server.url, producer_batch_events=50, redis_backoff_max_s=0.3, consumer_block_ms=100
    )
    client = redis_client(settings)
    stream = stream_key(settings.streams.prefix, "trades")
    written: list[bytes] = []
    producer = StreamProducer(client, settings, source="test", on_written=written.extend)
    sink = ListSink()
    consumer = StreamConsumer(client, settings, stream, PROCESSOR_GROUP, "c1", sink)
    dropped = metrics.EVENTS_DROPPED.labels(stream, "buffer_full")._value.get()
    failed_writes = metrics.REDIS_ERRORS.labels("xadd")._value.get()
    stop = asyncio.Event()
    try:
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(producer.run(stop))
            tasks.create_task(consumer.run(stop))
            buffered_while_down = 0
            for tick in range(TOTAL // PER_TICK):
                for n in range(tick * PER_TICK, (tick + 1) * PER_TICK):
                    assert producer.publish(trade(n))
                if tick == 60:  # a third in: Redis goes away for a second, production goes on
                    server.kill() if how == "sigkill" else server.shutdown()
                if 61 <= tick < 160:
                    buffered_while_down = max(buffered_while_down, producer.buffered)
                if tick == 60:
                    written_before = len(written)
                if tick == 160:
                    await asyncio.to_thread(server.start)
                await asyncio.sleep(0.01)

            async def consumed() -> bool:
                return len(sink.stored) >= TOTAL

            await wait_until(consumed, 20, "all consumed")
            stop.set()
        ids, trade_ids = await stream_contents(client, stream)
        assert written_before > 0 and metrics.REDIS_ERRORS.labels("xadd")._value.get() > failed_writes
        assert set(written) <= ids, f"{len(set(written) - ids)} acknowledged entries lost"
        assert set(trade_ids) == {str(n) for n in range(TOTAL)}  # nothing lost, the down-time events included
        assert buffered_while_down >= 90 * PER_TICK  # kept in memory while Redis was down
        assert metrics.EVENTS_DROPPED.labels(stream, "buffer_full")._value.get() == dropped
        assert {e.trade_id for e in sink.stored} == {str(n) for n in range(TOTAL)}
        assert (await client.xpending(stream, PROCESSOR_GROUP))["pending"] == 0
    finally:
        stop.set()
        await client.aclose()
        server.stop()
