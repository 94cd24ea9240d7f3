"""The portfolio sync against the simulator: three accounts on three venues (Binance and Bybit by
signed REST, Hyperliquid by address), their stored items equal to values worked out here from the
simulator's own fills, positions and balances; a venue that hangs leaves the others stored and
shows in the status /ready reads; and no Hyperliquid /exchange request is ever sent."""
from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import aiohttp
import asyncpg
import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestServer

from services.api.health import portfolio_report
from services.general.portfolio import run_sync
from services.simulator.account_desk import AccountDesk, make_desk
from services.simulator.accounts import SimAccount
from services.simulator.app import create_app
from shared.account_store import add_account
from shared.accounts import Account, Credentials
from shared.config import Settings
from shared.constants import portfolio_status_key
from shared.events import now_us
from shared.vault import new_master_key, parse_master_key

KEYS = {"binance": ("pf-binance-key-0001", "pf-binance-secret-0001"),
        "bybit": ("pf-bybit-key-0001", "pf-bybit-secret-0001")}
ADDRESS = "0x" + "a" * 40
QUOTE_OF = {"binance": "USDT", "bybit": "USDT", "hyperliquid": "USD"}
COLLATERAL = {"binance": "USDT", "bybit": "USDT", "hyperliquid": "USDC"}
ETH_STORED = Decimal("3100.5")  # a stored spot price of ETH: used before the venues' marks


@dataclass
class Sim:
    desk: AccountDesk
    http: str
    books: dict[str, SimAccount]  # exchange -> the simulated account
    master: bytes
    master_text: str


@pytest.fixture
async def sim(make_settings: Callable[..., Settings], pool: asyncpg.Pool) -> AsyncIterator[Sim]:
    desk = make_desk()
    desk.driving = False
    books = {venue: desk.know(venue, key, secret) for venue, (key, secret) in KEYS.items()}
    books["hyperliquid"] = desk.book.account("hyperliquid", ADDRESS)
    for _ in range(60):
        desk.book.step_all()
    server = TestServer(create_app(make_settings(), accounts=desk))
    await server.start_server()
    master_text = new_master_key()
    master = parse_master_key(master_text)
    async with pool.acquire() as conn:
        for venue, (key, secret) in KEYS.items():
            account = Account(id=f"main-{venue}", exchange=venue)
            await add_account(conn, master, account, Credentials(key, secret))
        by_address = Account(id="main-hyperliquid", exchange="hyperliquid", address=ADDRESS)
        await add_account(conn, master, by_address, None)
        await conn.execute(
            "INSERT INTO spot_prices (source, exchange, symbol, ts, raw_symbol, price, recv_ts) "
            "VALUES ('exchange', 'binance', 'ETH-USDT', $1, 'ETHUSDT', $2, $1)", now_us(), ETH_STORED)
    try:
        yield Sim(desk, str(server.make_url("")).rstrip("/"), books, master, master_text)
    finally:
        await server.close()


def settings_for(make_settings: Callable[..., Settings], sim: Sim, **more: Any) -> Settings:
    urls = {f"{venue}_rest": f"{sim.http}/{venue}" for venue in ("binance", "bybit", "hyperliquid")}
    return make_settings(accounts_enabled=True, master_key=sim.master_text, venue_urls=urls, **more)


def expected(book: SimAccount, venue: str) -> dict[str, dict[str, Decimal | None]]:
    """Average cost worked out from the simulator's fills; its positions' marks (ETH: the stored
    price); the wallet as the venue holds it."""
    held: dict[str, tuple[Decimal, Decimal, Decimal]] = {}  # coin -> (size, cost, realized)
    for fill in book.fills:
        size, cost, realized = held.get(fill.coin, (Decimal(0), Decimal(0), Decimal(0)))
        signed = fill.size if fill.side == "buy" else -fill.size
        realized -= fill.fee
        if size and (size > 0) != (signed > 0):
            closed = min(abs(signed), abs(size))
            avg = cost / abs(size)
            realized += (fill.price - avg) * closed * (1 if size > 0 else -1)
            cost -= avg * closed
            size += closed if size < 0 else -closed
            signed += -closed if signed > 0 else closed
            if not size:
                cost = Decimal(0)
        size += signed
        cost += fill.price * abs(signed)
        held[fill.coin] = (size, cost, realized)
    items: dict[str, dict[str, Decimal | None]] = {}
    for coin, (size, cost, realized) in held.items():
        price = ETH_STORED if coin == "ETH" else book.positions[coin].mark_price
        avg = cost / abs(size) if size else None
        upnl = (price - avg) * size if avg is not None else None
        items[f"{coin}-{QUOTE_OF[venue]}-PERP"] = {
            "quantity": size, "avg_entry": avg, "realized_pnl": realized, "unrealized_pnl": upnl,
            "price": price if size else None, "value_usd": upnl if upnl is not None else Decimal(0)}
    items[COLLATERAL[venue]] = {"quantity": book.balance, "avg_entry": None, "realized_pnl": Decimal(0),
                                "unrealized_pnl": None, "price": Decimal(1), "value_usd": book.balance}
    return items


