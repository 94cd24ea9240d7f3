"""Per-client rate limits on the real Redis: a client past its bucket gets 429 with Retry-After and a
JSON error; two app instances (two api processes) draw on one bucket; /health, /ready and /metrics
are never limited; a made-up key counts against its IP; /ws connections per client are capped."""
from __future__ import annotations

import asyncio
from collections.abc import Callable

import asyncpg
import redis.asyncio as aioredis
from pytest_aiohttp import AiohttpClient

from services.api.app import create_app
from shared.config import Settings
from tests.api.test_accounts_api import key

TRADES = "/api/v1/trades"


def limited(make_settings: Callable[..., Settings], burst: int = 3) -> Settings:
    """Buckets of `burst` requests refilled slowly (one per 10 s), so a test's requests empty them."""
    return make_settings(api_rate_anonymous_burst=burst, api_rate_anonymous_per_s=0.1,
                         api_rate_market_burst=burst, api_rate_market_per_s=0.1,
                         api_rate_account_burst=burst, api_rate_account_per_s=0.1)


async def test_a_key_past_its_limit_gets_429_with_retry_after(
        make_settings: Callable[..., Settings], pool: asyncpg.Pool, redis: aioredis.Redis,
        aiohttp_client: AiohttpClient) -> None:
    settings = limited(make_settings)
    client = await aiohttp_client(create_app(settings))
    headers = {"Authorization": f"Bearer {await key(pool, 'market')}"}
    statuses = [(await client.get(TRADES, headers=headers)).status for _ in range(3)]
    assert statuses == [200, 200, 200]
    response = await client.get(TRADES, headers=headers)
    assert response.status == 429
    assert 1 <= int(response.headers["Retry-After"]) <= 10
    body = await response.json()
    assert body["error"] == "rate limit of 0.1/s (burst 3) reached for this API key"
    assert body["retry_after_s"] == int(response.headers["Retry-After"])
    # the key's bucket is its own: an anonymous client still has a full one
    assert (await client.get(TRADES)).status == 200
    assert [k async for k in redis.scan_iter(match=f"{settings.streams.prefix}:ratelimit:market:key:*")]


async def test_two_api_instances_share_one_bucket(
        make_settings: Callable[..., Settings], pool: asyncpg.Pool, redis: aioredis.Redis,
        aiohttp_client: AiohttpClient) -> None:
    settings = limited(make_settings, burst=4)
    first = await aiohttp_client(create_app(settings))
    second = await aiohttp_client(create_app(settings))
    headers = {"X-API-Key": await key(pool, "market")}
    answered = [(await client.get(TRADES, headers=headers)).status for client in (first, second) * 2]
    assert answered == [200, 200, 200, 200]
    assert (await first.get(TRADES, headers=headers)).status == 429
    assert (await second.get(TRADES, headers=headers)).status == 429


async def test_anonymous_clients_are_limited_per_address_and_health_is_exempt(
        make_settings: Callable[..., Settings], pool: asyncpg.Pool, redis: aioredis.Redis,
        aiohttp_client: AiohttpClient) -> None:
    client = await aiohttp_client(create_app(limited(make_settings, burst=2)))
    assert [(await client.get(TRADES)).status for _ in range(3)] == [200, 200, 429]
    for path in ("/health", "/ready", "/metrics") * 5:
        assert (await client.get(path)).status in (200, 503), path  # /ready: 503 without heartbeats
    # a made-up key is not a key: it counts against the address, whose bucket is empty
    fake = {"Authorization": "Bearer th_00000000_" + "A" * 43}
    assert (await client.get(TRADES, headers=fake)).status == 429


async def test_account_routes_have_their_own_bucket_and_the_limit_refills(
        make_settings: Callable[..., Settings], pool: asyncpg.Pool, redis: aioredis.Redis,
        aiohttp_client: AiohttpClient) -> None:
    settings = make_settings(api_rate_account_burst=1, api_rate_account_per_s=20.0, api_rate_market_burst=50)
    client = await aiohttp_client(create_app(settings))
    headers = {"Authorization": f"Bearer {await key(pool)}"}
    assert (await client.get("/api/v1/accounts", headers=headers)).status == 200
    assert (await client.get("/api/v1/accounts", headers=headers)).status == 429
    assert (await client.get(TRADES, headers=headers)).status == 200  # the market bucket is apart
    await asyncio.sleep(0.1)  # 20 tokens a second: one is back
    assert (await client.get("/api/v1/accounts", headers=headers)).status == 200


async def test_websocket_connections_per_client_are_capped(
        make_settings: Callable[..., Settings], pool: asyncpg.Pool, redis: aioredis.Redis,
        aiohttp_client: AiohttpClient) -> None:
    client = await aiohttp_client(create_app(make_settings(api_rate_ws_connections=2)))
    first, second = await client.ws_connect("/ws"), await client.ws_connect("/ws")
    third = await client.get("/ws", headers={"Connection": "Upgrade", "Upgrade": "websocket",
                                             "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "x" * 24})
    assert third.status == 429 and "Retry-After" in third.headers
    assert (await third.json())["error"] == "at most 2 open /ws connections per client"
    await first.close()
    for _ in range(50):  # the server notices the close, and frees the slot
        await asyncio.sleep(0.02)
        try:
            again = await client.ws_connect("/ws")
            break
        except Exception:  # not freed yet
            continue
    else:
        raise AssertionError("a closed connection's slot was never freed")
    await again.close()
    await second.close()


async def test_limits_off(make_settings: Callable[..., Settings], pool: asyncpg.Pool, redis: aioredis.Redis,
                          aiohttp_client: AiohttpClient) -> None:
    settings = make_settings(api_rate_enabled=False, api_rate_anonymous_burst=1)
    client = await aiohttp_client(create_app(settings))
    assert [(await client.get(TRADES)).status for _ in range(3)] == [200, 200, 200]


async def test_without_redis_requests_pass(make_settings: Callable[..., Settings], pool: asyncpg.Pool,
                                           aiohttp_client: AiohttpClient) -> None:
    """Redis away: unlimited rather than refusing everything (counted as a Redis error)."""
    settings = make_settings(redis_url="redis://127.0.0.1:1/0", api_rate_anonymous_burst=1)
    client = await aiohttp_client(create_app(settings))
    assert [(await client.get(TRADES)).status for _ in range(3)] == [200, 200, 200]
