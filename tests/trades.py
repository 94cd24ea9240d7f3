"""Trades to send and ways to count what arrived, for the stream fault tests: every
test compares what it sent with what PostgreSQL stored, distinct and in total."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from decimal import Decimal

import asyncpg
import redis.asyncio as aioredis

from services.processor.store import TRADES, EventStore
from shared.config import Settings
from shared.events import Event, Trade
from shared.streams import StreamProducer

BASE_TS = 1_763_000_000_000_000


def trade(n: int, price: str = "65000.5", side: str = "buy") -> Trade:
    return Trade(
        exchange="binance",
        symbol="BTC-USDT-PERP",
        raw_symbol="BTCUSDT",
        trade_id=str(n),
        price=Decimal(price),
        size=Decimal("0.01"),
        side=side,
        ts=BASE_TS + n,
        recv_ts=BASE_TS + n,
    )


async def produce(redis: aioredis.Redis, settings: Settings, count: int, start: int = 0) -> None:
    """Publish trades start..start+count-1 and flush them (nothing may be shed here)."""
    producer = StreamProducer(redis, settings)
    for n in range(start, start + count):
        assert producer.publish(trade(n))
        if producer.buffered >= 10_000:
            assert await producer.flush()
    assert await producer.flush()


async def stored(pool: asyncpg.Pool) -> tuple[int, int]:
    """Rows in trades, and distinct trade identities among them."""
    row = await pool.fetchrow(
        "SELECT count(*) AS n, count(DISTINCT (exchange, symbol, trade_id, ts)) AS d FROM trades"
    )
    return int(row["n"]), int(row["d"])


async def wait_until(check: Callable[[], Awaitable[bool]], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"still not {what} after {seconds} s")
        await asyncio.sleep(0.05)


class CountingStore:
    """The real EventStore, counting the events each consumer stored."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.store = EventStore(pool, {Trade: TRADES})
        self.events = 0

    async def __call__(self, events: Sequence[Event]) -> None:
        await self.store(events)
        self.events += len(events)
