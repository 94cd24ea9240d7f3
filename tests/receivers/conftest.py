"""Fixtures of the receiver tests that talk to the simulator's REST venues."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
from aiohttp.test_utils import TestServer

from services.simulator.app import create_app
from shared.config import Settings


@pytest.fixture
async def simulator(make_settings: Callable[..., Settings]) -> AsyncIterator[TestServer]:
    """The whole simulator on a free port (its REST venues under /<venue>)."""
    server = TestServer(create_app(make_settings()))
    await server.start_server()
    yield server
    await server.close()
