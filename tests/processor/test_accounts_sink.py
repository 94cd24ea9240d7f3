"""The accounts group's sink on the real PostgreSQL and Redis: account events stored once however
often they come, an order's latest row never going back, snapshots reconciled (differences stored,
counted, alerted), fill and liquidation alerts for news only, the fill cursor moved forward, an
unknown account refused; and the group run by the processor, its refused entries dead-lettered."""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import asyncpg
import pytest
import redis.asyncio as aioredis
from msgspec.structs import replace
from prometheus_client import REGISTRY

from services.processor.account_tables import UnknownAccount
from services.processor.accounts import AccountStore, MixedSnapshot, run_accounts
from services.processor.main import run_processor
from shared.config import Settings
from shared.constants import ACCOUNTS_GROUP, account_cursors_key, dlq_key, stream_key
from shared.events import Alert, Event
from shared.streams import StreamProducer, stream_of
from tests.processor.test_account_reconcile import (
    ACC,
    BTC,
    EX,
    T0,
    S,
    balance,
    fill,
    order,
    position,
    snapshot,
)
from tests.processor.test_positions_store import published
from tests.trades import wait_until

D = Decimal
ETH = "ETH-USDT-PERP"
TABLES = ("account_orders", "account_order_history", "account_fills", "account_balances",
          "account_balance_history", "account_positions", "account_position_history", "account_differences")


@pytest.fixture
async def accounts(pool: asyncpg.Pool) -> None:
    # accounts past their baseline (their first snapshot): every snapshot here is a reconciliation
    await pool.execute("INSERT INTO accounts (id, exchange, scope, sealed, alerts, created_at, updated_at, "
                       "baseline_ts) VALUES ($1, $2, 'read', $3, '{}', 1, 1, 0)", ACC, EX, b"x")
    await pool.execute("INSERT INTO accounts (id, exchange, scope, address, alerts, created_at, updated_at, "
                       "baseline_ts) VALUES ('quiet', 'hyperliquid', 'read', $1, "
                       "'{\"fills\": false, \"reconcile\": false, \"some_later_setting\": 1}', 1, 1, 0)",
                       "0x" + "ab" * 20)


@pytest.fixture
def store(pool: asyncpg.Pool, redis: aioredis.Redis, settings: Settings, accounts: None) -> AccountStore:
    cursors = account_cursors_key(settings.streams.prefix)
    return AccountStore(pool, StreamProducer(redis, settings), redis, cursors)


async def dump(pool: asyncpg.Pool) -> dict[str, list[Any]]:
    return {table: [tuple(r) for r in await pool.fetch(f"SELECT * FROM {table} ORDER BY 1, 2, 3, 4")]
            for table in TABLES}


async def alerts(redis: aioredis.Redis, settings: Settings) -> list[Alert]:
    return [e for e in await published(redis, settings, "alerts") if isinstance(e, Alert)]


def differences_counted(kind: str) -> float:
    return REGISTRY.get_sample_value("tradehub_account_differences_total",
                                     {"exchange": EX, "account": ACC, "kind": kind}) or 0.0


def a_day() -> list[Event]:
    """Some of everything: orders, fills, a balance, positions and a snapshot that finds differences."""
    return [order("1", ts=T0), order("1", "partially_filled", "0.5", ts=T0 + 1),
            fill("f1", "1", "0.5", T0 + 1), balance("USDT", "100", ts=T0 + 1), position(BTC, "0.5", T0 + 1),
            position(ETH, "2", T0 + 2),
            snapshot(orders=(order("1", "partially_filled", "0.5", ts=T0 + 1),),
                     fills=(fill("f1", "1", "0.5", T0 + 1), fill("f2", "2", "1", T0 + 3)),
                     balances=(balance("USDT", "99", ts=T0 + 4),), positions=(position(BTC, "0.5"),))]


async def test_the_same_events_stored_twice_change_nothing(
    store: AccountStore, pool: asyncpg.Pool, redis: aioredis.Redis, settings: Settings
) -> None:
    await store(a_day())
    first, alerted = await dump(pool), await alerts(redis, settings)
    assert [len(first[t]) for t in TABLES] == [1, 2, 2, 1, 2, 1, 3, 3]
    await store(a_day())
    await store(a_day()[::-1])
    assert await dump(pool) == first
    assert await alerts(redis, settings) == alerted  # nothing new, nothing alerted


