"""What every service does the same way: settings once, JSON logs, uvloop, a metrics
port, a heartbeat, and a graceful stop on SIGTERM/SIGINT."""
from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import redis.asyncio as aioredis
import uvloop

from shared.config import ConfigError, Settings, load_settings, public_view
from shared.db import DB_ERRORS
from shared.health import beat_forever
from shared.logs import setup_logging
from shared.metrics import start_metrics_server
from shared.redis_connect import cluster_target, redis_client

log = logging.getLogger(__name__)
__all__ = ["load_or_exit", "redis_client", "run", "run_command", "serve"]
Main = Callable[[Settings, aioredis.Redis, asyncio.Event], Awaitable[None]]


def load_or_exit(service: str) -> Settings:
    try:
        settings = load_settings()
        cluster_target(settings.redis_url, settings.redis_cluster)  # a cluster URL that names no nodes
    except ConfigError as exc:
        print(f"tradehub {service}: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    except ValueError as exc:
        print(f"tradehub {service}: configuration error: TRADEHUB_REDIS_URL: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    setup_logging(service, settings.log_level)
    return settings


def run_command(command: Callable[[], Coroutine[Any, Any, int]],
                failures: tuple[type[BaseException], ...] = ()) -> int:
    """A command line's exit code: its own, 2 on a configuration error, 1 when PostgreSQL, the network
    or one of `failures` fails it, each said on stderr. `command` loads the settings itself, so a
    bad setting is a configuration error too."""
    try:
        return asyncio.run(command())
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    except (*DB_ERRORS, *failures) as exc:
        print(f"error: {exc!r}", file=sys.stderr)
        return 1


async def serve(service: str, settings: Settings, main: Main, metrics_port: int | None) -> None:
    """Run `main` with a heartbeat and a metrics server until SIGTERM, then stop gracefully."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("starting", extra={"settings": str(public_view(settings))})
    redis = redis_client(settings)
    runner = await start_metrics_server(settings.bind_host, metrics_port) if metrics_port else None
    try:
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(beat_forever(redis, settings, service, stop))
            tasks.create_task(_stop_when_done(main(settings, redis, stop), stop))
    finally:
        if runner:
            await runner.cleanup()
        await redis.aclose()
        log.info("stopped")


async def _stop_when_done(work: Awaitable[None], stop: asyncio.Event) -> None:
    """If the main work ends (or fails), stop the heartbeat too."""
    try:
        await work
    finally:
        stop.set()


def run(service: str, main: Main, metrics_port: Callable[[Settings], int | None]) -> None:
    """Entry point of `python -m services.<name>`."""
    settings = load_or_exit(service)
    uvloop.run(serve(service, settings, main, metrics_port(settings)))
