"""The general service as a whole: it backs up on start (restore-checked), sends alerts to the
(fake) Telegram, answers for missing services, and stops promptly when told."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import asyncpg
import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestServer

from services.general.backups import list_backups
from services.general.main import run_general
from services.general.status import read_backup
from shared.config import Settings
from shared.health import beat_forever
from tests.general.fake_telegram import FakeTelegram

TOKEN = "42:service-test-token"


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeTelegram, str]]:
    telegram = FakeTelegram()
    server = TestServer(telegram.app(), host="127.0.0.1")
    await server.start_server(access_log=None)
    yield telegram, str(server.make_url("")).rstrip("/")
    await server.close()


async def test_general_service_backs_up_alerts_and_stops(
        make_settings: Callable[..., Settings], redis: aioredis.Redis, pool: asyncpg.Pool, tmp_path: Path,
        fake: tuple[FakeTelegram, str]) -> None:
    telegram, url = fake
    settings = make_settings(
        heartbeat_interval_s=0.5, backup_dir=str(tmp_path), telegram_token=TOKEN, telegram_api_url=url,
        telegram_chats={"default": "100"}, telegram_chat_interval_s=0.05, telegram_status_poll_s=1,
        watch_interval_s=0.1, watch_metrics_urls={"processor": "http://127.0.0.1:9/metrics"})
    stop = asyncio.Event()
    service = asyncio.create_task(run_general(settings, redis, stop))
    beat = asyncio.create_task(beat_forever(redis, settings, "general", stop))
    try:
        async with asyncio.timeout(30):
            while (await read_backup(redis, settings)).get("last") != "ok":
                assert not service.done(), service
                await asyncio.sleep(0.1)
            # nothing else beats: after 3 intervals the watcher says so, and Telegram hears it
            while not any("processor is down" in r.body["text"] for r in telegram.sent()):
                await asyncio.sleep(0.1)
    finally:
        stop.set()
        async with asyncio.timeout(5):  # a graceful stop, well within shutdown_timeout_s
            await asyncio.gather(service, beat)
    [backup] = list_backups(tmp_path, settings.db_schema)
    assert "restore check ok" in (await read_backup(redis, settings))["detail"]
    assert backup.counts() is not None
    assert not any("general is down" in r.body["text"] for r in telegram.sent())
    assert all(r.token == TOKEN for r in telegram.requests)
