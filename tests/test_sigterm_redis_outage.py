"""Redis gone (its server killed) while the whole stack runs and a client is subscribed to /ws; then
SIGTERM to every service: each survived the outage, and each exits cleanly within
shutdown_timeout_s, whatever its Redis backoff had grown to meanwhile."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import drop_schema
from tests.redis_server import RedisServer
from tests.stack import Stack

pytestmark = pytest.mark.fault
SERVICES = ("receivers", "processor", "general", "api")
SHUTDOWN_S = 4.0
OUTAGE_S = 10.0  # long enough for the Redis backoffs (capped at 30 s) to grow well past the budget


async def read_pushes(ws: aiohttp.ClientWebSocketResponse, pushed: list[Any]) -> None:
    """Keep reading, so the API's goodbye at shutdown is answered at once."""
    async for msg in ws:
        if msg.type == aiohttp.WSMsgType.TEXT:
            pushed.append(msg.json())


async def wait_for(check: Callable[[], Awaitable[bool]], seconds: float, what: str, stack: Stack) -> None:
    deadline = time.monotonic() + seconds
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"still not {what} after {seconds} s\n{stack.logs()}")
        await asyncio.sleep(0.2)


async def exit_times(stack: Stack, names: tuple[str, ...], limit_s: float) -> dict[str, float | None]:
    """SIGTERM to every service at once; seconds until each exited (None: still running at the limit)."""
    started = time.monotonic()
    for name in names:
        stack.procs[name].send_signal(signal.SIGTERM)
    exited: dict[str, float | None] = dict.fromkeys(names)
    while time.monotonic() - started < limit_s and any(v is None for v in exited.values()):
        for name in names:
            if exited[name] is None and stack.procs[name].poll() is not None:
                exited[name] = round(time.monotonic() - started, 2)
        await asyncio.sleep(0.02)  # the event loop stays free: the /ws client answers the goodbye
    return exited


async def test_sigterm_during_redis_outage_exits_within_shutdown_timeout(tag: str, tmp_path: Path) -> None:
    (tmp_path / "redis").mkdir()
    server = RedisServer(tmp_path / "redis")
    server.start()
    stack = Stack(tag, tmp_path, redis_url=server.url, shutdown_timeout_s=SHUTDOWN_S, backup_enabled=False,
                  simulator_symbols="BTCUSDT,ETHUSDT", binance_symbols="BTCUSDT,ETHUSDT")
    pushed: list[Any] = []
    try:
        stack.start("simulator")
        await asyncio.to_thread(stack.wait_for, "simulator", "/stats")
        for name in SERVICES:
            stack.start(name)
        await asyncio.to_thread(stack.wait_for, "api", "/health")
        async with aiohttp.ClientSession() as session:
            ws = await session.ws_connect(f"http://127.0.0.1:{stack.ports['api']}/ws")
            await ws.send_json({"op": "subscribe", "topic": "trades"})
            reading = asyncio.create_task(read_pushes(ws, pushed))

            async def all_running() -> bool:  # every heartbeat in, and trades pushed: Redis in use everywhere
                _, ready = await asyncio.to_thread(stack.get, "api", "/ready")
                beats = (ready or {}).get("services", {})
                return all(beats.get(name, {}).get("ok") for name in SERVICES) and any(
                    p.get("type") == "event" for p in pushed)

            await wait_for(all_running, 40, "running with trades pushed", stack)
            server.kill()
            await asyncio.sleep(OUTAGE_S)
            gone = {name: proc.returncode for name, proc in stack.procs.items() if proc.poll() is not None}
            assert not gone, f"services ended during the outage: {gone}\n{stack.logs()}"
            exited = await exit_times(stack, SERVICES, SHUTDOWN_S + 10)
            await ws.close()
            await reading
        late = {name: s for name, s in exited.items() if s is None or s > SHUTDOWN_S}
        assert not late, f"exit times {exited}, budget {SHUTDOWN_S} s\n{stack.logs()}"
        codes = {name: stack.procs[name].returncode for name in SERVICES}
        assert codes == dict.fromkeys(SERVICES, 0), (codes, stack.logs())
    finally:
        stack.stop_all()
        server.stop()
        await drop_schema(tag)
