"""Lighter's account side against the simulator: login() over a real websocket (an L1 address
resolved to its index first) shows the desk's positions to the parser, the venue's pings are
answered, snapshot() equals the desk's books, and the control moves a position near its
liquidation price on the socket."""
from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from decimal import Decimal

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from services.receivers.exchanges import lighter
from services.receivers.exchanges.lighter import account as acct
from services.receivers.private import AuthRejected, Link
from services.receivers.rest import VenueClient
from services.simulator.account_desk import AccountDesk, make_desk
from services.simulator.accounts import SimAccount
from services.simulator.app import create_app, venue_urls
from services.simulator.clock import SimClock
from services.simulator.lighter_account import liquidation_price, near_liquidation
from shared.accounts import Account
from shared.config import Settings
from shared.events import Balance, Position
from tests import wsclient
from tests.simulator.private_sim import private_feed

START_MS = (time.time_ns() // 1_000_000 // 3_600_000 - 2) * 3_600_000
INDEX = 281
ACCOUNT = Account(id="lt-main", exchange="lighter", address=str(INDEX))
BY_ADDRESS = Account(id="lt-l1", exchange="lighter", address="0x" + "Ab" * 16 + f"{INDEX:08x}")


@dataclass
class Venue:
    desk: AccountDesk
    server: TestServer
    client: VenueClient

    @property
    def ws_url(self) -> str:
        return venue_urls(f"ws://127.0.0.1:{self.server.port}")["lighter_private"]

    @property
    def book(self) -> SimAccount:
        return self.desk.book.account("lighter", str(INDEX))

    def link(self, account: Account = ACCOUNT) -> Link:
        return Link(account=account, credentials=None, client=self.client)

    def step_until_open(self, coins: int = 2) -> None:
        for _ in range(400):
            if sum(1 for p in self.book.positions.values() if p.size) >= coins:
                return
            self.desk.book.clock.advance(1)
            self.desk.book.step_all()
        raise AssertionError("the desk opened no positions")


@pytest.fixture
async def venue(make_settings: Callable[..., Settings]) -> AsyncIterator[Venue]:
    desk = make_desk(SimClock(speed=0, start_ms=START_MS), seed=5)
    desk.driving = False
    settings = make_settings(simulator_traders=20)
    server = TestServer(create_app(settings, accounts=desk), host="127.0.0.1")
    await server.start_server()
    async with VenueClient("lighter", f"http://127.0.0.1:{server.port}/lighter", 60, settings.rest) as client:
        yield Venue(desk, server, client)
    await server.close()


def desk_positions(book: SimAccount) -> list[tuple[object, ...]]:
    return sorted((f"{p.coin}-USD-PERP", p.size, p.entry_price, p.mark_price, liquidation_price(p))
                  for p in book.positions.values() if p.size)


def ours(positions: list[Position]) -> list[tuple[object, ...]]:
    return sorted((p.symbol, p.size, p.entry_price, p.mark_price, p.liquidation_price) for p in positions)


async def test_the_snapshot_equals_the_desks_books(venue: Venue) -> None:
    venue.step_until_open()
    book = venue.book
    for account in (ACCOUNT, BY_ADDRESS):  # by index, and by the L1 address whose account it is
        snap = await acct.snapshot(venue.link(account), 0)
        assert snap.account == account.id and snap.open_orders == [] and snap.fills == []
        assert ours(snap.positions) == desk_positions(book)
        pnl = sum(((p.mark_price - p.entry_price) * p.size for p in book.positions.values()), Decimal(0))
        margin = sum((abs(p.size) * p.mark_price / 10 for p in book.positions.values()), Decimal(0))
        assert [(b.asset, b.total, b.available) for b in snap.balances] == [
            ("USDC", book.balance, max(Decimal(0), book.balance + pnl - margin)), ("ETH", Decimal("0.5"),
                                                                                  Decimal("0.5"))]
        for position in snap.positions:
            held = book.positions[position.symbol.split("-")[0]]
            assert position.realized_pnl == sum(f.realized_pnl for f in book.fills if f.coin == held.coin)
            assert position.leverage == 10 and position.funding_paid == 0


async def test_login_subscribes_and_the_parser_sees_the_desks_positions(venue: Venue) -> None:
    venue.step_until_open()
    login = await acct.login(venue.link(BY_ADDRESS), venue.ws_url)  # the address is resolved first
    assert list(login.messages) == ['{"type":"subscribe","channel":"account_all/281"}']
    async with private_feed(lighter.ACCOUNT, venue.link(), venue.ws_url) as feed:
        await feed.until(lambda f: bool(f.of(Balance)))  # the whole account, sent on subscribe
        assert ours(feed.of(Position)) == desk_positions(venue.book)
        assert [(b.asset, b.total) for b in feed.of(Balance)] == [("ETH", Decimal("0.5"))]
        feed.events.clear()
        for _ in range(30):  # the account trades on: each moved position is an update
            venue.desk.book.clock.advance(1)
            venue.desk.book.step_all()
        await feed.until(lambda f: len(f.of(Position)) > 0)
        await asyncio.sleep(0.2)
        newest = {p.symbol: p for p in feed.of(Position)}
        for symbol, position in newest.items():
            held = venue.book.positions[symbol.split("-")[0]]
            assert position.size == held.size  # a close is size 0, without an entry
            assert position.entry_price == (held.entry_price if held.size else None)


async def test_the_venues_ping_gets_a_pong_and_a_position_moves_near_liquidation(venue: Venue) -> None:
    venue.step_until_open(1)
    coin = next(c for c, p in sorted(venue.book.positions.items()) if p.size)
    async with wsclient.connect(venue.ws_url) as ws:
        assert '"type":"connected"' in str(await asyncio.wait_for(ws.recv(), 2))
        await ws.send('{"type":"ping"}')
        assert await asyncio.wait_for(ws.recv(), 2) == '{"type":"pong"}'
        await ws.send(acct.subscription(INDEX))
        await asyncio.wait_for(ws.recv(), 2)  # the whole account
        async with aiohttp.ClientSession() as http:
            url = f"http://127.0.0.1:{venue.server.port}/control/lighter"
            async with http.post(url, params={"index": str(INDEX), "near_liquidation": coin}) as response:
                answer = await response.json()
        update = acct.parser(ACCOUNT)(await asyncio.wait_for(ws.recv(), 2), 0)
    held = venue.book.positions[coin]
    assert Decimal(answer["mark"]) == held.mark_price
    [moved] = update
    assert isinstance(moved, Position) and moved.mark_price == held.mark_price
    assert moved.liquidation_price == liquidation_price(held)
    gap = abs(held.mark_price - liquidation_price(held)) / held.mark_price * 100
    assert Decimal("0.9") < gap < Decimal("1.1")


async def test_an_unknown_account_is_refused_and_cut_closes_the_socket(venue: Venue) -> None:
    with pytest.raises(AuthRejected):
        await acct.snapshot(venue.link(Account(id="x", exchange="lighter", address="nobody")), 0)
    with pytest.raises(KeyError):
        near_liquidation(venue.desk.book.account("lighter", "9"), "BTC", 0)
    async with wsclient.connect(venue.ws_url) as ws:
        await asyncio.wait_for(ws.recv(), 2)
        await ws.send(acct.subscription(INDEX))
        await asyncio.wait_for(ws.recv(), 2)
        assert venue.desk.stats()[f"lighter:{INDEX}"]["sockets"] == 1
        async with aiohttp.ClientSession() as http:
            url = f"http://127.0.0.1:{venue.server.port}/control/accounts"
            async with http.post(url, params={"venue": "lighter", "mode": "cut"}) as response:
                assert (await response.json())["cut"] == 1
        with pytest.raises(wsclient.Closed):
            await asyncio.wait_for(ws.recv(), 2)