async def test_an_orders_history_is_kept_in_order_and_its_latest_row_never_goes_back(
    store: AccountStore, pool: asyncpg.Pool
) -> None:
    new, partial = order("1", ts=T0), order("1", "partially_filled", "0.5", ts=T0 + 1)
    filled = order("1", "filled", "1", ts=T0 + 2)
    await store([new])
    await store([partial])
    await store([filled])
    await store([partial, new])  # late and repeated: history has them, the latest stays filled
    canceled_at_once = [order("2", "canceled", ts=T0), order("2", ts=T0)]  # same time: the cancel ends it
    await store(canceled_at_once)
    rows = await pool.fetch("SELECT order_id, status, filled FROM account_order_history "
                            "ORDER BY order_id, ts, filled, status")
    assert [tuple(r) for r in rows] == [("1", "new", D(0)), ("1", "partially_filled", D("0.5")),
                                        ("1", "filled", D(1)), ("2", "canceled", D(0)), ("2", "new", D(0))]
    latest = await pool.fetch("SELECT order_id, status, filled, ts FROM account_orders ORDER BY order_id")
    assert [tuple(r) for r in latest] == [("1", "filled", D(1), T0 + 2), ("2", "canceled", D(0), T0)]


async def test_a_closed_position_is_deleted_and_stays_closed_when_an_older_update_comes_late(
    store: AccountStore, pool: asyncpg.Pool
) -> None:
    await store([position(BTC, "1", T0), position(ETH, "2", T0), position(BTC, "0", T0 + 2)])
    await store([position(BTC, "1.5", T0 + 1)])
    rows = await pool.fetch("SELECT symbol, size FROM account_positions ORDER BY symbol")
    assert [tuple(r) for r in rows] == [(ETH, D(2))]
    assert await pool.fetchval("SELECT count(*) FROM account_position_history WHERE symbol = $1", BTC) == 3


async def test_a_snapshot_corrects_the_stored_state_and_records_what_it_found(
    store: AccountStore, pool: asyncpg.Pool, redis: aioredis.Redis, settings: Settings
) -> None:
    later = S + 1
    await store([order("7", "partially_filled", "0.4"), fill("a", "7", "0.4"), order("8"),
                 order("9", ts=later), balance("USDT", "100"), position(BTC, "1"), position(ETH, "2", later)])
    before = {kind: differences_counted(kind) for kind in ("missed_fill", "order", "balance", "position")}
    await store([snapshot(fills=(fill("a", "7", "0.4"), fill("b", "7", "0.6", T0 + 9)),
                          balances=(balance("USDT", "90", "85"),))])
    rows = await pool.fetch("SELECT kind, item, stored, venue FROM account_differences ORDER BY kind, item")
    assert [(r["kind"], r["item"]) for r in rows] == [
        ("balance", "USDT"), ("missed_fill", "b"), ("order", "7"), ("order", "8"), ("position", BTC)]
    counted = {kind: differences_counted(kind) - before[kind] for kind in before}
    assert counted == {"missed_fill": 1, "order": 2, "balance": 1, "position": 1}
    orders = await pool.fetch("SELECT order_id, status, filled, ts FROM account_orders ORDER BY order_id")
    assert [tuple(r) for r in orders] == [("7", "filled", D(1), S), ("8", "canceled", D(0), S),
                                          ("9", "new", D(0), later)]  # 9: newer than the snapshot
    assert await pool.fetchval("SELECT size FROM account_fills WHERE fill_id = 'b'") == D("0.6")
    balances = await pool.fetch("SELECT asset, total, available, ts FROM account_balances")
    assert [tuple(r) for r in balances] == [("USDT", D(90), D(85), S)]
    positions = await pool.fetch("SELECT symbol, size FROM account_positions")
    assert [tuple(r) for r in positions] == [(ETH, D(2))]  # BTC gone, ETH newer than the snapshot
    sent = await alerts(redis, settings)
    assert [a.key for a in sent] == [f"account:{EX}:{ACC}:fill:a", f"account:{EX}:{ACC}:fill:b",
                                     f"account:{EX}:{ACC}:reconcile:{S}"]
    assert "5 stored differences" in sent[-1].title
    cursors = await redis.hgetall(account_cursors_key(settings.streams.prefix))
    assert cursors == {f"{EX}:{ACC}".encode(): str(T0 + 9).encode()}


async def test_alerts_for_new_fills_and_one_per_liquidation_as_the_account_wants(
    store: AccountStore, pool: asyncpg.Pool, redis: aioredis.Redis, settings: Settings
) -> None:
    await store([fill("f1", "1")])
    await store([fill("f1", "1")])  # repeated: no news
    await store([order("9", "filled", "1", closing="liquidation"), fill("f9", "9", closing="liquidation"),
                 fill("f10", "9", closing="liquidation")])
    quiet = {"account": "quiet", "exchange": "hyperliquid"}
    await store([replace(fill("q1", "1"), **quiet),
                 replace(snapshot(), balances=[replace(balance("USDC", "5"), **quiet)], **quiet)])
    sent = await alerts(redis, settings)
    keys = [a.key for a in sent]
    assert keys.count(f"account:{EX}:{ACC}:fill:f1") == 1
    assert [a.key for a in sent if a.severity == "critical"] == [f"account:{EX}:{ACC}:liquidation:9"]
    assert await pool.fetchval("SELECT count(*) FROM account_differences WHERE account = 'quiet'") == 1
    assert not [k for k in keys if ":quiet:" in k]  # its fills and reconciliations are not alerted


