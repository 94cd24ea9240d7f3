"""The portfolio sync (docs/portfolio.md): every portfolio.sync_s, and on demand with
`python -m services.general portfolio sync`, each stored account's balances, positions and fills
since its last sync are read from its venue (AccountApi.snapshot, signed or by address, through the
venue's REST client and its budget), joined with the fills the processor stored, turned into
average entry and PnL per holding (shared/avg_entry.py), priced (portfolio_prices.py) and stored:
portfolio_items upserted, one portfolio_snapshots row per account.

Every account syncs on its own, under its own timeout and retries: one venue's failure never stops
the others. Each account's outcome is a field of the <prefix>:general:portfolio hash (/ready shows
it) and a count of tradehub_portfolio_syncs_total{exchange,outcome}.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import aiohttp
import asyncpg
import msgspec
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from services.general.portfolio_books import (
    Holding,
    Item,
    books,
    holdings,
    merged_fills,
    valued,
)
from services.general.portfolio_prices import (
    DOLLARS,
    NO_PRICE,
    Price,
    base_of,
    stored_price,
    ticker_prices,
    ticker_venue,
)
from services.receivers.capabilities import client_for
from services.receivers.exchanges import VENUES
from services.receivers.private import AuthRejected, Link
from services.receivers.rest import BadResponse, RestError, VenueClient
from shared import metrics
from shared.account_store import load_accounts
from shared.accounts import Account, Credentials
from shared.backoff import sleep_or_stop, until_stopped
from shared.config import Settings
from shared.constants import portfolio_status_key
from shared.db import DB_ERRORS
from shared.events import AccountFill, AccountSnapshot, now_us
from shared.vault import MasterKeyError, VaultError, master_key

log = logging.getLogger(__name__)
OVERLAP_US = 60_000_000  # the next sync asks for fills from a minute before the last one
# venue failures worth another attempt inside a sync (a refused key or a wrong request is not)
TRANSIENT = (RestError, TimeoutError, OSError, aiohttp.ClientError)
FAILURES = (*TRANSIENT, AuthRejected, msgspec.MsgspecError, ValueError)
Opened = tuple[Account, Credentials | None]

STORED_FILLS = """
SELECT exchange, account, symbol, order_id, fill_id, side, price, size, fee, fee_asset, realized_pnl,
       closing, ts, recv_ts
FROM account_fills WHERE account = $1 AND exchange = $2 ORDER BY ts, fill_id
"""
UPSERT_ITEM = """
INSERT INTO portfolio_items AS p (account, asset, exchange, quantity, avg_entry, cost_method, realized_pnl,
    unrealized_pnl, pnl_pct, price, price_source, price_age_s, value_usd, ts)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
ON CONFLICT (account, asset) DO UPDATE SET exchange = EXCLUDED.exchange, quantity = EXCLUDED.quantity,
    avg_entry = EXCLUDED.avg_entry, cost_method = EXCLUDED.cost_method, realized_pnl = EXCLUDED.realized_pnl,
    unrealized_pnl = EXCLUDED.unrealized_pnl, pnl_pct = EXCLUDED.pnl_pct, price = EXCLUDED.price,
    price_source = EXCLUDED.price_source, price_age_s = EXCLUDED.price_age_s, value_usd = EXCLUDED.value_usd,
    ts = EXCLUDED.ts
"""
DELETE_GONE = "DELETE FROM portfolio_items WHERE account = $1 AND NOT (asset = ANY($2::text[]))"
INSERT_SNAPSHOT = """
INSERT INTO portfolio_snapshots (account, ts, value_usd, priced) VALUES ($1, $2, $3, $4)
ON CONFLICT (account, ts) DO UPDATE SET value_usd = EXCLUDED.value_usd, priced = EXCLUDED.priced
"""


@dataclass(frozen=True)
class Outcome:
    account: str
    exchange: str
    ok: bool
    items: int = 0
    value_usd: Decimal | None = None
    error: str = ""


class Clients:
    """Each venue's REST client, opened on first use and closed with the sync."""

    def __init__(self, settings: Settings, stack: AsyncExitStack) -> None:
        self.settings, self.stack = settings, stack
        self.opened: dict[str, VenueClient] = {}

    async def get(self, venue: str) -> VenueClient:
        if venue not in self.opened:
            self.opened[venue] = await self.stack.enter_async_context(client_for(self.settings, venue))
        return self.opened[venue]


