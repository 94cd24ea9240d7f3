"""The API: health, readiness, metrics and REST data, as one aiohttp application."""
from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from services.api import data, health
from services.api.keys import POOL, REDIS, SETTINGS
from shared.config import Settings
from shared.db import create_pool
from shared.metrics import add_metrics_route
from shared.service import redis_client


async def _resources(app: web.Application) -> AsyncIterator[None]:
    """Redis and PostgreSQL open with the app and close with it."""
    settings = app[SETTINGS]
    app[REDIS] = redis_client(settings)
    app[POOL] = await create_pool(settings, min_size=0)
    yield
    await app[POOL].close()
    await app[REDIS].aclose()


@web.middleware
async def json_errors(request: web.Request, handler):  # type: ignore[no-untyped-def]
    """Every error the API answers is JSON: {"error": "..."}."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.content_type == "application/json":
            raise
        return web.json_response({"error": exc.reason}, status=exc.status)


def create_app(settings: Settings) -> web.Application:
    app = web.Application(middlewares=[json_errors])
    app[SETTINGS] = settings
    app.cleanup_ctx.append(_resources)
    app.router.add_get("/health", health.alive)
    app.router.add_get("/ready", health.ready)
    add_metrics_route(app)
    app.router.add_get("/api/v1/trades", data.trades)
    app.router.add_get("/api/v1/stats", data.stats)
    return app
