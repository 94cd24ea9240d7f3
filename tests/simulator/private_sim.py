"""The simulator in-process with an account desk the test steps itself, and a private socket read the
way the receivers read one: a venue's Login sent on connect, each frame offered to the account's
Keepalive.reply first (OKX subscribes on its login ack), then parsed by the account's parser."""
from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from aiohttp.test_utils import TestServer

from services.receivers.private import AccountApi, Link, Login
from services.receivers.rest import VenueClient
from services.simulator.account_desk import AccountDesk, make_desk
from services.simulator.app import create_app
from shared.accounts import Account, Credentials
from shared.config import Settings
from shared.events import AnyEvent, now_us
from tests import wsclient


@dataclass
class Served:
    server: TestServer
    desk: AccountDesk
    settings: Settings

    def url(self, path: str, scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.server.port}{path}"

    @contextlib.asynccontextmanager
    async def link(self, venue: str, key: str, secret: str, passphrase: str = "") -> AsyncIterator[Link]:
        """A Link of account `venue`-main through the venue's REST prefix on the simulator."""
        async with VenueClient(venue, self.url(f"/{venue}"), 10**6, self.settings.rest) as client:
            credentials = Credentials(key, secret, passphrase)
            yield Link(Account(id=f"{venue}-main", exchange=venue), credentials, client)


@contextlib.asynccontextmanager
async def simulator(settings: Settings) -> AsyncIterator[Served]:
    desk = make_desk()  # the demo keys known, a wall clock
    desk.driving = False  # the test steps the books: desk.book.step_all()
    server = TestServer(create_app(settings, accounts=desk), host="127.0.0.1")
    await server.start_server()
    try:
        yield Served(server, desk, settings)
    finally:
        await server.close()


@dataclass
class PrivateFeed:
    """One private socket's events, as the account's parser made them."""

    api: AccountApi
    account: Account
    events: list[AnyEvent] = field(default_factory=list)
    frames: int = 0  # every frame read: acks included
    error: BaseException | None = None
    closed: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self, login: Login) -> None:
        parse, reply = self.api.parser(self.account), self.api.keepalive.reply
        try:
            async with wsclient.connect(login.url) as ws:
                for message in login.messages:
                    await ws.send(message)
                async for raw in ws:
                    self.frames += 1
                    answer = reply(raw) if reply is not None else None
                    if answer is not None:
                        await ws.send(answer)
                        continue
                    self.events += parse(raw, now_us())
        except Exception as exc:  # AuthRejected and the like: the test looks at it
            self.error = exc
        finally:
            self.closed.set()

    def of(self, kind: type) -> list:  # type: ignore[type-arg]
        return [e for e in self.events if isinstance(e, kind)]

    async def until(self, done: Callable[[PrivateFeed], bool], timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout):
            while not done(self):
                if self.closed.is_set():
                    raise AssertionError(f"socket closed first: {self.error!r}")
                await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def private_feed(api: AccountApi, link: Link, url: str) -> AsyncIterator[PrivateFeed]:
    feed = PrivateFeed(api, link.account)
    task = asyncio.create_task(feed.run(await api.login(link, url)))
    try:
        yield feed
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
