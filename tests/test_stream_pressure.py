"""Streams near their cap: producers shed market data (counted, alerted) but make account
events wait; entries trimmed before a group read them are found, recorded once and counted."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal

import pytest
import redis.asyncio as aioredis
from prometheus_client import REGISTRY

from shared import metrics
from shared.config import Settings
from shared.constants import PROCESSOR_GROUP, stream_key, trimmed_key
from shared.consumer import StreamConsumer
from shared.events import Balance, batch_decoder
from shared.monitor import StreamMonitor, lagging, stream_report
from shared.streams import StreamProducer, encode_entry
from tests.shared.test_streams import ListSink
from tests.trades import trade, wait_until

pytestmark = pytest.mark.fault
IDLE = "idle"  # a group that never reads


def balance(n: int) -> Balance:
    return Balance(
        account="main",
        exchange="binance",
        asset="USDT",
        total=Decimal(n),
        available=Decimal(n),
        ts=n,
        recv_ts=n,
    )


async def test_market_data_is_shed_under_lag_and_account_events_wait(
    redis: aioredis.Redis, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(stream_maxlen=50, producer_batch_events=1, producer_lag_fraction=0.8)
    prefix = settings.streams.prefix
    trades, account, alerts = (stream_key(prefix, f) for f in ("trades", "account", "alerts"))
    for stream in (trades, account):
        await redis.xgroup_create(stream, IDLE, id="0", mkstream=True)
    shed_before = metrics.EVENTS_SHED.labels(trades)._value.get()
    producer = StreamProducer(redis, settings, source="test")
    stop = asyncio.Event()
    async with asyncio.TaskGroup() as tasks:
        tasks.create_task(producer.run(stop))
        try:
            for n in range(45):  # the idle group's lag reaches 45 >= 0.8 * 50
                assert producer.publish(trade(n))
                await producer.publish_wait(balance(n))

            async def shedding() -> bool:
                return trades in producer._shedding and account in producer._shedding

            await wait_until(shedding, 3, "shedding")
            assert not producer.publish(trade(1000))  # market data: shed, counted
            assert metrics.EVENTS_SHED.labels(trades)._value.get() == shed_before + 1
            waiting = tasks.create_task(producer.publish_wait(balance(1000)))  # account: never shed, waits
            await asyncio.sleep(1.5)
            assert not waiting.done()
            assert await redis.xlen(account) == 45
            await redis.xreadgroup(IDLE, "reader", {account: ">"}, count=1000)  # the group catches up
            await asyncio.wait_for(waiting, 3)

            async def written() -> bool:
                return await redis.xlen(account) == 46

            await wait_until(written, 2, "the waiting account event written")
        finally:
            stop.set()
    assert metrics.EVENTS_SHED.labels(account)._value.get() == 0
    assert await redis.xlen(trades) == 45
    alert_events = [e for _, f in await redis.xrange(alerts) for e in batch_decoder.decode(f[b"e"])]
    assert {a.key for a in alert_events} >= {f"lag:{trades}", f"lag:{account}"}


async def test_trimmed_before_read_is_counted(
    redis: aioredis.Redis, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(stream_maxlen=100)
    stream = stream_key(settings.streams.prefix, "trades")
    await redis.xgroup_create(stream, IDLE, id="0", mkstream=True)
    await redis.xgroup_create(stream, PROCESSOR_GROUP, id="0")
    for n in range(10):
        await redis.xadd(stream, encode_entry([trade(n)]))
    await redis.xreadgroup(PROCESSOR_GROUP, "r1", {stream: ">"}, count=10)  # read, never acked
    async with redis.pipeline(transaction=False) as pipe:  # a writer that does not watch lag
        for n in range(10, 450):
            entry = encode_entry([trade(n)])
            pipe.xadd(stream, entry, maxlen=100, approximate=True)
        await pipe.execute()
    info = await redis.xinfo_stream(stream)
    trimmed = int(info["entries-added"]) - int(info["length"])
    assert trimmed >= 300 and info["length"] < 200

    def gauge(group: str) -> float | None:
        return REGISTRY.get_sample_value(
            "tradehub_stream_trimmed_unread_entries", {"stream": stream, "group": group}
        )

    counted = metrics.TRIMMED_UNREAD.labels(stream, IDLE)._value.get()
    monitor = StreamMonitor(redis, settings, source="test")
    await monitor.poll()
    assert gauge(IDLE) == trimmed  # it read none of them
    assert gauge(PROCESSOR_GROUP) == trimmed - 10  # it read ten before they went
    assert metrics.TRIMMED_UNREAD.labels(stream, IDLE)._value.get() - counted == trimmed
    lags = {g["name"].decode(): g["lag"] for g in await redis.xinfo_groups(stream)}
    assert lags == {
        IDLE: info["length"],
        PROCESSOR_GROUP: info["length"],
    }  # Redis's lag no longer counts them
    await monitor.poll()  # recorded once: a second look adds nothing
    assert metrics.TRIMMED_UNREAD.labels(stream, IDLE)._value.get() - counted == trimmed
    assert gauge(IDLE) == trimmed
    alerts = await redis.xrange(stream_key(settings.streams.prefix, "alerts"))
    keys = {e.key for _, f in alerts for e in batch_decoder.decode(f[b"e"])}
    assert keys == {
        f"trimmed:{stream}:{IDLE}",
        f"trimmed:{stream}:{PROCESSOR_GROUP}",
    }
    # the ten entries r1 read and never acked are gone too: r1 finds out when it comes back
    sink = ListSink()
    consumer = StreamConsumer(redis, settings, stream, PROCESSOR_GROUP, "r1", sink)
    while await consumer.step():
        pass
    assert len(sink.stored) == info["length"]
    recorded = await redis.hget(trimmed_key(stream), PROCESSOR_GROUP)
    assert int(recorded) == trimmed
    report = await stream_report(redis, settings)
    groups = report[stream]["groups"]
    assert groups[PROCESSOR_GROUP] == {"lag": 0, "pending": 0, "consumers": 1, "trimmed_unread": trimmed}
    assert groups[IDLE]["trimmed_unread"] == trimmed
    assert lagging(report, settings) == [f"{stream} group {IDLE} lags {info['length']} entries (limit 80)"]
