"""python -m services.api                 health, readiness, metrics, REST and WebSocket push on one port
python -m services.api keys create --scope account:read [--name N] | list | revoke ID"""
from __future__ import annotations

import asyncio
import sys

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


def main(argv: list[str]) -> int:
    if argv and argv[0] == "keys":
        from services.api.keys_cli import main as keys_main

        return keys_main(argv[1:])
    if argv:
        print(__doc__, file=sys.stderr)
        return 2
    run("api", run_api, lambda _: None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
