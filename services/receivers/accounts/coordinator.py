"""The user's accounts in the receivers: the stored accounts opened with the master key, one private
socket and one reconciliation loop per account, through each venue's one REST client (its weight
budget, shared with the pollers and the trader tracker). Accounts added, changed or removed with
`python -m services.general accounts ...` are picked up every accounts.reload_s.
"""
from __future__ import annotations

import asyncio
import logging
from contextlib import AsyncExitStack
from dataclasses import dataclass

import asyncpg
import redis.asyncio as aioredis

from services.receivers.accounts.connection import AccountConnection, Cursor
from services.receivers.capabilities import client_for
from services.receivers.exchanges import VENUES
from services.receivers.private import Link
from services.receivers.rest import VenueClient
from shared.account_store import sealed_accounts
from shared.accounts import Account, Credentials
from shared.backoff import sleep_or_stop
from shared.constants import account_cursors_key
from shared.db import DB_ERRORS, create_pool
from shared.settings import Settings
from shared.streams import StreamProducer
from shared.vault import VaultError, unseal

log = logging.getLogger(__name__)
Opened = tuple[Account, Credentials | None]


@dataclass
class Running:
    """One account's connection and the stop of its tasks."""

    opened: Opened
    connection: AccountConnection
    stop: asyncio.Event
    task: asyncio.Task[None]


class Accounts:
    """Every stored account's private side; `connections()` feeds the feed status reporter."""

    def __init__(self, settings: Settings, master: bytes, redis: aioredis.Redis, producer: StreamProducer,
                 clients: dict[str, VenueClient], stack: AsyncExitStack) -> None:
        self.settings = settings
        self.master = master
        self.redis = redis
        self.producer = producer
        self.clients = clients  # venue -> its one REST client (the pollers' and the tracker's too)
        self.stack = stack  # where clients this opens are closed
        self.running: dict[str, Running] = {}

    def connections(self) -> list[AccountConnection]:
        return [r.connection for r in self.running.values() if r.connection.streamed]

    async def run(self, stop: asyncio.Event) -> None:
        """Load, start and stop accounts every reload_s until stopped; then stop them all. The
        database being away (or its tables not made yet) is logged and tried again next time."""
        pool: asyncpg.Pool | None = None
        try:
            while True:
                try:
                    pool = pool or await create_pool(self.settings)
                    async with pool.acquire() as conn:
                        await self.apply(self._opened(await sealed_accounts(conn)))
                except DB_ERRORS as exc:
                    log.warning("accounts not loaded", extra={"error": repr(exc)[:300]})
                if await sleep_or_stop(stop, self.settings.accounts.reload_s):
                    break
        finally:
            if pool is not None:
                await pool.close()
            await self.apply([])

    def _opened(self, rows: list[tuple[Account, bytes | None]]) -> list[Opened]:
        """Each account's credentials opened on its own: one that does not open (another master key,
        a row copied onto another account) is left out and said, the others run."""
        opened: list[Opened] = []
        for account, sealed in rows:
            try:
                credentials = (None if sealed is None
                               else unseal(self.master, account.id, account.exchange, sealed))
            except VaultError as exc:
                log.error("account credentials do not open: left out", extra={"error": str(exc)[:300]})
                continue
            opened.append((account, credentials))
        return opened

    async def apply(self, opened: list[Opened]) -> None:
        """Start what is new or changed, stop what is gone or changed."""
        wanted = {account.id: (account, credentials) for account, credentials in opened}
        for account_id in [a for a, r in self.running.items() if wanted.get(a) != r.opened]:
            await self._stop(self.running.pop(account_id))
        capped: dict[str, int] = {}
        for account_id, item in sorted(wanted.items()):
            if account_id not in self.running:
                running = await self._start(item, capped)
                if running is not None:
                    self.running[account_id] = running
        log.info("accounts", extra={"running": len(self.running)})

    async def _start(self, opened: Opened, capped: dict[str, int]) -> Running | None:
        account, credentials = opened
        venue = VENUES.get(account.exchange)
        api = venue.account if venue is not None else None
        if venue is None or api is None:
            log.error("account of a venue without a private side", extra={"account": account.id,
                                                                            "exchange": account.exchange})
            return None
        if api.needs_key and credentials is None:
            log.error("account without credentials", extra={"account": account.id})
            return None
        base_url = self.settings.venues.urls.get(api.url_key, venue.ws_urls.get(api.url_key, ""))
        streamed = self._under_cap(account, api.users_per_ip, capped)
        link = Link(account, credentials, await self._client(account.exchange))
        connection = AccountConnection(link, api, base_url, self.producer, self.settings.accounts,
                                       self._cursor(account), streamed=streamed)
        stop = asyncio.Event()
        task = asyncio.create_task(connection.run_all(stop), name=f"account {account.id}")
        log.info("account started", extra={"account": account.id, "exchange": account.exchange,
                                           "streamed": streamed})
        return Running(opened, connection, stop, task)

    def _under_cap(self, account: Account, cap: int | None, capped: dict[str, int]) -> bool:
        """Within the venue's per-IP cap of users with subscriptions (Hyperliquid: 10); the rest are
        reconciled by REST only, and said so."""
        counted = sum(1 for r in self.running.values()
                      if r.connection.streamed and r.opened[0].exchange == account.exchange)
        counted += capped.get(account.exchange, 0)
        if cap is not None and counted >= cap:
            log.error("over the venue's per-IP user cap: this account is reconciled by REST only",
                      extra={"account": account.id, "exchange": account.exchange, "cap": cap})
            return False
        capped[account.exchange] = capped.get(account.exchange, 0) + 1
        return True

    async def _client(self, venue: str) -> VenueClient:
        client = self.clients.get(venue)
        if client is None:
            client = await self.stack.enter_async_context(client_for(self.settings, venue))
            self.clients[venue] = client
        return client

    def _cursor(self, account: Account) -> Cursor:
        key, field = account_cursors_key(self.settings.streams.prefix), f"{account.exchange}:{account.id}"

        async def cursor() -> int | None:
            value = await self.redis.hget(key, field)
            return int(value) if value is not None else None

        return cursor

    async def _stop(self, running: Running) -> None:
        running.stop.set()
        try:
            async with asyncio.timeout(self.settings.shutdown_timeout_s):  # then it is cancelled
                await running.task
        except TimeoutError:
            log.warning("account stop timed out", extra={"account": running.opened[0].id})
        log.info("account stopped", extra={"account": running.opened[0].id})
