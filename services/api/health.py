"""/health says the process answers; /ready says whether the whole platform works."""
from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from redis.exceptions import RedisError

from shared.constants import SERVICES
from services.api.keys import POOL, REDIS, SETTINGS
from shared.db import CONNECTION_ERRORS
from shared.events import now_us
from shared.health import read_heartbeats

CHECK_TIMEOUT_S = 2.0


async def alive(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _redis_ok(request: web.Request) -> dict[str, Any]:
    try:
        await asyncio.wait_for(request.app[REDIS].ping(), CHECK_TIMEOUT_S)
        return {"ok": True}
    except (RedisError, OSError, TimeoutError) as exc:
        return {"ok": False, "error": type(exc).__name__}


async def _postgres_ok(request: web.Request) -> dict[str, Any]:
    try:
        await asyncio.wait_for(request.app[POOL].fetchval("SELECT 1"), CHECK_TIMEOUT_S)
        return {"ok": True}
    except CONNECTION_ERRORS as exc:
        return {"ok": False, "error": type(exc).__name__}


async def ready(request: web.Request) -> web.Response:
    """200 when Redis, PostgreSQL and every service's heartbeat are there; 503 otherwise."""
    settings = request.app[SETTINGS]
    redis_check, pg_check = await asyncio.gather(_redis_ok(request), _postgres_ok(request))
    services: dict[str, Any] = {name: {"ok": False, "error": "no heartbeat"} for name in SERVICES}
    if redis_check["ok"]:
        now = now_us()
        for beat in await read_heartbeats(request.app[REDIS], settings):
            services[beat.service] = {"ok": True, "instance": beat.instance, "age_s": round((now - beat.ts) / 1e6, 3),
                                      "uptime_s": round((now - beat.started_ts) / 1e6, 1)}
    ok = redis_check["ok"] and pg_check["ok"] and all(s["ok"] for s in services.values())
    body = {"status": "ready" if ok else "not ready", "redis": redis_check, "postgres": pg_check, "services": services}
    return web.json_response(body, status=200 if ok else 503)
