"""/health says the process answers; /ready says whether the whole platform works."""
from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from redis.exceptions import RedisError

from services.api.keys import POOL, REDIS, SETTINGS
from shared.constants import SERVICES
from shared.db import CONNECTION_ERRORS
from shared.events import now_us
from shared.feed_status import feed_report, read_feed_statuses
from shared.health import read_heartbeats
from shared.monitor import lagging, stream_report
from shared.poll_status import age_s, read_polls

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


async def _pollers(request: web.Request) -> dict[str, Any]:
    """Each REST poller's last outcome per venue: {function: {venue: {ok, age_s, error, ...}}}.

    Shown, never counted against readiness: a venue's outage is the venue's, and the platform
    keeps serving every other venue (docs/pollers.md)."""
    try:
        prefix = request.app[SETTINGS].streams.prefix
        statuses = await asyncio.wait_for(read_polls(request.app[REDIS], prefix), CHECK_TIMEOUT_S)
    except (RedisError, OSError, TimeoutError) as exc:
        return {"error": type(exc).__name__}
    now = now_us()
    pollers: dict[str, dict[str, Any]] = {}  # function -> venue -> status
    for s in statuses:
        pollers.setdefault(s.function, {})[s.venue] = {
            "ok": s.ok, "age_s": age_s(s, now), "error": s.error or None, "events": s.events,
            "duration_ms": s.duration_ms,
            "last_ok_age_s": None if s.last_ok is None else round((now - s.last_ok) / 1e6, 3),
        }
    return pollers


async def _streams(request: web.Request) -> dict[str, Any]:
    """Per stream: length, cap, DLQ depth, per group lag/pending/trimmed_unread. Not ok when a group's
    backlog reached the share of the cap where producers shed; a DLQ is shown, never 503 (docs/streams.md)."""
    try:
        report = await asyncio.wait_for(stream_report(request.app[REDIS], request.app[SETTINGS]),
                                        CHECK_TIMEOUT_S)
    except (RedisError, OSError, TimeoutError) as exc:
        return {"ok": False, "error": type(exc).__name__, "problems": [], "by_stream": {}}
    problems = lagging(report, request.app[SETTINGS])
    return {"ok": not problems, "problems": problems, "by_stream": report,
            "dlq_total": sum(s["dlq"] for s in report.values())}


async def _feeds(request: web.Request) -> dict[str, Any]:
    """Each websocket feed's state as its receivers process last wrote it (shared/feed_status.py)."""
    settings = request.app[SETTINGS]
    try:
        statuses = await asyncio.wait_for(read_feed_statuses(request.app[REDIS], settings.streams.prefix),
                                          CHECK_TIMEOUT_S)
    except (RedisError, OSError, TimeoutError) as exc:
        return {"error": type(exc).__name__}
    return feed_report(statuses, now_us(), settings.websockets.status_interval_s)


async def ready(request: web.Request) -> web.Response:
    """200 when Redis, PostgreSQL, every service's heartbeat and the streams' lag are fine; 503 otherwise."""
    settings = request.app[SETTINGS]
    redis_check, pg_check = await asyncio.gather(_redis_ok(request), _postgres_ok(request))
    services: dict[str, Any] = {name: {"ok": False, "error": "no heartbeat"} for name in SERVICES}
    if redis_check["ok"]:
        now = now_us()
        for beat in await read_heartbeats(request.app[REDIS], settings):
            services[beat.service] = {
                "ok": True, "instance": beat.instance, "age_s": round((now - beat.ts) / 1e6, 3),
                "uptime_s": round((now - beat.started_ts) / 1e6, 1),
            }
    streams = await _streams(request) if redis_check["ok"] else {"ok": False, "problems": [], "by_stream": {}}
    ok = redis_check["ok"] and pg_check["ok"] and all(s["ok"] for s in services.values()) and streams["ok"]
    body = {"status": "ready" if ok else "not ready", "redis": redis_check, "postgres": pg_check,
            "services": services, "streams": streams}
    body["pollers"] = await _pollers(request) if redis_check["ok"] else {}  # informative only, see _pollers
    body["feeds"] = await _feeds(request) if redis_check["ok"] else {}  # informative only, see feed_report
    return web.json_response(body, status=200 if ok else 503)
