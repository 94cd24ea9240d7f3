"""Hyperliquid traders in the processor: the "traders" group, on only when traders_enabled.

  th:trades     -> discovery: traders rows and the tracker's rotation (trader_discovery.py)
  th:positions  -> TraderState diffed into PositionChanges, TraderFill and TraderEquity stored, in
                   one transaction per batch; the changes published to th:positions (never shed)
                   and, for watched traders, as alerts to th:alerts

PositionChange, Position and PortfolioItem entries on th:positions are not read: the group diffs
only the tracker's snapshots, never its own output (docs/traders.md).
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from decimal import Decimal

import asyncpg
import msgspec
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from services.processor.tables_traders import RETRYABLE
from services.processor.trader_address import address_or_none
from services.processor.trader_alerts import change_alert
from services.processor.trader_discovery import TraderDiscovery
from services.processor.trader_history import mark_liquidations, store_equity, store_fills
from services.processor.trader_states import Locked, apply_states, lock_traders
from services.processor.trader_watch import sync_watch_set
from shared.breaker import SinkUnavailable
from shared.config import Settings
from shared.constants import (
    TRADERS_GROUP,
    family_streams,
    partition_stream,
    traders_rotation_key,
    traders_watch_key,
)
from shared.consumer import StreamConsumer, join_at_the_end
from shared.events import Event, PositionChange, TraderEquity, TraderFill, TraderState
from shared.health import instance_name
from shared.streams import StreamProducer

log = logging.getLogger(__name__)
Tracked = TraderState | TraderFill | TraderEquity


class RefusedAddress(ValueError):
    """A tracked event whose address is no address: the entry goes to the DLQ."""


def lower_address(event: Tracked) -> Tracked:
    """The event with its address in the stored form (lower case); refused when it is none."""
    address = address_or_none(event.address)
    if address is None:
        raise RefusedAddress(f"not a trader address: {event.address!r}")
    return event if address == event.address else msgspec.structs.replace(event, address=address)


class TraderStore:
    """Sink of the traders group on th:positions. Publishes only after the commit and acks only
    after the publication was written: Redis away is SinkUnavailable, and the redelivered
    snapshots publish their stored changes again."""

    def __init__(self, pool: asyncpg.Pool, producer: StreamProducer) -> None:
        self.pool = pool
        self.producer = producer  # flushed here, by this sink: no loop of its own

    async def __call__(self, events: Sequence[Event]) -> None:
        tracked = [lower_address(e) for e in events if isinstance(e, TraderState | TraderFill | TraderEquity)]
        if not tracked:
            return
        states = [e for e in tracked if isinstance(e, TraderState)]
        fills = [e for e in tracked if isinstance(e, TraderFill)]
        curves = [e for e in tracked if isinstance(e, TraderEquity)]
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                locked = await lock_traders(conn, ((e.address, e.exchange, e.ts) for e in tracked))
                liquidations = await store_fills(conn, fills)
                await store_equity(conn, curves)
                changes = await apply_states(conn, states, locked)
                marked = await mark_liquidations(conn, liquidations)
        except RETRYABLE as exc:
            raise SinkUnavailable(repr(exc)) from exc
        # a change marked liquidated in the same batch is published once, as marked
        latest = {(c.account, c.symbol, c.ts): c for c in [*changes, *marked]}
        await self._publish(list(latest.values()), locked)

    async def _publish(self, changes: list[PositionChange], locked: Locked) -> None:
        for change in changes:
            self.producer.publish(change)  # th:positions is never shed
            row = locked.get(change.account)
            if row is not None and row["watched"]:
                alert = change_alert(change, Decimal(row["watch_min_usd"]))
                if alert is not None:
                    self.producer.publish(alert)
        if not await self.producer.flush():
            raise SinkUnavailable("redis: position changes not published")


def traders_consumers(settings: Settings, redis: aioredis.Redis, pool: asyncpg.Pool,
                      partition: int) -> list[StreamConsumer]:
    """The consumers of one partition of th:trades and th:positions, each with its own sink (a
    positions sink owns its producer, which it flushes itself)."""
    name = instance_name(settings)
    prefix, partitions = settings.streams.prefix, settings.streams.partitions
    discovery = StreamConsumer(redis, settings, partition_stream(prefix, "trades", partitions, partition),
                               TRADERS_GROUP, name, TraderDiscovery(pool, redis, traders_rotation_key(prefix),
                                                                    settings.traders.coins))
    positions = StreamConsumer(redis, settings, partition_stream(prefix, "positions", partitions, partition),
                               TRADERS_GROUP, name,
                               TraderStore(pool, StreamProducer(redis, settings, source="processor")))
    return [discovery, positions]


async def restore_watch_set(settings: Settings, redis: aioredis.Redis, pool: asyncpg.Pool) -> None:
    """The watch set in Redis made equal to traders.watched (the source of truth) at start; a
    failure is logged, not fatal: the CLI writes both on every change."""
    try:
        async with pool.acquire() as conn:
            await sync_watch_set(conn, redis, traders_watch_key(settings.streams.prefix))
    except (RedisError, OSError, asyncpg.PostgresError) as exc:
        log.warning("watch set not restored at start", extra={"error": repr(exc)})


async def join_trades_at_the_end(settings: Settings, redis: aioredis.Redis, stop: asyncio.Event) -> None:
    """The group joins th:trades at its end ("$"), not its start: enabling traders on a running
    platform must not make a new group lag by the whole stream, which would make the receivers shed
    market data while discovery caught up. th:positions is read from its start (the consumer's own
    XGROUP CREATE at 0): nothing but the tracker writes snapshots there."""
    streams = family_streams(settings.streams.prefix, "trades", settings.streams.partitions)
    await join_at_the_end(redis, streams, TRADERS_GROUP, stop, settings.redis_backoff_max_s)


async def prepare_traders(settings: Settings, redis: aioredis.Redis, pool: asyncpg.Pool,
                          stop: asyncio.Event) -> None:
    """Once per process, before any partition's consumers."""
    await join_trades_at_the_end(settings, redis, stop)
    await restore_watch_set(settings, redis, pool)


async def run_traders(settings: Settings, redis: aioredis.Redis, pool: asyncpg.Pool,
                      stop: asyncio.Event) -> None:
    """Every partition, without ownership, until stopped (each consumer finishes, publishes and acks
    its batch in hand); the processor runs the group through its partitions instead."""
    await prepare_traders(settings, redis, pool, stop)
    consumers = [consumer for n in range(settings.streams.partitions)
                 for consumer in traders_consumers(settings, redis, pool, n)]
    log.info("traders consuming", extra={"streams": ",".join(c.stream for c in consumers)})
    async with asyncio.TaskGroup() as tasks:
        for consumer in consumers:
            tasks.create_task(consumer.run(stop))
