"""Producer and consumer on the real Redis: packed entries, acks after the sink,
dead letters for poison, reclaiming from a dead consumer."""
from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from decimal import Decimal

import redis.asyncio as aioredis

from shared.breaker import SinkUnavailable
from shared.config import Settings
from shared.constants import FIELD_EVENTS, FIELD_VERSION, PROCESSOR_GROUP, dlq_key, stream_key
from shared.consumer import StreamConsumer
from shared.dlq import list_dead, replay
from shared.events import Event, Trade
from shared.streams import StreamProducer


def trade(n: int, price: str = "1.5") -> Trade:
    return Trade(exchange="binance", symbol="BTC-USDT-PERP", raw_symbol="BTCUSDT", trade_id=str(n),
                 price=Decimal(price), size=Decimal("2"), side="buy", ts=n, recv_ts=n)


class ListSink:
    """Records stored events; refuses prices of 666; can be switched off."""

    def __init__(self) -> None:
        self.stored: list[Event] = []
        self.down = False
        self.refuse = True

    async def __call__(self, events: Sequence[Event]) -> None:
        if self.down:
            raise SinkUnavailable("switched off")
        if self.refuse and any(getattr(e, "price", None) == Decimal("666") for e in events):
            raise ValueError("refused")
        self.stored.extend(events)


async def produce(redis: aioredis.Redis, settings: Settings, events: list[Trade]) -> None:
    producer = StreamProducer(redis, settings)
    for event in events:
        assert producer.publish(event)
    assert await producer.flush()


async def drain(consumer: StreamConsumer, rounds: int = 50) -> None:
    for _ in range(rounds):
        if not await consumer.step():
            return


async def test_events_are_packed_and_acked_after_the_sink(
    redis: aioredis.Redis, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(producer_batch_events=100)
    await produce(redis, settings, [trade(n) for n in range(1050)])
    stream = stream_key(settings.streams.prefix, "trades")
    assert await redis.xlen(stream) == 11  # 1050 events in entries of 100
    sink = ListSink()
    consumer = StreamConsumer(redis, settings, stream, PROCESSOR_GROUP, "c1", sink)
    await consumer.ensure_group()
    await drain(consumer)
    assert [e.trade_id for e in sink.stored] == [str(n) for n in range(1050)]
    assert (await redis.xpending(stream, PROCESSOR_GROUP))["pending"] == 0


async def test_a_consumer_whose_sink_wants_nothing_acks_without_decoding(
    redis: aioredis.Redis, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(producer_batch_events=10)
    await produce(redis, settings, [trade(n) for n in range(30)])
    stream = stream_key(settings.streams.prefix, "trades")
    await redis.xadd(stream, {FIELD_VERSION: b"1", FIELD_EVENTS: b"\xc1garbage"})  # never decoded
    wanted = False
    sink = ListSink()
    consumer = StreamConsumer(redis, settings, stream, "rules", "c1", sink, wanted=lambda: wanted)
    await consumer.ensure_group()
    await drain(consumer)
    assert sink.stored == [] and await list_dead(redis, stream) == []
    assert (await redis.xpending(stream, "rules"))["pending"] == 0
    wanted = True
    await produce(redis, settings, [trade(n) for n in range(30, 35)])
    await drain(consumer)
    assert [e.trade_id for e in sink.stored] == [str(n) for n in range(30, 35)]


async def test_poison_events_end_in_the_dlq_and_good_ones_are_stored(
    redis: aioredis.Redis, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(producer_batch_events=10, consumer_max_deliveries=2, consumer_claim_idle_ms=1)
    events = [trade(n, "666" if n in (3, 17) else "1.5") for n in range(30)]
    await produce(redis, settings, events)
    stream = stream_key(settings.streams.prefix, "trades")
    await redis.xadd(stream, {FIELD_VERSION: b"1", FIELD_EVENTS: b"\xc1garbage"})
    sink = ListSink()
    consumer = StreamConsumer(redis, settings, stream, PROCESSOR_GROUP, "c1", sink)
    await consumer.ensure_group()
    for _ in range(10):
        await consumer.step()
        await asyncio.sleep(0.01)
    stored = {e.trade_id for e in sink.stored}
    assert stored == {str(n) for n in range(30) if n not in (3, 17)}
    dead = await list_dead(redis, stream)
    assert len(dead) == 3  # two refused entries (their bad events only) and the undecodable one
    assert any("undecodable" in d["error"] for d in dead)
    assert (await redis.xpending(stream, PROCESSOR_GROUP))["pending"] == 0


async def test_dlq_replay_returns_entries_to_the_stream(
    redis: aioredis.Redis, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(producer_batch_events=5, consumer_max_deliveries=1, consumer_claim_idle_ms=1)
    await produce(redis, settings, [trade(1, "666"), trade(2)])
    stream = stream_key(settings.streams.prefix, "trades")
    sink = ListSink()
    consumer = StreamConsumer(redis, settings, stream, PROCESSOR_GROUP, "c1", sink)
    await consumer.ensure_group()
    await drain(consumer)
    assert len(await list_dead(redis, stream)) == 1
    assert await replay(redis, stream) == 1
    assert await redis.xlen(dlq_key(stream)) == 0
    sink.stored.clear()
    await drain(consumer)
    # the replayed entry holds only the refused event; still refused, it is dead again
    assert sink.stored == []
    assert len(await list_dead(redis, stream)) == 1
    # once the sink accepts it, a replay stores it
    sink.refuse = False
    assert await replay(redis, stream) == 1
    await drain(consumer)
    assert [e.trade_id for e in sink.stored] == ["1"]


async def test_a_dead_consumers_entries_are_reclaimed(
    redis: aioredis.Redis, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(producer_batch_events=10, consumer_claim_idle_ms=50, consumer_batch_entries=3)
    await produce(redis, settings, [trade(n) for n in range(100)])
    stream = stream_key(settings.streams.prefix, "trades")
    # c1 reads a batch and dies before acking
    await redis.xgroup_create(stream, PROCESSOR_GROUP, id="0", mkstream=True)
    await redis.xreadgroup(PROCESSOR_GROUP, "c1", {stream: ">"}, count=3)
    await asyncio.sleep(0.1)
    sink = ListSink()
    survivor = StreamConsumer(redis, settings, stream, PROCESSOR_GROUP, "c2", sink)
    await drain(survivor)
    assert sorted(int(e.trade_id) for e in sink.stored) == list(range(100))
    assert (await redis.xpending(stream, PROCESSOR_GROUP))["pending"] == 0


async def test_sink_down_holds_the_batch_and_acks_nothing(
    redis: aioredis.Redis, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(producer_batch_events=10, breaker_fail_max=2, breaker_reset_s=0.05)
    await produce(redis, settings, [trade(n) for n in range(40)])
    stream = stream_key(settings.streams.prefix, "trades")
    sink = ListSink()
    sink.down = True
    consumer = StreamConsumer(redis, settings, stream, PROCESSOR_GROUP, "c1", sink)
    await consumer.ensure_group()
    for _ in range(5):
        await consumer.step()
    assert consumer.breaker.state == "open"
    pending = (await redis.xpending(stream, PROCESSOR_GROUP))["pending"]
    assert 0 < pending <= settings.consumer.batch_entries
    sink.down = False
    await asyncio.sleep(0.06)
    await drain(consumer)
    assert sorted(int(e.trade_id) for e in sink.stored) == list(range(40))
    assert consumer.breaker.state == "closed"
    assert (await redis.xpending(stream, PROCESSOR_GROUP))["pending"] == 0
