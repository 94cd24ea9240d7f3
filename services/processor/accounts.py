"""The user's own accounts in the processor: the "accounts" group on th:account, on only when
accounts_enabled.

  AccountOrder, AccountFill, Balance, Position -> stored (account_tables.py)
  AccountSnapshot -> reconciled against what is stored (account_reconcile.py)

in one transaction per batch, the batch's accounts locked; then, after the commit, the alerts
(account_alerts.py) are published and flushed, and each account's fill cursor moved forward
(account_cursors_key: where the receivers' next snapshot starts its fills), before the ack.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

import asyncpg
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from services.processor.account_alerts import fill_alert, liquidation_near_alert, order_alert, reconcile_alert
from services.processor.account_reconcile import Applied, reconcile
from services.processor.account_tables import (
    lock_accounts,
    newest_fills,
    store_balances,
    store_fills,
    store_orders,
    store_positions,
)
from services.processor.tables_traders import RETRYABLE
from shared import metrics
from shared.accounts import AccountAlerts
from shared.breaker import SinkUnavailable
from shared.config import Settings
from shared.constants import ACCOUNTS_GROUP, account_cursors_key, partition_stream
from shared.consumer import StreamConsumer
from shared.events import AccountFill, AccountOrder, AccountSnapshot, Alert, Balance, Event, Position
from shared.health import instance_name
from shared.streams import StreamProducer

log = logging.getLogger(__name__)
AccountEvent = AccountOrder | AccountFill | Balance | Position | AccountSnapshot
KINDS = (AccountOrder, AccountFill, Balance, Position, AccountSnapshot)

# KEYS[1] the cursors hash; ARGV field, ts, field, ts, ...: each field set only forward.
CURSOR_LUA = """
for i = 1, #ARGV, 2 do
  local held = redis.call('HGET', KEYS[1], ARGV[i])
  if not held or tonumber(held) < tonumber(ARGV[i + 1]) then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  end
end
return 0
"""


class MixedSnapshot(ValueError):
    """A snapshot holding another account's events: refused (the entry goes to the DLQ)."""


def whole(snapshot: AccountSnapshot) -> AccountSnapshot:
    """The snapshot, refused when one of its orders, fills, balances or positions names another
    account or exchange (its corrections would land on the wrong account)."""
    owner = (snapshot.account, snapshot.exchange)
    held: list[AccountOrder | AccountFill | Balance | Position] = [
        *snapshot.open_orders, *snapshot.fills, *snapshot.balances, *snapshot.positions]
    for event in held:
        if (event.account, event.exchange) != owner:
            raise MixedSnapshot(f"snapshot of {owner} holds an event of {(event.account, event.exchange)}")
    return snapshot


@dataclass
class Stored:
    """What one batch changed: fills and order updates new to the store, the reconciliations, and
    each account's newest stored fill ("<exchange>:<account>" -> µs)."""

    fills: list[AccountFill]
    orders: list[AccountOrder]
    reconciled: list[Applied]
    cursors: dict[str, int]
    positions: list[Position] = field(default_factory=list)  # streamed and snapshot: liquidation distance


async def store_batch(conn: asyncpg.Connection, events: Sequence[AccountEvent]) -> Stored:
    """The stream's events first, then each snapshot in time order against the state they made."""
    orders = await store_orders(conn, [e for e in events if isinstance(e, AccountOrder)])
    fills = await store_fills(conn, [e for e in events if isinstance(e, AccountFill)])
    await store_balances(conn, [e for e in events if isinstance(e, Balance)])
    await store_positions(conn, [e for e in events if isinstance(e, Position)])
    snapshots = sorted((e for e in events if isinstance(e, AccountSnapshot)), key=lambda s: s.ts)
    reconciled = [await reconcile(conn, snapshot) for snapshot in snapshots]
    cursors = await newest_fills(conn, {e.account for e in events})
    positions = [e for e in events if isinstance(e, Position)] + [p for s in snapshots for p in s.positions]
    return Stored(fills, orders, reconciled, cursors, positions)