def close(a: Decimal | None, b: Decimal | None) -> bool:
    return a == b if a is None or b is None else abs(a - b) < Decimal("1e-18")


async def stored_items(pool: asyncpg.Pool, account: str) -> dict[str, asyncpg.Record]:
    rows = await pool.fetch("SELECT * FROM portfolio_items WHERE account = $1", account)
    return {r["asset"]: r for r in rows}


async def test_three_venues_stored_as_worked_out_from_the_simulators_fills(
        make_settings: Callable[..., Settings], sim: Sim, redis: aioredis.Redis, pool: asyncpg.Pool) -> None:
    settings = settings_for(make_settings, sim)
    outcomes = await run_sync(settings, redis, pool, sim.master)
    assert all(o.ok for o in outcomes) and len(outcomes) == 3, outcomes
    for venue, book in sim.books.items():
        assert book.fills and any(p.size for p in book.positions.values()), venue
        items = await stored_items(pool, f"main-{venue}")
        want = expected(book, venue)
        assert set(items) == set(want), (venue, set(items), set(want))
        for asset, values in want.items():
            row = items[asset]
            for name, value in values.items():
                assert close(row[name], value), (venue, asset, name, row[name], value)
            if asset.startswith("ETH") and row["quantity"]:
                assert row["price_source"] == "spot_prices:binance", row
            elif asset.startswith("BTC") and row["quantity"]:
                assert row["price_source"] == "venue_mark" and row["price_age_s"] == 0, row
            assert row["cost_method"] in ("average", "none"), row
        total = await pool.fetchval("SELECT value_usd FROM portfolio_snapshots WHERE account = $1",
                                    f"main-{venue}")
        assert close(total, sum((v["value_usd"] or Decimal(0) for v in want.values()), Decimal(0))), venue
    fields = await redis.hgetall(portfolio_status_key(settings.streams.prefix))
    report = portfolio_report(fields, now_us(), True)
    assert report["ok"] and set(report["venues"]) == set(sim.books), report


async def test_a_hanging_venue_leaves_the_others_stored_and_shows_in_the_status(
        make_settings: Callable[..., Settings], sim: Sim, redis: aioredis.Redis, pool: asyncpg.Pool) -> None:
    settings = settings_for(make_settings, sim, poll_request_timeout_s=0.3, poll_retries=0,
                            portfolio_timeout_s=3.0, portfolio_retries=1, portfolio_retry_backoff_s=0.1)
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{sim.http}/control/rest",
                             params={"venue": "hyperliquid", "mode": "hang", "hang_s": "20"}) as answer:
            assert answer.status == 200
        outcomes = {o.account: o for o in await run_sync(settings, redis, pool, sim.master)}
    assert outcomes["main-binance"].ok and outcomes["main-bybit"].ok
    failed = outcomes["main-hyperliquid"]
    assert not failed.ok and failed.error, failed
    for venue in ("binance", "bybit"):
        assert await stored_items(pool, f"main-{venue}"), venue
    assert not await stored_items(pool, "main-hyperliquid")
    fields = await redis.hgetall(portfolio_status_key(settings.streams.prefix))
    report = portfolio_report(fields, now_us(), True)
    assert not report["ok"]
    assert report["venues"]["binance"]["ok"] and report["venues"]["bybit"]["ok"]
    hyperliquid = report["venues"]["hyperliquid"]
    assert not hyperliquid["ok"] and hyperliquid["accounts"]["main-hyperliquid"]["error"]
    assert json.loads(fields[b"main-hyperliquid"])["last_ok_at"] is None


async def test_no_hyperliquid_exchange_request_is_ever_sent(
        make_settings: Callable[..., Settings], sim: Sim, redis: aioredis.Redis, pool: asyncpg.Pool) -> None:
    settings = settings_for(make_settings, sim)
    for _ in range(2):
        assert all(o.ok for o in await run_sync(settings, redis, pool, sim.master))
        sim.desk.book.step_all()
    async with aiohttp.ClientSession() as http, http.get(f"{sim.http}/stats") as answer:
        paths: dict[str, int] = (await answer.json())["paths"]
    assert paths.get("/hyperliquid/info", 0) >= 6, paths  # state, open orders, fills: twice
    assert not [p for p in paths if p.endswith("/exchange")], paths
