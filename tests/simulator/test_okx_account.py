"""OKX's private side against the simulator: signed REST refused with HTTP 401 and the venue's codes,
login + a real socket (subscribing on the login's ack) + the parser seeing the desk's orders and
fills in base currency, the snapshot equal to the desk's books (a liquidation made while the
socket was cut included, with the negative tradeId trade/fills gives it)."""
from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal

import aiohttp
import pytest

from services.receivers.exchanges.okx import account
from services.receivers.private import AuthRejected
from services.simulator.account_desk import DEMO_KEYS
from services.simulator.accounts import SimAccount
from shared.accounts import Credentials
from shared.config import Settings
from shared.events import AccountFill, AccountOrder, AccountSnapshot, Balance, Position
from tests.simulator.private_sim import Served, private_feed, simulator

KEY, SECRET, PASSPHRASE = DEMO_KEYS["okx"]
SYMBOLS = {"BTC": "BTC-USDT-PERP", "ETH": "ETH-USDT-PERP"}
PATH = "/api/v5/account/balance"


def books(served: Served) -> SimAccount:
    return served.desk.book.account("okx", KEY)


def step(served: Served, times: int) -> None:
    for _ in range(times):
        served.desk.book.step_all()


async def _get(served: Served, headers: dict[str, str], path: str = PATH) -> tuple[int, dict]:  # type: ignore
    url = served.url(f"/okx{path}")
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as answer:
        return answer.status, await answer.json()


def _headers(secret: str = SECRET, key: str = KEY, passphrase: str = PASSPHRASE, skew_s: float = 0,
             path: str = PATH) -> dict[str, str]:
    stamp = account.iso_timestamp(int((time.time() + skew_s) * 1_000_000))
    return account.signed_headers(Credentials(key, secret, passphrase), stamp, "GET", path)


async def test_signed_calls_are_checked_as_documented(make_settings: Callable[..., Settings]) -> None:
    async with simulator(make_settings()) as served:
        status, answer = await _get(served, _headers())
        assert (status, answer["code"]) == (200, "0")
        assert await _get(served, _headers(secret="not-the-secret")) == (
            401, {"msg": "Invalid Sign", "code": "50113"})
        assert (await _get(served, _headers(key="nobody")))[1]["code"] == "50111"
        assert (await _get(served, _headers(passphrase="wrong")))[1]["code"] == "50105"
        assert (await _get(served, _headers(skew_s=-40)))[1]["code"] == "50102"  # 30 s, then expired
        assert (await _get(served, {**_headers(), "OK-ACCESS-TIMESTAMP": "yesterday"}))[1]["code"] == "50112"
        assert (await _get(served, {k: v for k, v in _headers().items() if k != "OK-ACCESS-SIGN"}))[1][
            "code"] == "50106"
        other = "/api/v5/account/positions"  # the requestPath is signed
        assert (await _get(served, _headers(), other))[1]["code"] == "50113"


async def test_a_wrong_secret_or_auth_fail_is_auth_rejected(make_settings: Callable[..., Settings]) -> None:
    async with simulator(make_settings()) as served:
        async with served.link("okx", KEY, "not-the-secret", PASSPHRASE) as link:
            with pytest.raises(AuthRejected, match="okx 50113 Invalid Sign"):
                await account.snapshot(link, 0)
            async with private_feed(account.ACCOUNT, link, served.url("/ws/v5/private", "ws")) as feed:
                await feed.until(lambda f: f.error is not None)
            assert isinstance(feed.error, AuthRejected) and str(feed.error) == "okx 60007 Invalid sign"
        served.desk.modes["okx"] = "auth_fail"
        async with served.link("okx", KEY, SECRET, PASSPHRASE) as link:
            with pytest.raises(AuthRejected, match="okx 50111 Invalid OK-ACCESS-KEY"):
                await account.snapshot(link, 0)
            async with private_feed(account.ACCOUNT, link, served.url("/ws/v5/private", "ws")) as feed:
                await feed.until(lambda f: f.error is not None)
            assert str(feed.error) == "okx 60005 Invalid apiKey"


