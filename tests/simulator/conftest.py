"""The simulator in-process with a Hyperliquid trader population of the test's own, on a frozen
clock the test moves: POST /hyperliquid/info as a client, /stats, and the population's truth."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import aiohttp
import msgspec
import pytest
from aiohttp.test_utils import TestServer

from services.simulator.app import create_app
from services.simulator.clock import SimClock
from services.simulator.population import Population
from shared.config import Settings

START_MS = 1_800_000_000_000  # a fixed simulated start: the same seed gives the same answers
COINS = ("BTC", "ETH", "SOL")
PRICES = {"BTC": Decimal(65000), "ETH": Decimal(3200), "SOL": Decimal(150)}


def population(size: int = 50, seed: int = 1, action_s: float = 1800.0, coins: tuple[str, ...] = COINS,
               check_s: float = 60.0) -> Population:
    """A population on a frozen clock at START_MS: time moves only by advance()."""
    clock = SimClock(speed=0, start_ms=START_MS)
    return Population(seed, size, coins, PRICES, clock=clock, action_s=action_s, check_s=check_s)


class Info:
    """A client of the running simulator's info endpoint."""

    def __init__(self, server: TestServer, http: aiohttp.ClientSession, traders: Population) -> None:
        self.server = server
        self.http = http
        self.traders = traders
        self.url = f"http://127.0.0.1:{server.port}"

    async def post(self, body: dict[str, Any], client: str | None = None) -> tuple[int, Any]:
        """(status, decoded JSON or text) of one info request; `client` goes in X-Client."""
        headers = {"X-Client": client} if client else {}
        async with self.http.post(f"{self.url}/hyperliquid/info", json=body, headers=headers) as response:
            raw = await response.read()
            try:
                return response.status, msgspec.json.decode(raw)
            except msgspec.DecodeError:
                return response.status, raw.decode()

    async def ok(self, body: dict[str, Any], client: str | None = None) -> Any:
        status, answer = await self.post(body, client)
        assert status == 200, answer
        return answer

    async def stats(self) -> dict[str, Any]:
        async with self.http.get(f"{self.url}/stats") as response:
            assert response.status == 200
            body: dict[str, Any] = await response.json()
            return body


Serve = Callable[[Population], Any]


@pytest.fixture
async def serve(make_settings: Callable[..., Settings]) -> AsyncIterator[Callable[[Population], Any]]:
    """serve(population) -> Info: the whole simulator with that population behind /hyperliquid/info."""
    servers: list[TestServer] = []
    http = aiohttp.ClientSession()

    async def start(traders: Population) -> Info:
        server = TestServer(create_app(make_settings(), traders), host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        return Info(server, http, traders)

    yield start
    await http.close()
    for server in servers:
        await server.close()


def same_shape(ours: Any, documented: Any, path: str = "$") -> None:
    """`ours` has the documented shape: the same keys (documented optional keys may be missing), the
    same JSON types at the leaves (a documented string is a decimal string here when it is one)."""
    if isinstance(documented, dict):
        assert isinstance(ours, dict), f"{path}: {ours!r} is not an object"
        optional = {"builderFee", "rawUsd"}  # builderFee: "not present if 0"; rawUsd: isolated only
        assert set(documented) - optional <= set(ours), f"{path}: missing {set(documented) - set(ours)}"
        for key in set(documented) & set(ours):
            same_shape(ours[key], documented[key], f"{path}.{key}")
    elif isinstance(documented, list):
        assert isinstance(ours, list), f"{path}: {ours!r} is not an array"
        records = all(isinstance(item, dict) for item in documented)  # records: like the first one
        for number, item in enumerate(ours):
            model = documented[0] if records else documented[min(number, len(documented) - 1)]
            same_shape(item, model, f"{path}[{number}]")
    elif isinstance(documented, str) and _decimal(documented):
        assert isinstance(ours, str) and _decimal(ours), f"{path}: {ours!r} is not a decimal string"
    else:
        assert type(ours) is type(documented), f"{path}: {ours!r} is not a {type(documented).__name__}"


def _decimal(text: str) -> bool:
    try:
        Decimal(text)
    except ArithmeticError:
        return False
    return "e" not in text.lower() and "." in text