def alerts_of(stored: Stored, settings: dict[str, AccountAlerts],
              liquidation_pct: Decimal = Decimal(5)) -> list[Alert]:
    """The batch's alerts: new fills and closing orders (stream or reconciliation), then one per
    reconciliation that found differences, then positions near their liquidation price; one per key
    (a liquidation's order and its fills)."""
    fills = [*stored.fills, *(f for r in stored.reconciled for f in r.fills)]
    orders = [*stored.orders, *(o for r in stored.reconciled for o in r.orders)]
    found = [fill_alert(f, settings[f.account]) for f in fills]
    found += [order_alert(o, settings[o.account]) for o in orders]
    found += [reconcile_alert(r.snapshot, [f"{d.kind} {d.item}: {d.stored or '-'} -> {d.venue or '-'}"
                                           for d in r.differences], settings[r.snapshot.account])
              for r in stored.reconciled]
    found += [liquidation_near_alert(p, liquidation_pct, settings[p.account]) for p in stored.positions]
    unique: dict[str, Alert] = {}
    for alert in found:
        if alert is not None:
            unique.setdefault(alert.key, alert)
    return list(unique.values())


class AccountStore:
    """Sink of the accounts group. Alerts are published only after the commit and flushed before
    the ack: Redis away is SinkUnavailable, and the alerts stay in the producer for the retry (the
    retried batch finds its fills stored already, so it makes no second alert)."""

    def __init__(self, pool: asyncpg.Pool, producer: StreamProducer, redis: aioredis.Redis,
                 cursors_key: str, liquidation_pct: Decimal = Decimal(5)) -> None:
        self.pool = pool
        self.liquidation_pct = liquidation_pct  # accounts.liquidation_alert_pct
        self.producer = producer  # flushed here, by this sink: no loop of its own
        self.cursors_key = cursors_key
        self._move_cursors = redis.register_script(CURSOR_LUA)

    async def __call__(self, events: Sequence[Event]) -> None:
        mine = [whole(e) if isinstance(e, AccountSnapshot) else e for e in events if isinstance(e, KINDS)]
        if not mine:
            return
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                settings = await lock_accounts(conn, (e.account for e in mine))
                stored = await store_batch(conn, mine)
        except RETRYABLE as exc:
            raise SinkUnavailable(repr(exc)) from exc
        for applied in stored.reconciled:
            snapshot = applied.snapshot
            for difference in applied.differences:
                metrics.ACCOUNT_DIFFERENCES.labels(snapshot.exchange, snapshot.account, difference.kind).inc()
            if applied.differences:
                log.warning("account reconciled: stored state corrected",
                            extra={"exchange": snapshot.exchange, "account": snapshot.account,
                                   "differences": len(applied.differences), "reason": snapshot.reason})
        for alert in alerts_of(stored, settings, self.liquidation_pct):
            self.producer.publish(alert)
        if not await self.producer.flush():
            raise SinkUnavailable("redis: account alerts not published")
        await self._cursors(stored.cursors)

    async def _cursors(self, cursors: dict[str, int]) -> None:
        if not cursors:
            return
        args = [value for field in sorted(cursors) for value in (field, cursors[field])]
        try:
            await self._move_cursors(keys=[self.cursors_key], args=args)
        except (RedisError, OSError) as exc:
            raise SinkUnavailable(f"redis: account cursors not written: {exc!r}") from exc


def accounts_consumers(settings: Settings, redis: aioredis.Redis, pool: asyncpg.Pool,
                       partition: int) -> list[StreamConsumer]:
    """The consumer of one partition of th:account, with its own sink and producer."""
    prefix = settings.streams.prefix
    stream = partition_stream(prefix, "account", settings.streams.partitions, partition)
    return [StreamConsumer(redis, settings, stream, ACCOUNTS_GROUP, instance_name(settings),
                           AccountStore(pool, StreamProducer(redis, settings, source="processor"), redis,
                                        account_cursors_key(prefix),
                                        Decimal(str(settings.accounts.liquidation_alert_pct))))]


async def run_accounts(settings: Settings, redis: aioredis.Redis, pool: asyncpg.Pool,
                       stop: asyncio.Event) -> None:
    """Every partition, without ownership, until stopped (each consumer finishes, publishes and acks
    its batch in hand); the processor runs the group through its partitions instead. The group reads
    th:account from its start: nothing there may be skipped."""
    consumers = [consumer for n in range(settings.streams.partitions)
                 for consumer in accounts_consumers(settings, redis, pool, n)]
    log.info("accounts consuming", extra={"streams": ",".join(c.stream for c in consumers)})
    async with asyncio.TaskGroup() as tasks:
        for consumer in consumers:
            tasks.create_task(consumer.run(stop))
