"""`python -m services.processor traders watch ...` against the real PostgreSQL and Redis: the
watched column and the tracker's watch set kept in step, thresholds kept or changed, a bad
address refused with the expected form."""
from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import asyncpg
import redis.asyncio as aioredis

from shared.config import Settings
from shared.constants import traders_rotation_key, traders_watch_key
from tests.conftest import DATABASE_URL, REDIS_URL

ROOT = Path(__file__).resolve().parents[2]
A, B = "0x" + "ab" * 20, "0x" + "cd" * 20


async def traders_cli(settings: Settings, *args: str) -> tuple[int, str, str]:
    env = dict(os.environ, TRADEHUB_REDIS_URL=REDIS_URL, TRADEHUB_DATABASE_URL=DATABASE_URL,
               TRADEHUB_DB_SCHEMA=settings.db_schema, TRADEHUB_STREAM_PREFIX=settings.streams.prefix)
    env.pop("TRADEHUB_CONFIG", None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.processor", "traders", *args, cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def watched(pool: asyncpg.Pool) -> list[tuple[str, str]]:
    rows = await pool.fetch("SELECT address, watch_min_usd::text FROM traders WHERE watched ORDER BY 1")
    return [(r["address"], r["watch_min_usd"]) for r in rows]


async def test_watch_add_list_remove_keep_the_column_and_the_set_in_step(
    pool: asyncpg.Pool, redis: aioredis.Redis, settings: Settings
) -> None:
    await pool.execute("INSERT INTO traders (address, first_seen, last_seen, trades_seen) "
                       "VALUES ($1, 5, 9, 3)", A)
    watch_key = traders_watch_key(settings.streams.prefix)
    checksummed = A.upper().replace("0X", "0x")
    code, out, _ = await traders_cli(settings, "watch", "add", checksummed, "--min-usd", "25000")
    assert (code, out.strip()) == (0, f"watching {A} (alerts from $25000)")
    code, out, _ = await traders_cli(settings, "watch", "add", B)  # never seen in a trade
    assert code == 0
    await traders_cli(settings, "watch", "add", A)  # without --min-usd: the threshold is kept
    assert await watched(pool) == [(A, "25000"), (B, "0")]
    assert await redis.smembers(watch_key) == {A.encode(), B.encode()}
    assert await redis.zscore(traders_rotation_key(settings.streams.prefix), B) == 0
    assert await pool.fetchval("SELECT trades_seen FROM traders WHERE address = $1", A) == 3

    code, out, _ = await traders_cli(settings, "watch", "list")
    assert code == 0 and [line.split()[:2] for line in out.splitlines()] == [
        [A, "min_usd=25000"], [B, "min_usd=0"]]

    code, out, _ = await traders_cli(settings, "watch", "remove", A)
    assert (code, out.strip()) == (0, f"no longer watching {A}")
    code, out, _ = await traders_cli(settings, "watch", "remove", A)
    assert (code, out.strip()) == (0, f"{A} was not watched")
    assert await watched(pool) == [(B, "0")]
    assert await redis.smembers(watch_key) == {B.encode()}


async def test_a_bad_address_or_amount_is_refused_naming_the_expected_form(
    pool: asyncpg.Pool, redis: aioredis.Redis, settings: Settings
) -> None:
    code, _, err = await traders_cli(settings, "watch", "add", "0x1234")
    assert code == 2 and "0x followed by 40 hex digits" in err and "'0x1234'" in err
    code, _, err = await traders_cli(settings, "watch", "add", A, "--min-usd", "-5")
    assert code == 2 and "USD amount of 0 or more" in err
    code, _, err = await traders_cli(settings, "watch", "remove")
    assert code == 2 and "address" in err
    assert await watched(pool) == []