async def with_retries(settings: Settings, call: Callable[[], Awaitable[AccountSnapshot]]) -> AccountSnapshot:
    """The call, tried again after a transient venue error, waiting retry_backoff_s then twice as long."""
    wait = settings.portfolio.retry_backoff_s
    for attempt in range(settings.portfolio.retries + 1):
        try:
            return await call()
        except BadResponse:
            raise
        except TRANSIENT as exc:
            if attempt == settings.portfolio.retries:
                raise
            log.warning("portfolio snapshot failed, retrying",
                        extra={"error": repr(exc)[:300], "wait_s": wait})
            await asyncio.sleep(wait)
            wait *= 2
    raise AssertionError("unreachable")


def fill_of(row: asyncpg.Record) -> AccountFill:
    return AccountFill(**{key: row[key] for key in row.keys()})  # noqa: SIM118 (a Record)


async def price_holdings(settings: Settings, conn: asyncpg.Connection, clients: Clients, exchange: str,
                         held: list[Holding], now: int) -> list[Price]:
    """Each holding's price: par, stored, the venue's mark, the venue's ticker, or none."""
    prices: list[Price | None] = []
    for holding in held:
        if not holding.quantity:
            prices.append(NO_PRICE)
        elif base_of(holding.asset) in DOLLARS:
            prices.append(Price(Decimal(1), "par", Decimal(0)))
        else:
            found = await stored_price(conn, exchange, holding.asset, now, settings.portfolio.price_max_age_s)
            if found is None and holding.venue_mark is not None:
                found = Price(holding.venue_mark, "venue_mark", Decimal(0))
            prices.append(found)
    missing = [base_of(h.asset) for h, p in zip(held, prices, strict=True) if p is None]
    venue = ticker_venue(exchange)
    tickers: dict[str, Price] = {}
    if missing and venue is not None:
        tickers = await ticker_prices(settings, await clients.get(venue), venue, missing, now)
    return [p if p is not None else tickers.get(base_of(h.asset), NO_PRICE)
            for h, p in zip(held, prices, strict=True)]


async def sync_account(settings: Settings, pool: asyncpg.Pool, clients: Clients, opened: Opened,
                       since_us: int) -> list[Item]:
    """Read, compute, price and store one account; returns its items."""
    account, credentials = opened
    api = VENUES[account.exchange].account if account.exchange in VENUES else None
    if api is None:
        raise ValueError(f"{account.exchange} has no private side")
    link = Link(account, credentials, await clients.get(account.exchange))
    snapshot = await with_retries(settings, lambda: api.snapshot(link, since_us))
    now = now_us()
    async with pool.acquire() as conn:
        stored = [fill_of(r) for r in await conn.fetch(STORED_FILLS, account.id, account.exchange)]
        method = settings.portfolio.cost_method
        held = holdings(snapshot, books(merged_fills(stored, snapshot.fills), method))
        prices = await price_holdings(settings, conn, clients, account.exchange, held, now)
        items = [valued(h, p, method, account.id, account.exchange, now)
                 for h, p in zip(held, prices, strict=True)]
        await store(conn, account.id, items, now)
    return items


def total_of(items: list[Item]) -> tuple[Decimal, bool]:
    """The account's value in USD, and whether every holding had a value."""
    values = [i.value_usd for i in items]
    return sum((v for v in values if v is not None), Decimal(0)), all(v is not None for v in values)


async def store(conn: asyncpg.Connection, account: str, items: list[Item], now: int) -> None:
    total, priced = total_of(items)
    async with conn.transaction():
        await conn.execute(DELETE_GONE, account, [i.asset for i in items])
        await conn.executemany(UPSERT_ITEM, [
            (i.account, i.asset, i.exchange, i.quantity, i.avg_entry, i.cost_method, i.realized_pnl,
             i.unrealized_pnl, i.pnl_pct, i.price, i.price_source, i.price_age_s, i.value_usd, i.ts)
            for i in items])
        await conn.execute(INSERT_SNAPSHOT, account, now, total, priced)


