"""Deribit's private side against the simulator: a refused key gets Deribit's own error (AuthRejected),
login() over a real websocket shows the desk's orders and fills to the parser, the token refresh
works once per token, and snapshot() reads back exactly the desk's books."""
from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from services.receivers.exchanges import deribit
from services.receivers.exchanges.deribit import account as acct
from services.receivers.exchanges.deribit import account_rest
from services.receivers.private import AuthRejected, Link, SessionExpired
from services.receivers.rest import VenueClient
from services.simulator.account_desk import AccountDesk, make_desk
from services.simulator.app import create_app, venue_urls
from services.simulator.clock import SimClock
from shared.accounts import Account, Credentials
from shared.config import Settings
from shared.events import AccountFill, AccountOrder, Balance
from tests import wsclient

START_MS = (time.time_ns() // 1_000_000 // 3_600_000 - 2) * 3_600_000  # the venue's past: trades go up to now
KEY, SECRET = "sim-client-7", "sim-secret-7"
ACCOUNT = Account(id="deribit-main", exchange="deribit")


@dataclass
class Venue:
    desk: AccountDesk
    server: TestServer
    client: VenueClient

    @property
    def ws_url(self) -> str:
        return venue_urls(f"ws://127.0.0.1:{self.server.port}")["deribit_private"]

    def link(self, secret: str = SECRET) -> Link:
        return Link(account=ACCOUNT, credentials=Credentials(key=KEY, secret=secret), client=self.client)


@pytest.fixture
async def venue(make_settings: Callable[..., Settings]) -> AsyncIterator[Venue]:
    desk = make_desk(SimClock(speed=0, start_ms=START_MS), seed=7)
    desk.driving = False  # the test steps the books itself
    desk.know("deribit", KEY, SECRET)
    settings = make_settings()
    server = TestServer(create_app(settings, accounts=desk), host="127.0.0.1")
    await server.start_server()
    url = f"http://127.0.0.1:{server.port}/deribit"
    async with VenueClient("deribit", url, account_rest.WEIGHT_PER_MINUTE, settings.rest) as client:
        yield Venue(desk, server, client)
    await server.close()


def step(desk: AccountDesk, times: int) -> None:
    for _ in range(times):
        desk.book.clock.advance(1)
        desk.book.step_all()


async def frames(ws: Any, quiet_s: float = 0.3) -> list[bytes | str]:
    """Every frame until the socket has been quiet for quiet_s."""
    found: list[bytes | str] = []
    while True:
        try:
            found.append(await asyncio.wait_for(ws.recv(), quiet_s))
        except TimeoutError:
            return found


async def test_a_wrong_secret_is_refused_with_deribits_error(venue: Venue) -> None:
    with pytest.raises(AuthRejected, match="^deribit 13004 invalid_credentials$"):
        await account_rest.snapshot(venue.link(secret="not-the-secret"), 0)
    login = await acct.login(venue.link(secret="not-the-secret"), venue.ws_url)
    parse = acct.parser(ACCOUNT)
    async with wsclient.connect(login.url) as ws:
        await ws.send(login.messages[0])
        with pytest.raises(AuthRejected, match="13004 invalid_credentials"):
            parse(await ws.recv(), 0)


async def test_the_desk_refusing_every_key_refuses_the_login(venue: Venue) -> None:
    venue.desk.modes["deribit"] = "auth_fail"
    with pytest.raises(AuthRejected, match="13004"):
        await account_rest.snapshot(venue.link(), 0)


async def test_subscribing_without_auth_is_unauthorized(venue: Venue) -> None:
    async with wsclient.connect(venue.ws_url) as ws:
        await ws.send(acct.private_subscribe_message())
        with pytest.raises(SessionExpired, match="13009 unauthorized"):
            acct.parser(ACCOUNT)(await ws.recv(), 0)


async def test_the_parser_sees_the_desks_orders_and_fills(venue: Venue) -> None:
    login = await acct.login(venue.link(), venue.ws_url)
    parse = acct.parser(ACCOUNT)
    events: list[Any] = []
    async with wsclient.connect(login.url) as ws:
        for message in login.messages:
            await ws.send(message)
        for raw in await frames(ws):
            assert parse(raw, 0) == []  # the auth, heartbeat and subscribe answers
        assert acct.TOKENS.get(ACCOUNT.id)  # the refresh token of the auth answer, kept for renew()
        step(venue.desk, 40)
        for raw in await frames(ws):
            events += parse(raw, 0)
    book = venue.desk.book.account("deribit", KEY)
    fills = [e for e in events if isinstance(e, AccountFill)]
    assert book.fills and [f.fill_id for f in fills] == [str(f.fill_id) for f in book.fills]
    for ours, theirs in zip(fills, book.fills, strict=True):
        assert (ours.symbol, ours.side, ours.price, ours.size, ours.fee, ours.fee_asset) == (
            f"{theirs.coin}-USDC-PERP", theirs.side, theirs.price, theirs.size, theirs.fee, "USDC")
        assert ours.realized_pnl == theirs.realized_pnl and ours.ts == theirs.ts_ms * 1000
    latest = {e.order_id: e for e in events if isinstance(e, AccountOrder)}
    assert set(latest) == {str(o) for o in book.orders}
    for order in book.orders.values():
        seen = latest[str(order.order_id)]
        assert (seen.status, seen.size, seen.filled, seen.price) == (order.status, order.size, order.filled,
                                                                     order.price)
    balances = [e for e in events if isinstance(e, Balance)]
    assert balances and balances[-1].total == book.balance and balances[-1].asset == "USDC"


async def test_renew_refreshes_the_token_once_per_refresh_token(venue: Venue) -> None:
    login = await acct.login(venue.link(), venue.ws_url)
    parse = acct.parser(ACCOUNT)
    async with wsclient.connect(login.url) as ws:
        for message in login.messages:
            await ws.send(message)
        for raw in await frames(ws):
            parse(raw, 0)
        first = acct.TOKENS.get(ACCOUNT.id)
        [refresh] = await acct.renew(venue.link(), login)
        await ws.send(refresh)
        assert parse(await ws.recv(), 0) == []
        assert acct.TOKENS.get(ACCOUNT.id) not in ("", first)  # a new refresh token each time
        await ws.send(acct.refresh_message(first))  # a spent refresh token is no good
        with pytest.raises(SessionExpired):
            parse(await ws.recv(), 0)


async def test_cut_closes_the_private_socket(venue: Venue) -> None:
    login = await acct.login(venue.link(), venue.ws_url)
    async with wsclient.connect(login.url) as ws:
        for message in login.messages:
            await ws.send(message)
        await frames(ws)
        assert venue.desk.stats()[f"deribit:{KEY}"]["sockets"] == 1
        async with aiohttp.ClientSession() as http:
            url = f"http://127.0.0.1:{venue.server.port}/control/accounts"
            async with http.post(url, params={"venue": "deribit", "mode": "cut"}) as response:
                assert (await response.json())["cut"] == 1
        with pytest.raises(wsclient.Closed):
            await asyncio.wait_for(ws.recv(), 2)
    await asyncio.sleep(0.1)
    assert venue.desk.stats()[f"deribit:{KEY}"]["sockets"] == 0


async def test_the_snapshot_equals_the_desks_books(venue: Venue) -> None:
    step(venue.desk, 60)
    book = venue.desk.book.account("deribit", KEY)
    since_ms = book.fills[len(book.fills) // 2].ts_ms
    snap = await account_rest.snapshot(venue.link(), since_ms * 1000)
    assert snap.account == ACCOUNT.id and snap.exchange == "deribit" and snap.fills_since == since_ms * 1000
    ours = sorted((o.order_id, o.symbol, o.side, o.price, o.size, o.filled, o.status)
                  for o in snap.open_orders)
    assert ours == sorted((str(o.order_id), f"{o.coin}-USDC-PERP", o.side, o.price, o.size, o.filled,
                           o.status) for o in book.open_orders())
    assert [(b.asset, b.total, b.available) for b in snap.balances] == [
        ("USDC", book.balance, book.balance - book._margin())]
    held = [p for p in book.positions.values() if p.size]
    assert held and sorted((p.symbol, p.size, p.entry_price, p.mark_price) for p in snap.positions) == sorted(
        (f"{p.coin}-USDC-PERP", p.size, p.entry_price, p.mark_price) for p in held)
    assert [f.fill_id for f in snap.fills] == [str(f.fill_id) for f in book.fills_since(since_ms)]
    assert all(isinstance(f.price, Decimal) for f in snap.fills)
    assert deribit.VENUE.rest is not None  # the snapshot's budget: the venue's REST client
