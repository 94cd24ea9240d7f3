"""A watched trader's position change reaches Telegram: the watchlist command, the traders group
diffing the tracker's snapshots into a flip, the alert on th:alerts, and the general service's
alert consumer sending it to the (fake) Bot API once, however often the snapshots are redelivered."""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal

import aiohttp
import asyncpg
import redis.asyncio as aioredis
from aiohttp.test_utils import TestServer

from services.general.main import alert_consumers
from services.general.telegram import TelegramBot
from services.processor.traders import run_traders
from services.processor.traders_cli import run_watch
from shared.config import Settings
from shared.streams import StreamProducer
from tests.general.fake_telegram import FakeTelegram
from tests.processor.test_positions_store import BTC, T1, T2, T3, A, B, pos, state
from tests.trades import wait_until

TOKEN = "42:watch-test-token"


async def test_a_watched_traders_flip_reaches_telegram_once(
        make_settings: Callable[..., Settings], redis: aioredis.Redis, pool: asyncpg.Pool) -> None:
    telegram = FakeTelegram()
    server = TestServer(telegram.app(), host="127.0.0.1")
    await server.start_server(access_log=None)
    settings = make_settings(traders_enabled=True, telegram_token=TOKEN,
                             telegram_api_url=str(server.make_url("")).rstrip("/"),
                             telegram_chats={"default": "100"}, telegram_chat_interval_s=0.05)
    assert await run_watch(settings, "add", A, Decimal(0)) == 0  # B stays unwatched
    producer = StreamProducer(redis, settings)
    stop = asyncio.Event()
    try:
        async with aiohttp.ClientSession() as session:
            bot = TelegramBot(session, settings.telegram)
            tasks = [asyncio.create_task(run_traders(settings, redis, pool, stop))]
            consumers = alert_consumers(redis, settings, producer, bot)
            tasks += [asyncio.create_task(consumer.run(stop)) for consumer in consumers]
            try:
                producer.publish(state(T1, pos(BTC, "1")))
                producer.publish(state(T2, pos(BTC, "-2")))
                producer.publish(state(T2, pos(BTC, "-2")))  # the tracker's snapshot, delivered twice
                producer.publish(state(T1, pos(BTC, "5"), address=B))
                producer.publish(state(T3, pos(BTC, "-5"), address=B))  # flips too, unwatched
                assert await producer.flush()

                async def told() -> bool:
                    return any("flipped" in r.body["text"] for r in telegram.sent())

                await wait_until(told, 15, "the flip alerted on Telegram")
                await asyncio.sleep(1.0)  # time enough for a second message, if one were coming
            finally:
                stop.set()
                await asyncio.wait_for(asyncio.gather(*tasks), 10)
    finally:
        await server.close()
    texts = [r.body["text"] for r in telegram.sent()]
    flips = [t for t in texts if "flipped" in t]
    assert len(flips) == 1, texts
    assert "long to short" in flips[0] and A in flips[0], flips[0]
    assert not any(B in t for t in texts), texts  # B is not watched
    assert all(r.token == TOKEN for r in telegram.requests)
