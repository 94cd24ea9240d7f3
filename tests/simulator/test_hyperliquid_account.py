"""Hyperliquid's own addresses against the simulator: login() over a real websocket shows the desk's
fills to the parser (the snapshot batch first), snapshot() reads back exactly the desk's books at the
documented weights, other addresses stay the population's, and `cut` closes the socket."""
from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import msgspec
import pytest
from aiohttp.test_utils import TestServer

from services.receivers.exchanges.hyperliquid import account as acct
from services.receivers.private import Link
from services.receivers.rest import VenueClient
from services.simulator.account_desk import AccountDesk, make_desk
from services.simulator.accounts import SimAccount
from services.simulator.app import create_app, venue_urls
from services.simulator.clock import SimClock
from shared.accounts import Account
from shared.config import Settings
from shared.events import AccountFill
from tests import wsclient

START_MS = (time.time_ns() // 1_000_000 // 3_600_000 - 2) * 3_600_000
ADDRESS = "0x" + "7a" * 20
ACCOUNT = Account(id="hl-own", exchange="hyperliquid", address="0x" + "7A" * 20)  # either case reads


@dataclass
class Venue:
    desk: AccountDesk
    server: TestServer
    client: VenueClient

    @property
    def ws_url(self) -> str:
        return venue_urls(f"ws://127.0.0.1:{self.server.port}")["hyperliquid_private"]

    @property
    def book(self) -> SimAccount:
        return self.desk.book.account("hyperliquid", ADDRESS)

    def link(self, account: Account = ACCOUNT) -> Link:
        return Link(account=account, credentials=None, client=self.client)

    async def get(self, path: str) -> Any:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{self.server.port}{path}") as response:
                return await response.json()


@pytest.fixture
async def venue(make_settings: Callable[..., Settings]) -> AsyncIterator[Venue]:
    desk = make_desk(SimClock(speed=0, start_ms=START_MS), seed=11)
    desk.driving = False
    desk.book.account("hyperliquid", ADDRESS)  # the desk reads this address
    settings = make_settings(simulator_traders=20)
    server = TestServer(create_app(settings, accounts=desk), host="127.0.0.1")
    await server.start_server()
    url = f"http://127.0.0.1:{server.port}/hyperliquid"
    who = {"X-Client": "accounts"}  # the simulator's weight meter counts this client apart
    async with VenueClient("hyperliquid", url, 1200, settings.rest, headers=who) as client:
        yield Venue(desk, server, client)
    await server.close()


def step(desk: AccountDesk, times: int) -> None:
    for _ in range(times):
        desk.book.clock.advance(1)
        desk.book.step_all()


async def frames(ws: Any, quiet_s: float = 0.3) -> list[bytes | str]:
    found: list[bytes | str] = []
    while True:
        try:
            found.append(await asyncio.wait_for(ws.recv(), quiet_s))
        except TimeoutError:
            return found


def same_fill(ours: AccountFill, book: SimAccount) -> None:
    theirs = next(f for f in book.fills if str(f.fill_id) == ours.fill_id)
    assert (ours.symbol, ours.order_id, ours.side, ours.price, ours.size, ours.fee, ours.realized_pnl) == (
        f"{theirs.coin}-USD-PERP", str(theirs.order_id), theirs.side, theirs.price, theirs.size, theirs.fee,
        theirs.realized_pnl)
    assert ours.ts == theirs.ts_ms * 1000 and ours.closing == theirs.closing


async def test_the_parser_sees_the_desks_fills_snapshot_first(venue: Venue) -> None:
    step(venue.desk, 20)  # some fills before the connection: the snapshot batch carries them
    before = [str(f.fill_id) for f in venue.book.fills]
    login = await acct.login(venue.link(), venue.ws_url)
    parse = acct.parser(ACCOUNT)
    async with wsclient.connect(login.url) as ws:
        for message in login.messages:
            await ws.send(message)
        first = [e for raw in await frames(ws) for e in parse(raw, 0)]
        assert before and [f.fill_id for f in first] == before
        step(venue.desk, 40)
        events = [e for raw in await frames(ws) for e in parse(raw, 0)]
        coin = next(c for c, p in venue.book.positions.items() if p.size)
        venue.book.liquidate(coin, venue.desk.book.clock.ms())
        liquidation = [e for raw in await frames(ws) for e in parse(raw, 0)]
    later = [str(f.fill_id) for f in venue.book.fills[len(before):-1]]
    # each fill twice: on userFills and on userEvents (the same identity: stored once)
    assert later and [f.fill_id for f in events] == [i for i in later for _ in range(2)]
    for fill in first + events + liquidation:
        same_fill(fill, venue.book)
    assert {f.closing for f in liquidation} == {"liquidation"} and len(liquidation) == 2


async def test_an_address_without_activity_gets_an_empty_snapshot_batch(venue: Venue) -> None:
    nobody = "0x" + "01" * 20
    async with wsclient.connect(venue.ws_url) as ws:
        await ws.send(acct.user_fills_subscription(nobody))
        greeting, *pushes = [raw for raw in await frames(ws)]
    assert greeting == "Websocket connection established."
    pushes = [msgspec.json.decode(raw) for raw in pushes]
    assert pushes[-1] == {"channel": "userFills", "data": {"isSnapshot": True, "user": nobody, "fills": []}}
    assert ("hyperliquid", nobody) not in venue.desk.book.accounts


async def test_the_snapshot_equals_the_desks_books_at_the_documented_weights(venue: Venue) -> None:
    step(venue.desk, 60)
    book = venue.book
    since_ms = book.fills[len(book.fills) // 3].ts_ms
    snap = await acct.snapshot(venue.link(), since_ms * 1000)
    ours = sorted((o.order_id, o.symbol, o.side, o.price, o.size, o.filled, o.status)
                  for o in snap.open_orders)
    assert ours == sorted((str(o.order_id), f"{o.coin}-USD-PERP", o.side, o.price, o.size, o.filled,
                           o.status) for o in book.open_orders())
    held = [p for p in book.positions.values() if p.size]
    assert held and sorted((p.symbol, p.size, p.entry_price, p.mark_price) for p in snap.positions) == sorted(
        (f"{p.coin}-USD-PERP", p.size, p.entry_price, p.mark_price) for p in held)
    upnl = sum((p.mark_price - p.entry_price) * p.size for p in held)
    margin = sum(abs(p.size) * p.mark_price / 10 for p in held)
    assert [(b.asset, b.total, b.available) for b in snap.balances] == [
        ("USDC", book.balance + upnl, book.balance + upnl - margin)]
    assert [f.fill_id for f in snap.fills] == [str(f.fill_id) for f in book.fills_since(since_ms)]
    weight = (await venue.get("/stats"))["hyperliquid"]["weight"]["clients"]["accounts"]
    assert weight["requests"] == 3 and weight["total"] == 2 + 20 + 20 + len(snap.fills) // 20


async def test_other_addresses_are_the_populations(venue: Venue) -> None:
    stranger = Account(id="x", exchange="hyperliquid", address="0x" + "ab" * 20)
    snap = await acct.snapshot(venue.link(stranger), 0)
    assert snap.open_orders == [] and snap.positions == [] and snap.fills == []


async def test_cut_closes_the_socket(venue: Venue) -> None:
    login = await acct.login(venue.link(), venue.ws_url)
    async with wsclient.connect(login.url) as ws:
        for message in login.messages:
            await ws.send(message)
        await frames(ws)
        assert venue.desk.stats()[f"hyperliquid:{ADDRESS}"]["sockets"] == 1
        async with aiohttp.ClientSession() as http:
            url = f"http://127.0.0.1:{venue.server.port}/control/accounts"
            async with http.post(url, params={"venue": "hyperliquid", "mode": "cut"}) as response:
                assert (await response.json())["cut"] == 1
        with pytest.raises(wsclient.Closed):
            await asyncio.wait_for(ws.recv(), 2)
    await asyncio.sleep(0.1)
    assert venue.desk.stats()[f"hyperliquid:{ADDRESS}"]["sockets"] == 0