async def read_status(redis: aioredis.Redis, settings: Settings) -> dict[str, dict[str, Any]]:
    """account -> its last sync's outcome as recorded (json fields of the status hash)."""
    raw = await redis.hgetall(portfolio_status_key(settings.streams.prefix))
    found: dict[str, dict[str, Any]] = {}
    for key, value in raw.items():
        name = key.decode() if isinstance(key, bytes) else str(key)
        try:
            found[name] = json.loads(value)
        except ValueError:
            continue
    return found


async def record(redis: aioredis.Redis, settings: Settings, outcome: Outcome,
                 previous: dict[str, Any]) -> None:
    now = now_us()
    entry = {"exchange": outcome.exchange, "ok": outcome.ok, "at": now, "error": outcome.error[:300],
             "items": outcome.items, "last_ok_at": now if outcome.ok else previous.get("last_ok_at"),
             "value_usd": None if outcome.value_usd is None else str(outcome.value_usd)}
    await redis.hset(portfolio_status_key(settings.streams.prefix), outcome.account, json.dumps(entry))


async def _one(settings: Settings, pool: asyncpg.Pool, clients: Clients, opened: Opened,
               previous: dict[str, Any]) -> Outcome:
    account = opened[0]
    last_ok = previous.get("last_ok_at")
    since = max(0, int(last_ok) - OVERLAP_US) if isinstance(last_ok, int) else 0
    started = time.monotonic()
    try:
        async with asyncio.timeout(settings.portfolio.timeout_s):
            items = await sync_account(settings, pool, clients, opened, since)
    except (*FAILURES, *DB_ERRORS) as exc:
        outcome = "timeout" if isinstance(exc, TimeoutError) else "failed"
        metrics.PORTFOLIO_SYNCS.labels(account.exchange, outcome).inc()
        log.error("portfolio sync failed", extra={"account": account.id, "exchange": account.exchange,
                                                  "error": repr(exc)[:300]})
        error = f"{outcome}: {type(exc).__name__}: {exc}"[:300]
        return Outcome(account.id, account.exchange, False, error=error)
    metrics.PORTFOLIO_SYNCS.labels(account.exchange, "ok").inc()
    metrics.PORTFOLIO_LAST_SUCCESS.labels(account.exchange).set(time.time())
    total, _ = total_of(items)
    log.info("portfolio synced", extra={"account": account.id, "exchange": account.exchange,
                                        "items": len(items), "seconds": round(time.monotonic() - started, 3)})
    return Outcome(account.id, account.exchange, True, len(items), total)


async def run_sync(settings: Settings, redis: aioredis.Redis, pool: asyncpg.Pool, master: bytes,
                   only: str | None = None) -> list[Outcome]:
    """One sync of every account (or `only` that one), all at once, each on its own."""
    async with pool.acquire() as conn:
        opened = [o for o in await load_accounts(conn, master) if only is None or o[0].id == only]
    try:
        previous = await read_status(redis, settings)
    except (RedisError, OSError) as exc:
        log.warning("portfolio status not read", extra={"error": repr(exc)})
        previous = {}
    async with AsyncExitStack() as stack:
        clients = Clients(settings, stack)
        outcomes = await asyncio.gather(*(_one(settings, pool, clients, o, previous.get(o[0].id, {}))
                                          for o in opened))
    for outcome in outcomes:
        try:
            await record(redis, settings, outcome, previous.get(outcome.account, {}))
        except (RedisError, OSError) as exc:
            log.warning("portfolio status not recorded", extra={"error": repr(exc)})
    return list(outcomes)


async def portfolio_schedule(settings: Settings, redis: aioredis.Redis, pool: asyncpg.Pool,
                             stop: asyncio.Event) -> None:
    """A sync at start, then every portfolio.sync_s; without a valid master key, nothing (logged)."""
    try:
        master = master_key(settings.accounts)
    except MasterKeyError as exc:
        log.error("portfolio sync off: no valid master key", extra={"error": str(exc)[:300]})
        return
    while not stop.is_set():
        try:
            if await until_stopped(run_sync(settings, redis, pool, master), stop) is None:
                return
        except (*DB_ERRORS, VaultError) as exc:
            log.error("portfolio sync not run", extra={"error": repr(exc)[:300]})
        if await sleep_or_stop(stop, settings.portfolio.sync_s):
            return
