"""Trader discovery at zero weight: every buyer and seller of a Hyperliquid trade on th:trades
becomes a row of `traders` (first and last seen, trades and notional volume seen) and a member
of the tracker's rotation (ZADD NX, score 0 = never tracked).

Each trade counts once. Its identity is (coin, tid, time): `symbol`, `trade_id` (the venue's
`tid`) and `ts` of the Trade, as in the trades table's key; never `hash`, which can be all zeros.
The identities counted are inserted into `trader_trades_counted` in the same statement that adds
the counts, and only the newly inserted ones count, so a redelivered entry, a replayed DLQ entry or
the ~30 trades the venue resends on every subscribe change nothing (docs/traders.md).
"""
from __future__ import annotations

import logging
import time
from collections.abc import Collection, Sequence
from decimal import Decimal

import asyncpg
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from services.processor.store import checked
from services.processor.tables_traders import RETRYABLE
from services.processor.trader_address import address_or_none
from shared import metrics
from shared.breaker import SinkUnavailable
from shared.events import Event, Trade, now_us

log = logging.getLogger(__name__)
EXCHANGE = "hyperliquid"
# Identities are kept this long behind the newest trade counted; an older trade is not counted.
COUNTED_HORIZON_US = 24 * 3600 * 1_000_000
FUTURE_SLACK_US = 3600 * 1_000_000  # a trade stamped further ahead of our clock is refused as bogus
PRUNE_EVERY_S = 600.0
ROTATION_CHUNK = 5000  # members per ZADD

# $1..$6: one array per column of the batch's trades; $7: the horizon. Only trades whose identity
# was newly inserted reach the counts; a self-trade counts once for its one address. Rows are
# upserted in address order, so two transactions over the same traders wait instead of deadlocking.
DISCOVER = """
WITH batch AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::numeric[])
        AS b(symbol, trade_id, ts, buyer, seller, notional)
), horizon AS (
    SELECT COALESCE(max(ts), 0) - $7::bigint AS cutoff FROM trader_trades_counted
), counted AS (
    INSERT INTO trader_trades_counted (ts, symbol, trade_id)
    SELECT b.ts, b.symbol, b.trade_id FROM batch b, horizon h WHERE b.ts >= h.cutoff
    ON CONFLICT DO NOTHING
    RETURNING ts, symbol, trade_id
), new_trades AS (
    SELECT b.* FROM batch b JOIN counted c USING (ts, symbol, trade_id)
), parties AS (
    SELECT buyer AS address, ts, notional FROM new_trades
    UNION ALL
    SELECT seller, ts, notional FROM new_trades WHERE seller <> buyer
)
INSERT INTO traders AS t (address, exchange, first_seen, last_seen, trades_seen, volume_seen)
SELECT address, 'hyperliquid', min(ts), max(ts), count(*), sum(notional)
FROM parties GROUP BY address ORDER BY address
ON CONFLICT (address) DO UPDATE SET
    first_seen = LEAST(t.first_seen, EXCLUDED.first_seen),
    last_seen = GREATEST(t.last_seen, EXCLUDED.last_seen),
    trades_seen = t.trades_seen + EXCLUDED.trades_seen,
    volume_seen = t.volume_seen + EXCLUDED.volume_seen
RETURNING (xmax = 0) AS inserted
"""
PRUNE = """
DELETE FROM trader_trades_counted
WHERE ts < (SELECT max(ts) FROM trader_trades_counted) - $1::bigint
"""

Identity = tuple[str, str, int]  # (symbol, trade_id, ts)
Parties = tuple[str, str, Decimal]  # (buyer, seller, notional USD)


def discovered_trades(events: Sequence[Event], coins: Collection[str], now: int) -> dict[Identity, Parties]:
    """The batch's Hyperliquid trades of the watched coins that name both parties, once per
    identity. `coins` holds venue coin names ("BTC"), or "all". Pure: no I/O."""
    every = "all" in coins
    found: dict[Identity, Parties] = {}
    for event in events:
        if not isinstance(event, Trade) or event.exchange != EXCHANGE or event.ts > now + FUTURE_SLACK_US:
            continue
        if not every and event.raw_symbol not in coins:
            continue
        buyer = address_or_none(event.buyer or "")
        seller = address_or_none(event.seller or "")
        if buyer is None or seller is None:
            continue
        notional = event.price * event.size
        checked(notional, "notional")
        found[(event.symbol, event.trade_id, event.ts)] = (buyer, seller, notional)
    return found


class TraderDiscovery:
    """Sink of the traders group on th:trades: counts each trade's parties once, adds new traders
    to the rotation. PostgreSQL or Redis away: SinkUnavailable, the batch is held and retried."""

    def __init__(self, pool: asyncpg.Pool, redis: aioredis.Redis, rotation_key: str,
                 coins: Collection[str]) -> None:
        self.pool = pool
        self.redis = redis
        self.rotation_key = rotation_key
        self.coins = frozenset(coins)
        self._pruned = time.monotonic()

    async def __call__(self, events: Sequence[Event]) -> None:
        trades = discovered_trades(events, self.coins, now_us())
        if not trades:
            return
        identities = list(trades)
        parties = [trades[identity] for identity in identities]
        try:
            async with self.pool.acquire() as conn:
                rows = await conn.fetch(
                    DISCOVER, [i[0] for i in identities], [i[1] for i in identities],
                    [i[2] for i in identities], [p[0] for p in parties], [p[1] for p in parties],
                    [p[2] for p in parties], COUNTED_HORIZON_US)
                await self._prune(conn)
        except RETRYABLE as exc:
            raise SinkUnavailable(repr(exc)) from exc
        metrics.EVENTS_STORED.labels("traders").inc(len(rows))
        new = sum(1 for row in rows if row["inserted"])
        if new:
            log.info("traders discovered", extra={"new": new, "trades": len(trades)})
        await self._rotate(sorted({address for buyer, seller, _ in parties for address in (buyer, seller)}))

    async def _rotate(self, addresses: list[str]) -> None:
        """Every party of the batch, NX: new ones enter at 0 (never tracked), known ones keep their
        score. All of them, not only the new rows, so a retry after a Redis failure adds what the
        committed transaction found."""
        try:
            for start in range(0, len(addresses), ROTATION_CHUNK):
                chunk = addresses[start:start + ROTATION_CHUNK]
                await self.redis.zadd(self.rotation_key, dict.fromkeys(chunk, 0), nx=True)
        except (RedisError, OSError) as exc:
            raise SinkUnavailable(f"redis (trader rotation): {exc!r}") from exc

    async def _prune(self, conn: asyncpg.Connection) -> None:
        if time.monotonic() - self._pruned < PRUNE_EVERY_S:
            return
        self._pruned = time.monotonic()
        await conn.execute(PRUNE, COUNTED_HORIZON_US)
