"""Bybit's private side against the simulator: signed REST refused with the venue's own retCodes,
login + a real socket + the parser seeing the desk's orders and fills, the snapshot equal to the
desk's books (a fill made while the socket was cut included)."""
from __future__ import annotations

import time
from collections.abc import Callable

import aiohttp
import pytest

from services.receivers.exchanges.bybit import account
from services.receivers.private import AuthRejected
from services.simulator.account_desk import DEMO_KEYS
from services.simulator.accounts import SimAccount
from shared.accounts import Credentials
from shared.config import Settings
from shared.events import AccountFill, AccountOrder, AccountSnapshot
from tests.simulator.private_sim import Served, private_feed, simulator

KEY, SECRET, _ = DEMO_KEYS["bybit"]
SYMBOLS = {"BTC": "BTC-USDT-PERP", "ETH": "ETH-USDT-PERP"}


def books(served: Served) -> SimAccount:
    return served.desk.book.account("bybit", KEY)


def step(served: Served, times: int) -> None:
    for _ in range(times):
        served.desk.book.step_all()


async def _get(served: Served, headers: dict[str, str], query: str = "accountType=UNIFIED") -> dict:  # type: ignore
    async with aiohttp.ClientSession() as http, http.get(
        served.url(f"/bybit/v5/account/wallet-balance?{query}"), headers=headers
    ) as response:
        assert response.status == 200  # v5 answers refusals in its envelope
        return await response.json()  # type: ignore[no-any-return]


async def test_signed_calls_are_checked_as_documented(make_settings: Callable[..., Settings]) -> None:
    async with simulator(make_settings()) as served:
        query = "accountType=UNIFIED"
        now = time.time_ns() // 1_000_000
        good = account.signed_headers(Credentials(KEY, SECRET), now, query)
        assert (await _get(served, good))["retCode"] == 0
        wrong_sign = account.signed_headers(Credentials(KEY, "not-the-secret"), now, query)
        assert (await _get(served, wrong_sign))["retCode"] == 10004
        unknown = account.signed_headers(Credentials("nobody", SECRET), now, query)
        assert (await _get(served, unknown))["retMsg"] == "API key is invalid."
        stale = account.signed_headers(Credentials(KEY, SECRET), now - 30_000, query)
        assert (await _get(served, stale))["retCode"] == 10002  # outside the 20 s recv window
        future = account.signed_headers(Credentials(KEY, SECRET), now + 5_000, query)
        assert (await _get(served, future))["retCode"] == 10002  # "timestamp < server_time + 1000"
        assert (await _get(served, good, "accountType=CONTRACT"))["retCode"] == 10004  # the query is signed


async def test_a_wrong_secret_or_auth_fail_is_auth_rejected(make_settings: Callable[..., Settings]) -> None:
    async with simulator(make_settings()) as served:
        async with served.link("bybit", KEY, "not-the-secret") as link:
            with pytest.raises(AuthRejected, match="bybit 10004 Error sign"):
                await account.snapshot(link, 0)
            async with private_feed(account.ACCOUNT, link, served.url("/v5/private", "ws")) as feed:
                await feed.until(lambda f: f.error is not None)
            assert isinstance(feed.error, AuthRejected) and "Error sign" in str(feed.error)
            assert "not-the-secret" not in str(feed.error)
        served.desk.modes["bybit"] = "auth_fail"
        async with served.link("bybit", KEY, SECRET) as link:
            with pytest.raises(AuthRejected, match="bybit 10003 API key is invalid."):
                await account.snapshot(link, 0)
            async with private_feed(account.ACCOUNT, link, served.url("/v5/private", "ws")) as feed:
                await feed.until(lambda f: f.error is not None)
            assert isinstance(feed.error, AuthRejected)


async def test_the_socket_carries_the_desks_orders_and_fills(make_settings: Callable[..., Settings]) -> None:
    async with simulator(make_settings()) as served, served.link("bybit", KEY, SECRET) as link:
        async with private_feed(account.ACCOUNT, link, served.url("/v5/private", "ws")) as feed:
            await feed.until(lambda f: f.frames >= 2)  # the auth's and the subscription's acks
            step(served, 40)
            sim = books(served)
            assert sim.fills, "forty steps fill something"
            fill_ids, order_ids = {str(x.fill_id) for x in sim.fills}, {str(i) for i in sim.orders}
            await feed.until(lambda f: {x.fill_id for x in f.of(AccountFill)} == fill_ids)
            await feed.until(lambda f: {o.order_id for o in f.of(AccountOrder)} == order_ids)
        for fill in feed.of(AccountFill):
            done = next(f for f in sim.fills if str(f.fill_id) == fill.fill_id)
            assert (fill.account, fill.symbol, fill.side, fill.price, fill.size, fill.fee) == (
                "bybit-main", SYMBOLS[done.coin], done.side, done.price, done.size, done.fee)
        last = {o.order_id: o for o in feed.of(AccountOrder)}  # each order's latest update
        for order_id, order in sim.orders.items():
            assert (last[str(order_id)].status, last[str(order_id)].filled) == (order.status, order.filled)


async def test_the_snapshot_is_the_desks_books(make_settings: Callable[..., Settings]) -> None:
    async with simulator(make_settings()) as served, served.link("bybit", KEY, SECRET) as link:
        async with private_feed(account.ACCOUNT, link, served.url("/v5/private", "ws")) as feed:
            await feed.until(lambda f: f.frames >= 2)
            assert len(served.desk.sockets[("bybit", KEY)]) == 1
            assert await served.desk.cut("bybit") == 1  # mode cut: the socket is closed
            await feed.until(lambda f: f.closed.is_set())
        step(served, 60)  # fills made while cut
        served.desk.book.account("bybit", KEY).liquidate("BTC", served.desk.book.clock.ms())
        snapshot = await account.snapshot(link, 0)
    assert_books(snapshot, books(served))


def assert_books(snapshot: AccountSnapshot, sim: SimAccount) -> None:
    assert (snapshot.account, snapshot.exchange) == ("bybit-main", "bybit")
    assert snapshot.fills, "sixty steps trade"
    assert {(o.order_id, o.status, o.filled, o.size) for o in snapshot.open_orders} == {
        (str(o.order_id), o.status, o.filled, o.size) for o in sim.open_orders()}
    assert {(f.fill_id, f.size, f.price, f.closing) for f in snapshot.fills} == {
        (str(f.fill_id), f.size, f.price, f.closing) for f in sim.fills}
    assert [f.closing for f in snapshot.fills if f.closing] == ["liquidation"]  # the desk's liquidate()
    assert {(p.symbol, p.size, p.entry_price) for p in snapshot.positions} == {
        (SYMBOLS[p.coin], p.size, p.entry_price) for p in sim.positions.values() if p.size}
    [usdt] = snapshot.balances
    assert (usdt.asset, usdt.total) == ("USDT", sim.balance)
