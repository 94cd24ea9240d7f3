"""Per-client rate limits: a token bucket per API key (per IP without one), kept in Redis.

The bucket lives in Redis and is updated by one Lua script, so every api process draws on the
same bucket and a client cannot multiply its limit by spreading requests over processes. The
script reads Redis' own clock (TIME): processes with skewed clocks still agree.

A key counts only once verified (the key cache makes that one database read per key every 2 s);
a made-up key is limited by its IP like any anonymous client, so nobody can drain another's
bucket by sending its id. Past the limit: 429, `Retry-After` (whole seconds) and a JSON error.
/health, /ready and /metrics are never limited: a monitor must see an overloaded API.

Redis unreachable: requests pass (counted in tradehub_redis_errors_total{op="ratelimit"}); an API
that refuses everything while Redis restarts would be worse than one briefly unlimited.
"""
from __future__ import annotations

import json
import logging
import math
from collections import Counter
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Handler
from redis.exceptions import RedisError

from services.api.api_keys import KEY_CACHE, KeyRefused, key_text, verify
from services.api.keys import POOL, REDIS, SETTINGS
from shared import metrics
from shared.db import CONNECTION_ERRORS

log = logging.getLogger(__name__)
EXEMPT_PATHS = frozenset({"/health", "/ready", "/metrics"})
WS_PATHS = frozenset({"/ws"})
# Routes that need account:read take from the key's `account` bucket; app.create_app fills this.
PRIVATE_PATHS = web.AppKey("ratelimit_private_paths", frozenset)
WS_OPEN = web.AppKey("ratelimit_ws_open", Counter)

# KEYS[1] the bucket; ARGV[1] tokens refilled per second, ARGV[2] the bucket's size.
# Answers {1 if taken, seconds until a token (as text: Lua numbers reach Redis as integers)}.
TOKEN_BUCKET = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local taken = 0
local wait = 0
if tokens >= 1 then
    tokens = tokens - 1
    taken = 1
else
    wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {taken, tostring(wait)}
"""


@dataclass(frozen=True)
class Limit:
    """A bucket: `per_s` tokens refilled each second, at most `burst` held."""

    scope: str
    per_s: float
    burst: int


async def client_of(request: web.Request) -> tuple[str, bool]:
    """("key:<id>", True) for a request with a live key, else ("ip:<address>", False)."""
    text = key_text(request)
    if text is not None and KEY_CACHE in request.app:
        try:
            key = await verify(request.app[KEY_CACHE], request.app[POOL], text)
            return f"key:{key.id}", True
        except KeyRefused:
            pass  # the handler says why; meanwhile the request counts against its IP
        except CONNECTION_ERRORS:
            pass  # keys cannot be checked: limited as anonymous, the handler answers 503
    return f"ip:{request.remote or 'unknown'}", False


def limit_of(request: web.Request, keyed: bool) -> Limit:
    rates = request.app[SETTINGS].api_rate
    if not keyed:
        return Limit("anonymous", rates.anonymous_per_s, rates.anonymous_burst)
    if request.match_info.route.resource is not None and \
            request.match_info.route.resource.canonical in request.app.get(PRIVATE_PATHS, frozenset()):
        return Limit("account", rates.account_per_s, rates.account_burst)
    return Limit("market", rates.market_per_s, rates.market_burst)


def bucket_key(prefix: str, limit: Limit, client: str) -> str:
    return f"{prefix}:ratelimit:{limit.scope}:{client}"


async def take(request: web.Request, limit: Limit, client: str) -> float | None:
    """None when the request may go on, else the seconds until the client's next token."""
    key = bucket_key(request.app[SETTINGS].streams.prefix, limit, client)
    try:
        taken, wait = await request.app[REDIS].eval(TOKEN_BUCKET, 1, key, repr(limit.per_s), limit.burst)
    except (RedisError, OSError) as exc:
        metrics.REDIS_ERRORS.labels("ratelimit").inc()
        log.warning("rate limit not checked: Redis unavailable", extra={"error": repr(exc)})
        return None
    return None if int(taken) else float(wait)


def too_many(message: str, wait_s: float) -> web.HTTPTooManyRequests:
    retry_after = max(1, math.ceil(wait_s))
    body = json.dumps({"error": message, "retry_after_s": retry_after})
    return web.HTTPTooManyRequests(text=body, content_type="application/json",
                                   headers={"Retry-After": str(retry_after)})


@web.middleware
async def rate_limits(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Take a token from the client's bucket; hold /ws connections per client under the cap."""
    resource = request.match_info.route.resource
    path = resource.canonical if resource is not None else request.path
    settings = request.app[SETTINGS].api_rate
    if not settings.enabled or path in EXEMPT_PATHS:
        return await handler(request)
    client, keyed = await client_of(request)
    limit = limit_of(request, keyed)
    wait = await take(request, limit, client)
    if wait is not None:
        raise too_many(f"rate limit of {limit.per_s:g}/s (burst {limit.burst}) reached for "
                       f"{'this API key' if keyed else 'this address'}", wait)
    if path not in WS_PATHS:
        return await handler(request)
    open_sockets: Counter[str] = request.app[WS_OPEN]
    if open_sockets[client] >= settings.ws_connections:
        raise too_many(f"at most {settings.ws_connections} open /ws connections per client", 1.0)
    open_sockets[client] += 1
    try:
        return await handler(request)  # a WebSocket handler returns when its socket closes
    finally:
        open_sockets[client] -= 1
        if open_sockets[client] <= 0:
            del open_sockets[client]


def setup(app: web.Application, private_paths: frozenset[str]) -> None:
    app[PRIVATE_PATHS] = private_paths
    app[WS_OPEN] = Counter()
    app.middlewares.append(rate_limits)
