"""/health says the process answers; /ready says whether the whole platform works."""
from __future__ import annotations

import asyncio
import json
from typing import Any, cast

from aiohttp import web
from redis.exceptions import RedisError

from services.api.keys import POOL, REDIS, SETTINGS
from shared.constants import SERVICES, portfolio_status_key, tracker_status_key
from shared.db import CONNECTION_ERRORS
from shared.events import now_us
from shared.feed_status import feed_report, read_feed_statuses
from shared.health import read_heartbeats
from shared.monitor import lagging, stream_report
from shared.poll_status import age_s, read_polls

CHECK_TIMEOUT_S = 2.0
# The trader tracker's status hash (tracker_status_key): `at` (µs, when written), weight_per_minute,
# traders_per_minute, largest_staleness_s (and the rest it writes), optionally cycle_s (how often it
# is written).
TRACKER_CYCLE_S = 60.0  # when the hash does not say: its figures are per minute
TRACKER_STALE_CYCLES = 3  # a hash older than this many cycles: the tracker has stopped


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


def portfolio_report(fields: dict[bytes, bytes], now: int, enabled: bool) -> dict[str, Any]:
    """The portfolio sync's last outcome per venue and account (services/general/portfolio.py):
    {enabled, ok, venues: {exchange: {ok, accounts: {id: {ok, age_s, last_ok_age_s, error, items}}}}}."""
    venues: dict[str, dict[str, Any]] = {}
    for raw_account, raw in fields.items():
        try:
            entry = json.loads(raw)
        except ValueError:
            continue
        at, last_ok = entry.get("at"), entry.get("last_ok_at")
        venue = venues.setdefault(str(entry.get("exchange", "")), {"ok": True, "accounts": {}})
        venue["accounts"][raw_account.decode()] = {
            "ok": bool(entry.get("ok")), "age_s": round((now - at) / 1e6, 3) if isinstance(at, int) else None,
            "last_ok_age_s": round((now - last_ok) / 1e6, 3) if isinstance(last_ok, int) else None,
            "error": entry.get("error") or None, "items": entry.get("items"),
            "value_usd": entry.get("value_usd"),
        }
        venue["ok"] = venue["ok"] and bool(entry.get("ok"))
    return {"enabled": enabled, "ok": all(v["ok"] for v in venues.values()), "venues": venues}


async def _portfolio(request: web.Request) -> dict[str, Any]:
    """Shown, never counted against readiness, like the pollers: one venue's outage is the venue's."""
    settings = request.app[SETTINGS]
    try:
        key = portfolio_status_key(settings.streams.prefix)
        fields = await asyncio.wait_for(request.app[REDIS].hgetall(key), CHECK_TIMEOUT_S)
    except (RedisError, OSError, TimeoutError) as exc:
        return {"enabled": settings.accounts.enabled, "error": type(exc).__name__}
    return portfolio_report(cast(dict[bytes, bytes], fields), now_us(), settings.accounts.enabled)


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


def _figure(raw: bytes) -> int | float | str:
    text = raw.decode()
    for number in (int, float):
        try:
            return number(text)
        except ValueError:
            continue
    return text


def tracker_report(fields: dict[bytes, bytes], now: int, enabled: bool) -> dict[str, Any]:
    """The tracker's figures as it wrote them, their age, and ok: false only when tracking is enabled
    and the figures are missing or older than a few of its cycles (a tracker that stopped)."""
    figures = {key.decode(): _figure(value) for key, value in fields.items()}
    cycle = figures.get("cycle_s")
    stale_after = TRACKER_STALE_CYCLES * (
        cycle if isinstance(cycle, int | float) and cycle > 0 else TRACKER_CYCLE_S)
    at = figures.pop("at", None)
    age = round((now - at) / 1e6, 3) if isinstance(at, int) else None
    report: dict[str, Any] = {"enabled": enabled, "age_s": age, "stale_after_s": stale_after, **figures}
    if age is None:
        report["error"] = "no tracker status"
    elif age > stale_after:
        report["error"] = "tracker status is stale"
    report["ok"] = not enabled or "error" not in report
    return report


async def _traders(request: web.Request) -> dict[str, Any]:
    """The trader tracker's weight used and traders tracked per minute and its largest staleness."""
    settings = request.app[SETTINGS]
    enabled = settings.traders.enabled
    try:
        key = tracker_status_key(settings.streams.prefix)
        fields = await asyncio.wait_for(request.app[REDIS].hgetall(key), CHECK_TIMEOUT_S)
    except (RedisError, OSError, TimeoutError) as exc:
        return {"enabled": enabled, "ok": not enabled, "error": type(exc).__name__}
    # responses are not decoded: keys and values are bytes
    return tracker_report(cast(dict[bytes, bytes], fields), now_us(), enabled)


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
    traders = await _traders(request) if redis_check["ok"] else {"ok": not settings.traders.enabled}
    ok = (redis_check["ok"] and pg_check["ok"] and all(s["ok"] for s in services.values()) and streams["ok"]
          and traders["ok"])
    body = {"status": "ready" if ok else "not ready", "redis": redis_check, "postgres": pg_check,
            "services": services, "streams": streams, "traders": traders}
    body["pollers"] = await _pollers(request) if redis_check["ok"] else {}  # informative only, see _pollers
    body["feeds"] = await _feeds(request) if redis_check["ok"] else {}  # informative only, see feed_report
    body["portfolio"] = await _portfolio(request) if redis_check["ok"] else {}  # informative only
    return web.json_response(body, status=200 if ok else 503)
