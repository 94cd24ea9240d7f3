"""Trader discovery on the real PostgreSQL and Redis: each Hyperliquid trade counts once for its
buyer and seller (redelivered, resent on subscribe or duplicated in a batch), new traders join
the tracker's rotation at 0 and known ones keep their score."""
from __future__ import annotations

from decimal import Decimal

import asyncpg
import pytest
import redis.asyncio as aioredis

from services.processor.trader_discovery import COUNTED_HORIZON_US, PRUNE, TraderDiscovery, discovered_trades
from shared.config import Settings
from shared.constants import traders_rotation_key
from shared.events import Trade, now_us

D = Decimal
A, B, C = ("0x" + digit * 40 for digit in "abc")
T0 = now_us() - 3_600_000_000


def hl_trade(tid: int, buyer: str | None, seller: str | None, price: str = "100", size: str = "2",
             coin: str = "BTC", ts: int | None = None, exchange: str = "hyperliquid") -> Trade:
    return Trade(exchange=exchange, symbol=f"{coin}-USD-PERP", raw_symbol=coin, trade_id=str(tid),
                 price=D(price), size=D(size), side="buy", buyer=buyer, seller=seller,
                 ts=T0 + tid * 1000 if ts is None else ts, recv_ts=T0 + tid * 1000 + 7)


async def traders(pool: asyncpg.Pool) -> dict[str, tuple[int, int, int, str]]:
    rows = await pool.fetch("SELECT address, first_seen, last_seen, trades_seen, volume_seen::text "
                            "FROM traders")
    return {r["address"]: (r["first_seen"], r["last_seen"], r["trades_seen"], r["volume_seen"]) for r in rows}


@pytest.fixture
def discovery(pool: asyncpg.Pool, redis: aioredis.Redis, settings: Settings) -> TraderDiscovery:
    return TraderDiscovery(pool, redis, traders_rotation_key(settings.streams.prefix), ["BTC", "ETH"])


async def test_buyers_and_sellers_are_counted_with_first_and_last_seen_and_volume(
    discovery: TraderDiscovery, pool: asyncpg.Pool
) -> None:
    await discovery([hl_trade(1, A, B, "100", "2"), hl_trade(2, B, C, "101.5", "0.1")])
    await discovery([hl_trade(3, A, C, "99", "1", coin="ETH")])
    assert await traders(pool) == {
        A: (T0 + 1000, T0 + 3000, 2, "299"),
        B: (T0 + 1000, T0 + 2000, 2, "210.15"),
        C: (T0 + 2000, T0 + 3000, 2, "109.15"),
    }


async def test_a_redelivered_or_resent_trade_is_not_counted_twice(
    discovery: TraderDiscovery, pool: asyncpg.Pool
) -> None:
    first = [hl_trade(1, A, B), hl_trade(2, A, C)]
    await discovery(first)
    counted = await traders(pool)
    await discovery(first)  # the entry redelivered
    await discovery([hl_trade(2, A, C), hl_trade(2, A, C)])  # resent on a resubscribe, twice in one batch
    assert await traders(pool) == counted
    # the same tid at another time, or in another coin, is another trade
    await discovery([hl_trade(2, A, C, ts=T0 + 9000), hl_trade(2, A, C, coin="ETH")])
    assert (await traders(pool))[A][2] == 4


async def test_other_venues_coins_and_anonymous_trades_are_skipped_and_a_self_trade_counts_once(
    discovery: TraderDiscovery, pool: asyncpg.Pool
) -> None:
    await discovery([
        hl_trade(1, A, B, exchange="binance"),
        hl_trade(2, A, B, coin="DOGE"),  # not a watched coin
        hl_trade(3, None, None),
        hl_trade(4, A, "not-an-address"),
        hl_trade(5, C, C),
        hl_trade(6, A.upper().replace("0X", "0x"), B),  # checksummed case: the same address
    ])
    assert await traders(pool) == {C: (T0 + 5000, T0 + 5000, 1, "200"), A: (T0 + 6000, T0 + 6000, 1, "200"),
                                   B: (T0 + 6000, T0 + 6000, 1, "200")}


def test_all_coins_and_the_future_guard() -> None:
    trades = [hl_trade(1, A, B, coin="DOGE"), hl_trade(2, A, B, ts=now_us() + 2 * 3_600_000_000)]
    assert list(discovered_trades(trades, ["all"], now_us())) == [("DOGE-USD-PERP", "1", T0 + 1000)]


async def test_new_traders_join_the_rotation_at_zero_and_tracked_ones_keep_their_score(
    discovery: TraderDiscovery, redis: aioredis.Redis, settings: Settings
) -> None:
    key = traders_rotation_key(settings.streams.prefix)
    await redis.zadd(key, {A: 1_700_000_000_000})  # tracked before
    await discovery([hl_trade(1, A, B)])
    assert await redis.zrange(key, 0, -1, withscores=True) == [(B.encode(), 0.0), (A.encode(), 1.7e12)]


async def test_identities_older_than_the_horizon_are_pruned_and_such_trades_not_counted(
    discovery: TraderDiscovery, pool: asyncpg.Pool
) -> None:
    old = T0 - COUNTED_HORIZON_US - 1
    await discovery([hl_trade(1, A, B, ts=old)])  # nothing newer counted yet: counted
    await discovery([hl_trade(2, A, C)])
    await pool.execute(PRUNE, COUNTED_HORIZON_US)
    assert await pool.fetchval("SELECT count(*) FROM trader_trades_counted") == 1
    await discovery([hl_trade(1, A, B, ts=old)])  # its identity pruned: behind the horizon, not counted
    assert (await traders(pool))[A][2] == 2