async def test_the_socket_carries_the_desks_orders_and_fills(make_settings: Callable[..., Settings]) -> None:
    async with simulator(make_settings()) as served, served.link("okx", KEY, SECRET, PASSPHRASE) as link:
        async with private_feed(account.ACCOUNT, link, served.url("/ws/v5/private", "ws")) as feed:
            # the login's ack (answered with the subscription), three subscription acks, and the
            # positions and account channels' first snapshots
            await feed.until(lambda f: f.frames >= 6)
            assert [b.asset for b in feed.of(Balance)] == ["USDT"]
            step(served, 40)
            sim = books(served)
            fill_ids = {f"{x.coin}-USDT-SWAP:{x.fill_id}" for x in sim.fills}
            order_ids = {str(i) for i in sim.orders}
            assert fill_ids, "forty steps fill something"
            await feed.until(lambda f: {x.fill_id for x in f.of(AccountFill)} == fill_ids)
            await feed.until(lambda f: {o.order_id for o in f.of(AccountOrder)} == order_ids)
            await feed.until(lambda f: _last_positions(f.of(Position)) == _sim_positions(sim))
        for fill in feed.of(AccountFill):
            done = next(f for f in sim.fills if fill.fill_id.endswith(f":{f.fill_id}"))
            got = (fill.account, fill.symbol, fill.side, fill.price, fill.size, fill.fee, fill.realized_pnl)
            assert got == ("okx-main", SYMBOLS[done.coin], done.side, done.price, done.size, done.fee,
                           done.realized_pnl)
        last = {o.order_id: o for o in feed.of(AccountOrder)}  # each order's latest update
        for order_id, order in sim.orders.items():
            assert (last[str(order_id)].status, last[str(order_id)].filled, last[str(order_id)].size) == (
                order.status, order.filled, order.size)


def _last_positions(positions: list[Position]) -> dict[str, Decimal]:
    last = {p.symbol: p.size for p in positions}  # each symbol's latest
    return {symbol: size for symbol, size in last.items() if size}


def _sim_positions(sim: SimAccount) -> dict[str, Decimal]:
    return {SYMBOLS[p.coin]: p.size for p in sim.positions.values() if p.size}


async def test_the_snapshot_is_the_desks_books(make_settings: Callable[..., Settings]) -> None:
    async with simulator(make_settings()) as served, served.link("okx", KEY, SECRET, PASSPHRASE) as link:
        async with private_feed(account.ACCOUNT, link, served.url("/ws/v5/private", "ws")) as feed:
            await feed.until(lambda f: f.frames >= 6)
            assert await served.desk.cut("okx") == 1  # mode cut: the socket is closed
            await feed.until(lambda f: f.closed.is_set())
        step(served, 60)  # fills made while cut
        books(served).liquidate("BTC", served.desk.book.clock.ms())
        snapshot = await account.snapshot(link, 0)
    assert_books(snapshot, books(served))


def assert_books(snapshot: AccountSnapshot, sim: SimAccount) -> None:
    assert (snapshot.account, snapshot.exchange) == ("okx-main", "okx")
    assert snapshot.fills, "sixty steps trade"
    assert {(o.order_id, o.status, o.filled, o.size) for o in snapshot.open_orders} == {
        (str(o.order_id), o.status, o.filled, o.size) for o in sim.open_orders()}
    trade_ids = {f.fill_id: f"-{f.fill_id}" if f.closing else str(f.fill_id) for f in sim.fills}
    assert {(f.fill_id, f.size, f.price, f.fee, f.closing) for f in snapshot.fills} == {
        (f"{f.coin}-USDT-SWAP:{trade_ids[f.fill_id]}", f.size, f.price, f.fee, f.closing) for f in sim.fills}
    assert [f.closing for f in snapshot.fills if f.closing] == ["liquidation"]  # the desk's liquidate()
    assert {(p.symbol, p.size, p.entry_price) for p in snapshot.positions} == {
        (SYMBOLS[p.coin], p.size, p.entry_price) for p in sim.positions.values() if p.size}
    [usdt] = snapshot.balances
    assert (usdt.asset, usdt.total) == ("USDT", sim.balance)
