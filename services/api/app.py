"""The API: health, readiness, metrics and REST data, as one aiohttp application."""
from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web
from aiohttp.typedefs import Handler

from services.api import (
    accounts,
    analytics,
    dashboard,
    data,
    gaps,
    health,
    hedges,
    lighter,
    market,
    openapi,
    portfolio,
    push,
    ratelimit,
    rules,
    traders,
)
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
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error the API answers is JSON: {"error": "..."}."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.content_type == "application/json":
            raise
        # the headers stay: a 405's Allow, a 401's WWW-Authenticate
        headers = {name: value for name, value in exc.headers.items()
                   if name.lower() not in ("content-type", "content-length")}
        return web.json_response({"error": exc.reason}, status=exc.status, headers=headers)


def create_app(settings: Settings) -> web.Application:
    app = web.Application(middlewares=[json_errors])
    app[SETTINGS] = settings
    ratelimit.setup(app, openapi.private_paths())  # inside json_errors: its 429 is JSON already
    app.cleanup_ctx.append(_resources)
    app.cleanup_ctx.append(push.hub_context)  # after _resources: the hub reads with its Redis
    app.on_shutdown.append(push.close_sockets)
    app.router.add_get("/health", health.alive)
    app.router.add_get("/ready", health.ready)
    add_metrics_route(app)
    app.router.add_get("/api/v1/trades", data.trades)
    app.router.add_get("/api/v1/stats", data.stats)
    app.router.add_get("/api/v1/funding", market.funding)
    app.router.add_get("/api/v1/funding/spread", market.funding_spread)
    app.router.add_get("/api/v1/prices", market.prices)
    app.router.add_get("/api/v1/open-interest", market.open_interest)
    # multi/ before the next route, which would take "multi" for an exchange
    app.router.add_get("/api/v1/candles/multi/{symbol}/{interval}", analytics.multi_candles)
    app.router.add_get("/api/v1/candles/{exchange}/{symbol}/{interval}", analytics.candles)
    app.router.add_get("/api/v1/liquidations", analytics.liquidations)
    app.router.add_get("/api/v1/large-trades", analytics.large_trades)
    app.router.add_get("/api/v1/spikes", analytics.spikes)
    app.router.add_get("/api/v1/gaps", gaps.gaps)
    # leaderboard before {address}, which would take "leaderboard" for an address
    app.router.add_get("/api/v1/traders/leaderboard", traders.leaderboard)
    app.router.add_get("/api/v1/traders/{address}", traders.trader)
    app.router.add_get("/api/v1/traders/{address}/changes", traders.changes)
    app.router.add_get("/api/v1/traders/{address}/fills", traders.fills)
    app.router.add_get("/api/v1/traders/{address}/equity", traders.equity)
    accounts.add_routes(app)  # /api/v1/accounts/*: need an API key with account:read
    portfolio.add_routes(app)  # /api/v1/portfolio, /history: need an API key with account:read
    hedges.add_routes(app)  # /api/v1/hedges[/history]: account:read too
    lighter.add_routes(app)  # /api/v1/lighter/accounts/{index}: account:read too
    rules.add_routes(app)  # /api/v1/alerts, /api/v1/rules: any key reads, rules:write writes
    app.router.add_get("/ws", push.websocket)
    dashboard.add_routes(app)  # /: the live dashboard page and its two static files
    openapi.add_routes(app)  # /api/v1/openapi.json and /docs: the contract of every route above
    return app
