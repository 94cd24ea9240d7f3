"""Binance USD-M private side against the simulator: signed REST refused as Binance refuses it,
login() and a real websocket connection reading the desk's orders and fills through parser(),
the listenKey lifecycle, and snapshot() equal to the desk's books."""

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

from services.receivers.exchanges.binance import account as binance_account
from services.receivers.exchanges.binance import account_rest
from services.receivers.private import AuthRejected, Link, SessionExpired
from services.receivers.rest import VenueClient
from services.simulator.account_desk import AccountDesk, make_desk
from services.simulator.accounts import SimAccount
from services.simulator.app import create_app, venue_urls
from services.simulator.clock import SimClock
from shared.accounts import Account, Credentials
from shared.config import Settings
from shared.events import AccountFill, AccountOrder, AnyEvent, Balance, Position
from tests import wsclient

KEY, SECRET = "test-binance-key-0001", "test-binance-secret-0001"
ACCOUNT = Account(id="main", exchange="binance")
QUIET_S = 0.3  # no frame for this long: the socket has said everything


@dataclass
class Venue:
    server: TestServer
    desk: AccountDesk
    clock: SimClock
    client: VenueClient
    link: Link

    @property
    def book(self) -> SimAccount:
        return self.desk.book.account("binance", KEY)

    @property
    def base_url(self) -> str:
        return venue_urls(f"ws://127.0.0.1:{self.server.port}")["binance_private"]

    def link_with(self, key: str, secret: str) -> Link:
        return Link(ACCOUNT, Credentials(key, secret), self.client)

    def steps(self, count: int) -> None:
        """The desk's accounts move one step a simulated second apart."""
        for _ in range(count):
            self.clock.advance(1)
            self.desk.book.step_all()

    async def control(self, **query: str) -> dict[str, Any]:
        async with aiohttp.ClientSession() as http:
            url = f"http://127.0.0.1:{self.server.port}/control/accounts"
            async with http.post(url, params={"venue": "binance", **query}) as response:
                assert response.status == 200
                body: dict[str, Any] = await response.json()
                return body


