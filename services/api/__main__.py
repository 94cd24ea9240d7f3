"""python -m services.api: health, readiness, metrics, REST and WebSocket push on one port."""
from __future__ import annotations

import asyncio

import redis.asyncio as aioredis
from aiohttp import web

from services.api.app import create_app
from shared.config import Settings
from shared.service import run


async def run_api(settings: Settings, _: aioredis.Redis, stop: asyncio.Event) -> None:
    runner = web.AppRunner(create_app(settings), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, settings.bind_host, settings.api_port).start()
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


if __name__ == "__main__":
    run("api", run_api, lambda _: None)
