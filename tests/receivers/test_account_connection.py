"""An account's private socket against a small venue of its own (a real websocket server and a
private side that speaks a toy protocol), so the connection's rules are seen apart from any venue's:
a refused login backs off and is alerted once per streak, /ready says "auth failed", an expired
login reconnects at once, and a snapshot follows every connect and every reconcile_s."""
from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from services.receivers.accounts.connection import FILLS_MARGIN_US, AccountConnection
from services.receivers.private import AccountApi, AuthRejected, Link, Login, SessionExpired
from services.receivers.venue import Message, Parse
from shared.accounts import Account, AccountAlerts
from shared.config import Settings
from shared.events import AccountFill, AccountSnapshot, Alert, AnyEvent, now_us
from shared.feed_status import feed_report
from tests.receivers.sim import FakeProducer, wait_until

ACCOUNT = Account(id="toy-main", exchange="toy", alerts=AccountAlerts())


class ToyVenue:
    """A venue whose socket greets with the login's verdict and then sends what a test pushes."""

    def __init__(self) -> None:
        self.refuse = False
        self.logins = 0
        self.sockets: list[web.WebSocketResponse] = []

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.sockets.append(ws)
        async for message in ws:
            if message.type == aiohttp.WSMsgType.TEXT and message.data == "auth":
                await ws.send_str(json.dumps({"auth": "refused" if self.refuse else "ok"}))
        return ws

    async def push(self, frame: dict[str, Any]) -> None:
        for ws in [s for s in self.sockets if not s.closed]:
            await ws.send_str(json.dumps(frame))


def toy_api(venue: ToyVenue, snapshots: list[int]) -> AccountApi:
    async def login(link: Link, base_url: str) -> Login:
        venue.logins += 1
        return Login(url=base_url, messages=["auth"])

    def parser(account: Account) -> Parse:
        def parse(raw: bytes | str, recv_ts: int) -> list[AnyEvent]:
            frame = json.loads(raw)
            if frame.get("auth") == "refused":
                raise AuthRejected("toy 401 key refused")
            if frame.get("expired"):
                raise SessionExpired("toy login expired")
            if "fill" in frame:
                return [AccountFill(account=account.id, exchange="toy", symbol="BTC-USDT-PERP", order_id="1",
                                    fill_id=str(frame["fill"]), side="buy", price=Decimal("1.5"),
                                    size=Decimal(1), fee=Decimal(0), fee_asset="USDT", ts=recv_ts,
                                    recv_ts=recv_ts)]
            return []
        return parse

    async def snapshot(link: Link, since_us: int) -> AccountSnapshot:
        if venue.refuse:  # the same key signs the REST calls
            raise AuthRejected("toy 401 key refused")
        snapshots.append(since_us)
        now = now_us()
        return AccountSnapshot(account=link.account.id, exchange="toy", reason="", open_orders=[],
                               balances=[], positions=[], fills=[], fills_since=since_us, ts=now, recv_ts=now)

    async def renew(link: Link, login: Login) -> Sequence[Message]:
        return []

    return AccountApi(url_key="toy_private", login=login, parser=parser, snapshot=snapshot, renew=renew,
                      renew_s=3600, idle_timeout_s=30)


@asynccontextmanager
async def toy_account(make_settings: Callable[..., Settings], **settings: Any,
                      ) -> AsyncIterator[tuple[ToyVenue, AccountConnection, FakeProducer, list[int]]]:
    venue, snapshots, producer = ToyVenue(), [], FakeProducer()
    app = web.Application()
    app.router.add_get("/private", venue.handle)
    server = TestServer(app)
    await server.start_server()
    part = make_settings(**settings).accounts

    async def no_cursor() -> int | None:
        return None

    connection = AccountConnection(Link(ACCOUNT, None, None), toy_api(venue, snapshots),  # type: ignore[arg-type]
                                   str(server.make_url("/private")).replace("http", "ws"), producer,  # type: ignore[arg-type]
                                   part, no_cursor)
    stop = asyncio.Event()
    task = asyncio.create_task(connection.run_all(stop))
    try:
        yield venue, connection, producer, snapshots
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)
        for ws in venue.sockets:
            await ws.close()
        await server.close()


def alerts(producer: FakeProducer) -> list[Alert]:
    return [e for e in producer.events if isinstance(e, Alert)]


async def test_a_refused_login_backs_off_says_auth_failed_and_alerts_once(
        make_settings: Callable[..., Settings]) -> None:
    async with toy_account(make_settings, account_auth_backoff_max_s=1.0) as (venue, conn, producer, _):
        venue.refuse = True
        await wait_until(lambda: venue.logins >= 1, what="first login")
        await asyncio.sleep(3.0)
        refused_logins = venue.logins
        # a backoff from 0.5 s capped at 1 s, fully jittered (each wait uniform in [0, ceiling]): about
        # six in 3 s, more by chance, never a tight loop (hundreds)
        assert 2 <= refused_logins <= 15, refused_logins
        status = conn.status()
        assert status.reason == "auth_failed" and status.failures >= 2, status
        report = feed_report([status], now_us(), 5.0)
        assert report["by_feed"]["toy:account:toy-main"]["state"] == "auth failed"  # type: ignore[index]
        assert len(alerts(producer)) == 1, alerts(producer)
        assert "key refused" in alerts(producer)[0].text
        venue.refuse = False  # the user fixed the key: the socket comes back and the state is whole
        await wait_until(lambda: conn.snapshots >= 1 and conn.status().connected, 5, "reconnected")
        await wait_until(lambda: conn.status().failures == 0, 5, "failures cleared by the snapshot")
        venue.refuse = True  # a new streak: a new alert
        await venue.push({"auth": "refused"})
        await wait_until(lambda: len(alerts(producer)) == 2, 5, "a second streak alerted")


async def test_an_expired_login_reconnects_at_once_and_every_connect_is_reconciled(
        make_settings: Callable[..., Settings]) -> None:
    async with toy_account(make_settings, account_reconcile_s=0.5) as (venue, conn, producer, snapshots):
        await wait_until(lambda: conn.snapshots >= 1, what="the connect snapshot")
        await venue.push({"fill": 7})
        await wait_until(lambda: any(isinstance(e, AccountFill) for e in producer.events), what="a fill")
        await venue.push({"expired": True})
        await wait_until(lambda: venue.logins == 2 and conn.status().connected, 3, "a fresh login")
        assert conn.status().reason == "expired" and conn.status().failures == 0
        await wait_until(lambda: len(snapshots) >= 4, 5, "scheduled snapshots too")
    taken = [e for e in producer.events if isinstance(e, AccountSnapshot)]
    assert [s.reason for s in taken[:1]] == ["connect"]
    assert {"connect", "scheduled"} <= {s.reason for s in taken}
    # each snapshot asks for fills from the one before it (less a margin), never from later
    for before, after in zip(taken, snapshots[1:], strict=False):
        assert after == before.ts - FILLS_MARGIN_US
    assert not alerts(producer)