async def test_the_fill_cursor_only_moves_forward(
    store: AccountStore, redis: aioredis.Redis, settings: Settings
) -> None:
    key = account_cursors_key(settings.streams.prefix)
    await store([fill("f1", "1", ts=T0 + 5)])
    assert await redis.hget(key, f"{EX}:{ACC}") == str(T0 + 5).encode()
    await store([fill("f0", "1", ts=T0 + 1)])
    assert await redis.hget(key, f"{EX}:{ACC}") == str(T0 + 5).encode()
    await redis.hset(key, f"{EX}:{ACC}", T0 + 100)
    await store([fill("f2", "1", ts=T0 + 6)])
    assert await redis.hget(key, f"{EX}:{ACC}") == str(T0 + 100).encode()


async def test_an_unknown_account_or_a_mixed_snapshot_is_refused_and_nothing_stored(
    store: AccountStore, pool: asyncpg.Pool
) -> None:
    stranger = replace(order("1"), account="nobody")
    with pytest.raises(UnknownAccount, match="nobody"):
        await store([order("2"), stranger])
    mixed = replace(snapshot(), open_orders=[stranger])
    with pytest.raises(MixedSnapshot):
        await store([mixed])
    assert await pool.fetchval("SELECT count(*) FROM account_orders") == 0


async def test_the_group_stores_and_dead_letters_an_unknown_accounts_events(
    pool: asyncpg.Pool, redis: aioredis.Redis, make_settings: Callable[..., Settings], accounts: None
) -> None:
    settings = make_settings(accounts_enabled=True, consumer_max_deliveries=1)
    good = fill("f1", "1")
    stranger = replace(good, account="nobody")
    producer = StreamProducer(redis, settings)
    producer.publish(good)
    assert await producer.flush()
    producer.publish(stranger)
    assert await producer.flush()
    stream = stream_of(good, settings)
    stop = asyncio.Event()
    task = asyncio.create_task(run_accounts(settings, redis, pool, stop))

    async def dead() -> bool:
        return bool(await redis.xlen(dlq_key(stream)))

    try:
        await wait_until(dead, 10, "dead-lettered")
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    assert await pool.fetchval("SELECT count(*) FROM account_fills") == 1
    groups = await redis.xinfo_groups(stream)
    assert [(g["name"], g["pending"]) for g in groups] == [(ACCOUNTS_GROUP.encode(), 0)]


@pytest.mark.parametrize("enabled", [True, False])
async def test_the_processor_runs_the_accounts_group_only_when_enabled(
    pool: asyncpg.Pool, redis: aioredis.Redis, make_settings: Callable[..., Settings], accounts: None,
    enabled: bool
) -> None:
    settings = make_settings(accounts_enabled=enabled)
    producer = StreamProducer(redis, settings)
    producer.publish(fill("f1", "1"))
    assert await producer.flush()
    stop = asyncio.Event()
    running = asyncio.create_task(run_processor(settings, redis, stop))
    stream, trades = stream_of(fill("f1", "1"), settings), stream_key(settings.streams.prefix, "trades")

    async def storing() -> bool:
        return bool(await redis.exists(trades)) and bool(await redis.xinfo_groups(trades))

    try:
        await wait_until(storing, 20, "storing trades")
        await asyncio.sleep(0.5)
    finally:
        stop.set()
        await asyncio.wait_for(running, 10)
    names = {g["name"] for g in await redis.xinfo_groups(stream)}
    assert (ACCOUNTS_GROUP.encode() in names) is enabled
    assert await pool.fetchval("SELECT count(*) FROM account_fills") == int(enabled)


async def test_an_accounts_first_snapshot_is_its_baseline_stored_but_neither_counted_nor_alerted(
    store: AccountStore, pool: asyncpg.Pool, redis: aioredis.Redis, settings: Settings
) -> None:
    await pool.execute("UPDATE accounts SET baseline_ts = NULL WHERE id = $1", ACC)
    history = snapshot(fills=(fill("h1", "9", "1", T0),), balances=(balance("USDT", "50", ts=T0 + 1),))
    await store([history])
    assert await pool.fetchval("SELECT count(*) FROM account_fills") == 1  # the history is stored
    assert await pool.fetchval("SELECT count(*) FROM account_differences") == 0
    assert await pool.fetchval("SELECT baseline_ts FROM accounts WHERE id = $1", ACC) == history.ts
    assert await alerts(redis, settings) == []
    before = differences_counted("missed_fill")
    await store([replace(snapshot(fills=(fill("h2", "9", "1", T0 + 2),)), ts=history.ts + 1)])
    assert await pool.fetchval("SELECT count(*) FROM account_differences WHERE kind = 'missed_fill'") == 1
    assert differences_counted("missed_fill") == before + 1
