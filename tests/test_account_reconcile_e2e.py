"""A Binance account end to end: the simulator's account makes fills while its private socket is cut
twice and its listenKey expires once; the receivers' account connection and the processor's
accounts group (real Redis, real PostgreSQL) end with every fill the simulator made stored once,
the missed ones found by reconciliation, and every order where the venue left it."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextlib import AsyncExitStack

import aiohttp
import asyncpg
import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestServer

from services.processor.accounts import run_accounts
from services.receivers.accounts.coordinator import Accounts
from services.simulator.account_desk import make_desk
from services.simulator.accounts import Change, SimAccount
from services.simulator.app import create_app
from shared.account_store import add_account
from shared.accounts import Account, Credentials
from shared.config import Settings
from shared.streams import StreamProducer
from shared.vault import new_master_key, parse_master_key
from tests.trades import wait_until

pytestmark = pytest.mark.fault
KEY, SECRET = "e2e-binance-key-0001", "e2e-binance-secret-0001"


async def test_fills_made_while_cut_and_expired_are_all_stored_once(
        make_settings: Callable[..., Settings], redis: aioredis.Redis, pool: asyncpg.Pool, tag: str,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    desk = make_desk()
    desk.driving = False  # stepped below, between the faults
    book = desk.know("binance", KEY, SECRET)
    history: dict[int, list[str]] = {}  # order id -> the statuses the venue went through

    def record(change: Change) -> None:
        if change.order is not None:
            history.setdefault(change.order.order_id, []).append(change.order.status)

    book.listeners.append(record)
    server = TestServer(create_app(make_settings(), accounts=desk))
    await server.start_server()
    http = str(server.make_url("")).rstrip("/")
    ws = http.replace("http", "ws")
    master_text = new_master_key()
    urls = {"binance_private": f"{ws}/private/ws", "binance_rest": f"{http}/binance"}
    settings = make_settings(accounts_enabled=True, master_key=master_text, account_reconcile_s=2.0,
                             account_auth_backoff_max_s=0.5, venue_urls=urls)
    master = parse_master_key(master_text)
    async with pool.acquire() as conn:
        await add_account(conn, master, Account(id="main", exchange="binance"), Credentials(KEY, SECRET))
    stop, producer_stop = asyncio.Event(), asyncio.Event()
    producer = StreamProducer(redis, settings, source="receivers")
    try:
        async with AsyncExitStack() as stack, aiohttp.ClientSession() as control:
            accounts = Accounts(settings, master, redis, producer, {}, stack)
            tasks = [asyncio.create_task(producer.run(producer_stop)),
                     asyncio.create_task(accounts.run(stop)),
                     asyncio.create_task(run_accounts(settings, redis, pool, stop))]

            async def steps(count: int) -> None:
                for _ in range(count):
                    book.step(desk.book.clock.ms())
                    await asyncio.sleep(0.03)

            async def fault(mode: str) -> None:
                params = {"venue": "binance", "mode": mode}
                async with control.post(f"{http}/control/accounts", params=params):
                    pass

            def connection_up() -> bool:
                running = accounts.running.get("main")
                return running is not None and running.connection.status().connected

            await wait_until_true(connection_up, 10, "the account's socket")
            await steps(30)
            for mode in ("cut", "cut", "expire"):
                snapshots = accounts.running["main"].connection.snapshots
                await fault(mode)
                await steps(15)  # fills while the socket is down or its key dead
                if mode == "expire":
                    await fault("normal")
                await wait_until_true(connection_up, 10, f"back after {mode}")
                await steps(15)
                await wait_until_true(lambda: accounts.running["main"].connection.snapshots > snapshots,  # noqa: B023
                                      10, f"reconciled after {mode}")
            made = {str(f.fill_id) for f in book.fills}

            async def all_stored() -> bool:
                rows = await pool.fetch("SELECT fill_id FROM account_fills WHERE account = 'main'")
                return {r["fill_id"] for r in rows} == made

            await wait_until(all_stored, 20, "every fill the simulator made stored")
            connection = accounts.running["main"].connection
            stop.set()
            producer_stop.set()
            await asyncio.wait_for(asyncio.gather(*tasks), 15)
    finally:
        stop.set()
        producer_stop.set()
        await server.close()
    count, distinct = await pool.fetchrow(
        "SELECT count(*), count(DISTINCT fill_id) FROM account_fills WHERE account = 'main'")
    assert count == distinct == len(made) > 0
    missed = await pool.fetchval("SELECT count(*) FROM account_differences WHERE kind = 'missed_fill'")
    assert missed > 0, "the faults lost no fill: the test proved nothing"
    assert connection.reconnects >= 3 and connection.snapshots >= 3, connection.status()
    await check_orders(pool, book, history)
    await check_no_secret(pool, redis, tag, caplog, [KEY.encode(), SECRET.encode(), master_text.encode()])


async def check_orders(pool: asyncpg.Pool, book: SimAccount, history: dict[int, list[str]]) -> None:
    stored = {r["order_id"]: r for r in await pool.fetch(
        "SELECT order_id, status, filled FROM account_orders WHERE account = 'main'")}
    # the venue's REST lists open orders only: an order born and ended inside an outage is unseen
    unseen = [o for o in book.orders.values() if str(o.order_id) not in stored]
    assert all(o.status not in ("new", "partially_filled") for o in unseen), unseen
    assert len(unseen) < len(book.orders) / 4, (len(unseen), len(book.orders))
    for order in book.orders.values():
        row = stored.get(str(order.order_id))
        if row is not None:
            assert (row["status"], row["filled"]) == (order.status, order.filled), (order, dict(row))
    for order_id, statuses in history.items():
        if str(order_id) not in stored:
            continue
        kept = [r["status"] for r in await pool.fetch(
            "SELECT status FROM account_order_history WHERE account = 'main' AND order_id = $1 "
            "ORDER BY ts, filled", str(order_id))]
        assert kept and is_subsequence(kept, statuses), (order_id, kept, statuses)


async def check_no_secret(pool: asyncpg.Pool, redis: aioredis.Redis, tag: str,
                          caplog: pytest.LogCaptureFixture, secrets: list[bytes]) -> None:
    # the key, its secret and the master key reached no log line, no Redis key or value, and no
    # PostgreSQL column but the sealed one
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records).encode()
    assert caplog.records and not [s for s in secrets if s in logged]
    stored_in_redis = b"\n".join([await dump(redis, key) async for key in redis.scan_iter(match=f"{tag}:*")])
    assert stored_in_redis and not [s for s in secrets if s in stored_in_redis]
    tables = [r["table_name"] for r in await pool.fetch(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = $1", tag)]
    for table in tables:
        rows = await pool.fetch(f'SELECT to_jsonb(t) - \'sealed\' AS row FROM "{table}" t')
        text = "\n".join(str(r["row"]) for r in rows).encode()
        assert not [s for s in secrets if s in text], table



async def dump(redis: aioredis.Redis, key: bytes) -> bytes:
    """A key and its whole value, whatever its type."""
    kind = (await redis.type(key)).decode()
    if kind == "stream":
        value: object = await redis.xrange(key)
    elif kind == "hash":
        value = await redis.hgetall(key)
    elif kind == "string":
        value = await redis.get(key)
    elif kind == "zset":
        value = await redis.zrange(key, 0, -1, withscores=True)
    elif kind == "set":
        value = await redis.smembers(key)
    else:
        value = await redis.lrange(key, 0, -1)
    return key + b" " + repr(value).encode()


def is_subsequence(kept: list[str], went: list[str]) -> bool:
    """Every stored status is one the order went through, in the order it went through them."""
    remaining = iter(went)
    return all(any(status == seen for seen in remaining) for status in kept)


async def wait_until_true(condition: Callable[[], bool], timeout: float, what: str) -> None:
    async def check() -> bool:
        return condition()

    await wait_until(check, timeout, what)