@pytest.fixture
async def venue(make_settings: Callable[..., Settings]) -> AsyncIterator[Venue]:
    settings = make_settings()
    # an hour in the past: the snapshot asks up to the wall clock's now, and the test moves time on
    clock = SimClock(speed=0, start_ms=time.time_ns() // 1_000_000 - 3_600_000)
    desk = make_desk(clock)
    desk.driving = False
    desk.know("binance", KEY, SECRET)
    server = TestServer(create_app(settings, accounts=desk), host="127.0.0.1")
    await server.start_server()
    async with VenueClient("binance", str(server.make_url("/binance")), 2400, settings.rest) as client:
        yield Venue(server, desk, clock, client, Link(ACCOUNT, Credentials(KEY, SECRET), client))
    await server.close()


async def drain(ws: wsclient.Socket) -> list[AnyEvent]:
    """Every frame the socket sends until it goes quiet, parsed as the receivers parse them."""
    parse, events = binance_account.parser(ACCOUNT), []
    while True:
        try:
            raw = await asyncio.wait_for(ws.recv(), QUIET_S)
        except TimeoutError:
            return events
        events += parse(raw, 0)


async def raw_get(venue: Venue, path: str, query: str, key: str = KEY) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http:
        url = f"http://127.0.0.1:{venue.server.port}/binance{path}?{query}"
        async with http.get(url, headers={"X-MBX-APIKEY": key}) as response:
            return response.status, await response.json()


# --- refusals ---


async def test_a_wrong_signature_is_refused_with_1022(venue: Venue) -> None:
    query = f"recvWindow=5000&timestamp={account_rest.now_ms()}"
    status, body = await raw_get(venue, "/fapi/v3/account", f"{query}&signature={'0' * 64}")
    assert (status, body) == (400, {"code": -1022, "msg": "Signature for this request is not valid."})
    with pytest.raises(AuthRejected, match="^binance -1022 Signature for this request is not valid.$"):
        await account_rest.snapshot(venue.link_with(KEY, "not-the-secret"), 0)


async def test_a_right_signature_passes_and_a_stale_timestamp_is_1021(venue: Venue) -> None:
    good = account_rest.signed_query([], SECRET, account_rest.now_ms())
    status, _ = await raw_get(venue, "/fapi/v3/account", "&".join(f"{k}={v}" for k, v in good))
    assert status == 200
    stale = account_rest.signed_query([], SECRET, account_rest.now_ms() - 6000)
    status, body = await raw_get(venue, "/fapi/v3/account", "&".join(f"{k}={v}" for k, v in stale))
    assert (status, body["code"]) == (400, -1021)


async def test_an_unknown_key_is_2015_and_login_says_auth_rejected(venue: Venue) -> None:
    with pytest.raises(AuthRejected, match="^binance -2015 Invalid API-key, IP, or permissions for action.$"):
        await binance_account.login(venue.link_with("someone-else", SECRET), venue.base_url)
    with pytest.raises(AuthRejected, match="-2015"):
        await account_rest.snapshot(venue.link_with("someone-else", SECRET), 0)


async def test_auth_fail_refuses_the_listen_key(venue: Venue) -> None:
    await venue.control(mode="auth_fail")
    with pytest.raises(AuthRejected, match="-2015"):
        await binance_account.login(venue.link, venue.base_url)
    await venue.control(mode="normal")
    assert (await binance_account.login(venue.link, venue.base_url)).token


# --- the user data stream ---


async def test_the_socket_carries_the_desks_orders_fills_balance_and_positions(venue: Venue) -> None:
    login = await binance_account.login(venue.link, venue.base_url)
    events = "ORDER_TRADE_UPDATE/ACCOUNT_UPDATE/listenKeyExpired"
    assert login.url == f"{venue.base_url}?listenKey={login.token}&events={events}"
    async with wsclient.connect(login.url) as ws:
        assert venue.desk.stats()[f"binance:{KEY}"]["sockets"] == 1
        venue.steps(60)
        events = await drain(ws)
    book = venue.book
    fills = [e for e in events if isinstance(e, AccountFill)]
    assert book.fills and [f.fill_id for f in fills] == [str(f.fill_id) for f in book.fills]
    for got, want in zip(fills, book.fills, strict=True):
        seen = (got.symbol, got.order_id, got.side, got.price, got.size, got.fee, got.realized_pnl, got.ts)
        made = (f"{want.coin}-USDT-PERP", str(want.order_id), want.side, want.price, want.size, want.fee,
                want.realized_pnl, want.ts_ms * 1000)
        assert seen == made
    latest = {e.order_id: e for e in events if isinstance(e, AccountOrder)}
    assert set(latest) == {str(i) for i in book.orders}
    for order in book.orders.values():
        got = latest[str(order.order_id)]
        assert (got.status, got.filled, got.size, got.price, got.client_id) == (
            order.status, order.filled, order.size, order.price, order.client_id)
    [*_, balance] = [e for e in events if isinstance(e, Balance)]
    assert (balance.asset, balance.total) == ("USDT", book.balance)
    positions = {e.symbol: e.size for e in events if isinstance(e, Position)}
    assert positions == {f"{p.coin}-USDT-PERP": p.size for p in book.positions.values()}


async def test_a_liquidation_and_an_adl_come_flagged(venue: Venue) -> None:
    venue.steps(80)
    login = await binance_account.login(venue.link, venue.base_url)
    async with wsclient.connect(login.url) as ws:
        coin = next(p.coin for p in venue.book.positions.values() if p.size)
        venue.book.liquidate(coin, venue.clock.ms())
        order, fill, balance, position = await drain(ws)
        venue.steps(40)
        coin = next(p.coin for p in venue.book.positions.values() if p.size)
        venue.book.liquidate(coin, venue.clock.ms(), closing="adl")
        adl_order, adl_fill, _, _ = (await drain(ws))[-4:]
    assert isinstance(order, AccountOrder) and isinstance(fill, AccountFill)
    assert isinstance(balance, Balance) and isinstance(position, Position)
    assert (order.closing, order.status, order.order_type, order.client_id[:10]) == (
        "liquidation", "filled", "liquidation", "autoclose-")
    assert (fill.closing, position.size, balance.asset) == ("liquidation", Decimal(0), "USDT")
    assert isinstance(adl_order, AccountOrder) and isinstance(adl_fill, AccountFill)
    assert (adl_order.client_id, adl_order.closing, adl_fill.closing) == ("adl_autoclose", "adl", "adl")


async def test_the_events_list_is_an_allow_list(venue: Venue) -> None:
    """A socket whose `events` leave listenKeyExpired out never hears its key lapse (Binance's
    behaviour, and why the receivers name it)."""
    login = await binance_account.login(venue.link, venue.base_url)
    async with wsclient.connect(login.url.replace("/ACCOUNT_UPDATE/listenKeyExpired", "")) as ws:
        venue.steps(20)
        kinds = {type(e) for e in await drain(ws)}
        await venue.control(mode="expire")
        assert await drain(ws) == []
    assert kinds == {AccountOrder, AccountFill}


async def test_expire_sends_listen_key_expired_and_renew_fails(venue: Venue) -> None:
    login = await binance_account.login(venue.link, venue.base_url)
    async with wsclient.connect(login.url) as ws:
        await venue.control(mode="expire")
        with pytest.raises(SessionExpired, match="listenKeyExpired"):
            binance_account.parser(ACCOUNT)(await asyncio.wait_for(ws.recv(), 2), 0)
    with pytest.raises(SessionExpired, match="^binance -1125 This listenKey does not exist.$"):
        await binance_account.renew(venue.link, login)
    fresh = await binance_account.login(venue.link, venue.base_url)
    assert fresh.token != login.token
    assert await binance_account.renew(venue.link, fresh) == []


async def test_a_listen_key_lives_sixty_minutes_and_put_extends_it(venue: Venue) -> None:
    login = await binance_account.login(venue.link, venue.base_url)
    venue.clock.advance(binance_account.RENEW_S)
    await binance_account.renew(venue.link, login)
    venue.clock.advance(3000)  # 80 minutes after the POST, 50 after the PUT
    await binance_account.renew(venue.link, login)
    venue.clock.advance(3601)
    with pytest.raises(SessionExpired):
        await binance_account.renew(venue.link, login)
    with pytest.raises(aiohttp.WSServerHandshakeError):
        async with wsclient.connect(login.url):
            pass


async def test_cut_closes_the_socket(venue: Venue) -> None:
    login = await binance_account.login(venue.link, venue.base_url)
    async with wsclient.connect(login.url) as ws:
        assert (await venue.control(mode="cut"))["cut"] == 1
        with pytest.raises(wsclient.Closed):
            await asyncio.wait_for(ws.recv(), 2)
    await asyncio.sleep(0.05)
    assert venue.desk.stats()[f"binance:{KEY}"]["sockets"] == 0


# --- the REST snapshot ---


async def test_snapshot_equals_the_desks_books(venue: Venue) -> None:
    venue.steps(60)
    since_ms = venue.clock.ms()
    venue.steps(60)
    coin = next(p.coin for p in venue.book.positions.values() if p.size)
    venue.book.liquidate(coin, venue.clock.ms())
    venue.steps(5)
    book = venue.book
    snap = await account_rest.snapshot(venue.link, since_ms * 1000)
    assert (snap.account, snap.exchange, snap.fills_since) == ("main", "binance", since_ms * 1000)
    assert {(o.order_id, o.status, o.filled, o.size, o.price) for o in snap.open_orders} == {
        (str(o.order_id), o.status, o.filled, o.size, o.price) for o in book.open_orders()}
    assert [(b.asset, b.total) for b in snap.balances] == [("USDT", book.balance)]
    assert {p.symbol: (p.size, p.entry_price) for p in snap.positions} == {
        f"{p.coin}-USDT-PERP": (p.size, p.entry_price) for p in book.positions.values() if p.size}
    want = book.fills_since(since_ms)
    assert want and sorted(int(f.fill_id) for f in snap.fills) == sorted(f.fill_id for f in want)
    by_id = {f.fill_id: f for f in snap.fills}
    for fill in want:
        got = by_id[str(fill.fill_id)]
        assert (got.price, got.size, got.fee, got.realized_pnl, got.closing, got.ts) == (
            fill.price, fill.size, fill.fee, fill.realized_pnl, fill.closing, fill.ts_ms * 1000)
    assert any(f.closing == "liquidation" for f in snap.fills)
