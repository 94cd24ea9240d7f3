"""The Lighter monitor end to end: an account followed by its index (no key), the receivers' account
connection on the simulator's account_all socket and account endpoint, and the processor's accounts
group (real Redis, real PostgreSQL). The stored positions are the desk's, liquidation prices included;
a position moved near its liquidation price raises the liquidation-distance alert, once per key."""
from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from contextlib import AsyncExitStack
from decimal import Decimal

import aiohttp
import asyncpg
import redis.asyncio as aioredis
from aiohttp.test_utils import TestServer

from services.processor.accounts import run_accounts
from services.receivers.accounts.coordinator import Accounts
from services.simulator.account_desk import make_desk
from services.simulator.app import create_app
from services.simulator.lighter_account import liquidation_price
from shared.account_store import add_account
from shared.accounts import Account
from shared.config import Settings
from shared.events import Alert
from shared.streams import StreamProducer
from tests.processor.test_positions_store import published
from tests.trades import wait_until

INDEX = "281"


async def test_the_monitor_stores_the_desks_positions_and_alerts_near_liquidation(
        make_settings: Callable[..., Settings], redis: aioredis.Redis, pool: asyncpg.Pool) -> None:
    desk = make_desk()
    desk.driving = False  # stepped below
    book = desk.book.account("lighter", INDEX)
    server = TestServer(create_app(make_settings(), accounts=desk))
    await server.start_server()
    http = str(server.make_url("")).rstrip("/")
    urls = {"lighter_private": http.replace("http", "ws") + "/lighter/stream",
            "lighter_rest": f"{http}/lighter"}
    settings = make_settings(accounts_enabled=True, account_reconcile_s=1.0, venue_urls=urls)
    async with pool.acquire() as conn:  # read by index: no key, no master key needed
        await add_account(conn, b"", Account(id="lt", exchange="lighter", address=INDEX), None)
    stop, producer_stop = asyncio.Event(), asyncio.Event()
    producer = StreamProducer(redis, settings, source="receivers")

    async def stored() -> dict[str, tuple[Decimal, ...]]:
        rows = await pool.fetch("SELECT symbol, size, entry_price, mark_price, liquidation_price "
                                "FROM account_positions WHERE account = 'lt'")
        return {r["symbol"]: (r["size"], r["entry_price"], r["mark_price"], r["liquidation_price"])
                for r in rows}

    def desk_positions() -> dict[str, tuple[Decimal, ...]]:
        return {f"{p.coin}-USD-PERP": (p.size, p.entry_price, p.mark_price, liquidation_price(p))
                for p in book.positions.values() if p.size}

    async def near_alerts() -> list[Alert]:
        return [e for e in await published(redis, settings, "alerts")
                if isinstance(e, Alert) and ":liq-near:" in e.key]

    try:
        async with AsyncExitStack() as stack, aiohttp.ClientSession() as control:
            accounts = Accounts(settings, b"", redis, producer, {}, stack)
            tasks = [asyncio.create_task(producer.run(producer_stop)),
                     asyncio.create_task(accounts.run(stop)),
                     asyncio.create_task(run_accounts(settings, redis, pool, stop))]

            async def connected() -> bool:
                running = accounts.running.get("lt")
                return running is not None and running.connection.status().connected

            await wait_until(connected, 10, "the account's socket")
            while sum(1 for p in book.positions.values() if p.size) < 2:
                book.step(desk.book.clock.ms())
                await asyncio.sleep(0.02)

            async def the_desks() -> bool:
                return await stored() == desk_positions()

            await wait_until(the_desks, 15, "the desk's positions stored")
            assert await near_alerts() == []  # 9% from liquidation: far
            coin = sorted(c for c, p in book.positions.items() if p.size)[0]
            params = {"index": INDEX, "near_liquidation": coin}
            async with control.post(f"{http}/control/lighter", params=params) as response:
                assert response.status == 200, await response.text()

            async def alerted() -> bool:
                return bool(await near_alerts())

            await wait_until(alerted, 10, "the liquidation-distance alert")
            await wait_until(the_desks, 10, "the moved mark stored")
            await asyncio.sleep(1.5)  # a reconciliation's snapshot sees it near as well
            stop.set()
            producer_stop.set()
            await asyncio.wait_for(asyncio.gather(*tasks), 15)
    finally:
        stop.set()
        producer_stop.set()
        await server.close()
    found = await near_alerts()
    symbol = f"{coin}-USD-PERP"
    assert {a.key for a in found} == {f"account:lighter:lt:liq-near:{symbol}"}
    assert len({(a.severity, a.title) for a in found}) == 1  # one alert for the general service's dedup
    held = book.positions[coin]
    liquidation = liquidation_price(held).normalize()
    said = re.search(r"price (\S+), liquidation at (\S+) \(1\.01% away\)", found[0].text)
    assert said is not None, found[0].text  # the figures as the venue wrote them: compared as numbers
    assert (Decimal(said[1]), Decimal(said[2])) == (held.mark_price, liquidation)
