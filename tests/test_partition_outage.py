"""PostgreSQL unreachable when the processor's partition check runs: the check fails and says so,
the processor keeps running, and once the database is back a check creates the missing partition."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import asyncpg
import pytest
import redis.asyncio as aioredis

from services.processor import main as processor
from shared.config import Settings
from shared.constants import PROCESSOR_GROUP, stream_key
from tests.conftest import DATABASE_URL
from tests.proxy import CuttableProxy
from tests.trades import wait_until

pytestmark = pytest.mark.fault


async def test_partition_check_survives_postgres_outage(
    redis: aioredis.Redis, make_settings: Callable[..., Settings], pool: asyncpg.Pool,
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(processor, "PARTITION_CHECK_S", 0.5)
    monkeypatch.setattr(processor, "PARTITION_RETRY_S", 0.2)
    caplog.set_level(logging.INFO, logger=processor.__name__)
    target = urlsplit(DATABASE_URL)
    async with CuttableProxy(target.hostname or "127.0.0.1", target.port or 5432) as proxy:
        via_proxy = DATABASE_URL.replace(f"{target.hostname}:{target.port or 5432}",
                                         f"127.0.0.1:{proxy.port}")
        settings = make_settings(database_url=via_proxy)
        # the furthest partition the check keeps ahead: dropped during the outage, so only a check
        # after it can bring it back
        partition = f"trades_p{datetime.now(UTC) + timedelta(days=3):%Y%m%d}"
        stop = asyncio.Event()
        running = asyncio.create_task(processor.run_processor(settings, redis, stop))
        try:
            async def consuming() -> bool:
                stream = stream_key(settings.streams.prefix, "trades")
                if not await redis.exists(stream):
                    return False
                return PROCESSOR_GROUP.encode() in {g["name"] for g in await redis.xinfo_groups(stream)}

            await wait_until(consuming, 20, "consuming")
            await proxy.cut()
            await pool.execute(f"DROP TABLE {partition}")  # the test's own connection, not through the proxy

            async def failed_checks() -> bool:
                return sum(r.getMessage() == "partition check failed, retrying" for r in caplog.records) >= 2

            await wait_until(failed_checks, 10, "two failed partition checks")
            assert not running.done(), "the outage stopped the processor"
            await proxy.restore()

            async def partition_back() -> bool:
                return bool(await pool.fetchval("SELECT to_regclass($1) IS NOT NULL", partition))

            await wait_until(partition_back, 10, "the partition created again")

            async def recovery_logged() -> bool:
                # logged just after the check's commit, so it can trail the partition by a moment
                return any(r.getMessage() == "partition check succeeded again" for r in caplog.records)

            await wait_until(recovery_logged, 10, "the recovery logged")
            assert not running.done()
            failure = next(r for r in caplog.records if r.getMessage() == "partition check failed, retrying")
            assert failure.levelno == logging.WARNING
            assert failure.__dict__["table"] == "trades" and failure.__dict__["error"]
        finally:
            stop.set()
            async with asyncio.timeout(settings.shutdown_timeout_s):
                await running
