"""The Redis Cluster tests run on uvloop, as the services do: a connection closed under a command
fails differently there (shared/redis_connect.py). The cluster itself: tests/conftest.py."""
from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
import uvloop


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item
                                  ) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    return {"uvloop": uvloop.new_event_loop}
