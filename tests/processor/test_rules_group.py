"""The processor's "rules" group on real Redis and PostgreSQL: rules added while it runs are picked up,
a price crossing is seen across mark prices and trades, spikes and trader changes fire, and a failed
history write releases the cooldown so the redelivered batch fires again."""
from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import asyncpg
import pytest
import redis.asyncio as aioredis

from services.processor.rules_group import RuleBook, RuleSink, cooldown_key, join_at_the_end, run_rules
from shared.alert_rules import Rule, add_rule
from shared.breaker import SinkUnavailable
from shared.config import Settings
from shared.constants import FIELD_EVENTS, stream_key
from shared.events import Alert, MarkPrice, PositionChange, Spike, Trade, batch_decoder
from shared.streams import StreamProducer
from tests.trades import wait_until

D = Decimal
SYMBOL = "ETH-USDT-PERP"


def mark(price: str, ts: int) -> MarkPrice:
    return MarkPrice(ts=ts, recv_ts=ts, exchange="bybit", symbol=SYMBOL, raw_symbol="ETHUSDT",
                     mark_price=D(price))


def trade(price: str, ts: int) -> Trade:
    return Trade(ts=ts, recv_ts=ts, exchange="bybit", symbol=SYMBOL, raw_symbol="ETHUSDT", trade_id=str(ts),
                 price=D(price), size=D(1), side="buy")


async def rule_alerts(redis: aioredis.Redis, settings: Settings) -> list[Alert]:
    entries = await redis.xrange(stream_key(settings.streams.prefix, "alerts"))
    events = [e for _, fields in entries for e in batch_decoder.decode(fields[FIELD_EVENTS])]
    return [e for e in events if isinstance(e, Alert) and e.source == "rules"]


async def test_rules_fire_as_events_flow(settings: Settings, redis: aioredis.Redis,
                                         pool: asyncpg.Pool) -> None:
    stop = asyncio.Event()
    await join_at_the_end(settings, redis, stop)
    task = asyncio.create_task(run_rules(settings, redis, pool, stop, reload_s=0.1))
    producer = StreamProducer(redis, settings)
    try:
        crossing = await add_rule(pool, "price", {"symbol": SYMBOL, "op": "crossing", "level": "2000"}, 0)
        spike = await add_rule(pool, "spike", {"min_z": "4", "metric": "oi"}, 60, "critical")
        trader = await add_rule(pool, "trader", {"kinds": "open", "min_usd": "1000"}, 0)
        await asyncio.sleep(0.5)  # reloaded
        for event in [mark("1999", 1), trade("2000.5", 2), mark("2001", 3), trade("1999.99", 4)]:
            producer.publish(event)  # on two streams: one at a time, so they are read in this order
            assert await producer.flush()
            await asyncio.sleep(0.3)
        for z in ("3.9", "4.1", "5"):  # the second over 4 is inside the cooldown
            producer.publish(Spike(ts=5, recv_ts=5, exchange="binance", symbol="BTC-USDT-PERP", metric="oi",
                                   interval="5m", value=D(1), mean=D(0), stdev=D(1), z=D(z), threshold=D(3)))
        for kind, value in (("open", "999"), ("close", "5000"), ("open", "1000")):
            producer.publish(PositionChange(ts=6, recv_ts=6, account="0x" + "ab" * 20, exchange="hyperliquid",
                                            symbol="BTC-USD-PERP", old_size=D(0), new_size=D(1), change=kind,
                                            position_value=D(value)))
        assert await producer.flush()

        async def all_fired() -> bool:
            return await pool.fetchval("SELECT count(*) FROM alert_history") >= 4

        await wait_until(all_fired, 15, "the rules fired")
        await asyncio.sleep(0.5)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    fired = await rule_alerts(redis, settings)
    by_rule = {r.id: [a for a in fired if a.key.startswith(f"rule:{r.id}:")]
               for r in (crossing, spike, trader)}
    assert [a.ts for a in by_rule[crossing.id]] == [2, 4]  # up through 2000 by a trade, down again
    assert len(by_rule[spike.id]) == 1 and by_rule[spike.id][0].severity == "critical"
    assert "4.1" in by_rule[spike.id][0].title
    assert len(by_rule[trader.id]) == 1 and "$1000" in by_rule[trader.id][0].title
    assert await pool.fetchval("SELECT count(*) FROM alert_history") == 4


class DownPool:
    """A pool whose database cannot be reached."""

    def acquire(self) -> Any:
        raise OSError("connection refused")


async def test_a_failed_history_write_releases_the_cooldown(settings: Settings,
                                                            redis: aioredis.Redis) -> None:
    book = RuleBook()
    book.set([Rule(9, "price", {"op": "above", "level": "10"}, cooldown_s=600)])
    prefix = settings.streams.prefix
    sink = RuleSink(book, redis, DownPool(), StreamProducer(redis, settings), prefix, {})  # type: ignore[arg-type]
    with pytest.raises(SinkUnavailable):
        await sink([mark("11", 1)])
    assert await redis.exists(cooldown_key(prefix, 9)) == 0  # the redelivered batch may fire


def test_the_book_says_which_families_its_rules_read() -> None:
    book = RuleBook()
    assert not any(book.reads(family) for family in ("trades", "prices", "funding", "alerts"))
    book.set([Rule(1, "price", {"op": "above", "level": "10"})])  # mark prices, trades, spot prices
    assert book.reads("trades") and book.reads("prices") and not book.reads("liquidations")
    book.set([Rule(2, "feed_silent", {"exchange": "okx", "silent_s": "30", "family": "funding"})])
    assert book.reads("funding") and not book.reads("trades")  # it notes what flows on its family only
