"""The simulator in-process for receiver tests: a server on 127.0.0.1, its control API, and feeds
built from settings that point every venue at it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer

from services.receivers.connection import FeedConnection
from services.receivers.feeds import BUILDERS, venue_facts
from services.receivers.venue import Feed
from services.simulator.app import STATE, create_app, venue_urls
from services.simulator.venue import VenueState
from shared.config import Settings
from shared.events import Event

SettingsFactory = Callable[..., Settings]
IDLE_S = 1.0  # short idle timeouts keep the fault tests fast


class FakeProducer:
    """Where Redis is irrelevant: the events a connection published, in order."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def publish(self, event: Event) -> bool:
        self.events.append(event)
        return True


class Sim:
    """A running simulator: its base url, per-venue state and POST /control."""

    def __init__(self, server: TestServer, make_settings: SettingsFactory) -> None:
        self.server = server
        self.make_settings = make_settings
        self.base = f"ws://127.0.0.1:{server.port}"

    def venue(self, name: str) -> VenueState:
        return self.server.app[STATE].venues[name]

    async def control(self, **query: str) -> dict[str, Any]:
        async with aiohttp.ClientSession() as http:
            async with http.post(f"http://127.0.0.1:{self.server.port}/control", params=query) as response:
                assert response.status == 200, await response.text()
                body: dict[str, Any] = await response.json()
                return body

    def settings(self, **overrides: Any) -> Settings:
        """Receiver settings with every venue at this simulator and short idle timeouts."""
        base: dict[str, Any] = {
            "venue_urls": venue_urls(self.base),
            "ws_idle_timeout_s": IDLE_S,
            "ws_idle_timeout_by_channel": {},
        }
        return self.make_settings(**(base | overrides))

    def feed(self, venue: str, **overrides: Any) -> Feed:
        """The first socket of a venue, as the receivers would open it."""
        settings = self.settings(**overrides)
        return BUILDERS[venue](settings, venue_facts(settings))[0]


@asynccontextmanager
async def simulator(make_settings: SettingsFactory, **overrides: Any) -> AsyncIterator[Sim]:
    settings = make_settings(
        **({"simulator_rate": 50.0, "simulator_symbols": ["BTCUSDT", "ETHUSDT"]} | overrides)
    )
    server = TestServer(create_app(settings), host="127.0.0.1")
    await server.start_server()
    try:
        yield Sim(server, make_settings)
    finally:
        await server.close()


@asynccontextmanager
async def running(*connections: FeedConnection) -> AsyncIterator[asyncio.Event]:
    """Connections running until the block ends; they must stop promptly."""
    stop = asyncio.Event()
    tasks = [asyncio.create_task(c.run(stop)) for c in connections]
    try:
        yield stop
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 5)


async def wait_until(condition: Callable[[], bool], timeout: float = 5.0, what: str = "") -> float:
    """Poll until condition() holds; the seconds it took. Fails with `what` after timeout."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not within {timeout}s: {what}")
        await asyncio.sleep(0.01)
    return time.monotonic() - started
