"""Fixtures on the real Redis and PostgreSQL: each test gets its own stream prefix and
schema, and everything it made is removed after it."""
from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import asyncpg
import pytest
import redis.asyncio as aioredis

from scripts.local_cluster import LocalCluster, free_base_port
from shared.config import Settings, load_settings
from shared.db import create_pool, ensure_daily_partitions, migrate
from shared.redis_connect import redis_client

REDIS_URL = os.environ.get("TRADEHUB_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
DATABASE_URL = os.environ.get("TRADEHUB_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture
def tag() -> str:
    """A name unique to this test, for its stream prefix and schema."""
    return "t" + uuid.uuid4().hex[:10]


@pytest.fixture
def make_settings(tag: str) -> Callable[..., Settings]:
    """Settings for this test's own prefix and schema; keyword arguments override."""

    def make(**overrides: Any) -> Settings:
        base: dict[str, Any] = {
            "redis_url": REDIS_URL, "database_url": DATABASE_URL, "db_schema": tag, "stream_prefix": tag,
            "heartbeat_interval_s": 0.5, "consumer_block_ms": 100, "producer_flush_ms": 10,
        }
        base.update(overrides)
        return load_settings({}, **base)

    return make


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


async def drop_schema(schema: str) -> None:
    """A test's scratch schema, gone with everything in it."""
    conn = await asyncpg.connect(DATABASE_URL)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


async def delete_keys(client: aioredis.Redis, prefix: str) -> None:
    """Every key under a test's stream prefix (on every node of a cluster client)."""
    keys = [key async for key in client.scan_iter(match=f"{prefix}:*", count=1000)]
    if keys:
        await client.delete(*keys)


@pytest.fixture
async def redis(tag: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(REDIS_URL)
    yield client
    await delete_keys(client, tag)
    await client.aclose()


@pytest.fixture
async def pool(settings: Settings, tag: str) -> AsyncIterator[asyncpg.Pool]:
    """A migrated schema of this test's own, dropped afterwards."""
    conn = await asyncpg.connect(DATABASE_URL)
    try:
        await migrate(conn, tag)
        await ensure_daily_partitions(conn, "trades")  # migrate() left search_path on the schema
    finally:
        await conn.close()
    db = await create_pool(settings)
    yield db
    await db.close()
    await drop_schema(tag)


@pytest.fixture(scope="session")
def local_cluster() -> Iterator[LocalCluster]:
    """A 3-master, 3-replica Redis Cluster on loopback ports, started once, for the tests that ask."""
    with LocalCluster(free_base_port(7201)) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def cluster_url(local_cluster: LocalCluster) -> str:
    return local_cluster.url


@pytest.fixture
async def cluster_redis(tag: str, cluster_url: str, make_settings: Callable[..., Settings]
                        ) -> AsyncIterator[aioredis.Redis]:
    """A cluster client (the services' own factory); removes this test's keys from every node after."""
    client = redis_client(make_settings(redis_url=cluster_url))
    yield client
    await delete_keys(client, tag)
    await client.aclose()
