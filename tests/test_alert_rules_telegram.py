"""A user's rule "funding annualized above 0.5 on any venue", written over the API, fires once through
the processor's real rules group: the alert lands in the (fake) Telegram chat the rule names, through
the general service's alert consumer, and in GET /api/v1/alerts; the cooldown holds it back on the
next matching event; `rules test` replays the stored funding rows and says when it would have fired."""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal

import aiohttp
import asyncpg
import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestServer
from pytest_aiohttp import AiohttpClient

from services.api.app import create_app
from services.general.cli import parser, run_command
from services.general.main import alert_consumers
from services.general.telegram import TelegramBot
from services.processor.main import storing_consumers
from services.processor.rules_group import join_at_the_end, run_rules
from services.processor.sinks import STORED_FAMILIES
from services.processor.store import EventStore
from shared.config import Settings
from shared.constants import stream_key
from shared.events import FundingRate, now_us
from shared.streams import StreamProducer
from tests.api.test_accounts_api import key
from tests.general.fake_telegram import FakeTelegram
from tests.trades import wait_until

TOKEN = "42:rules-test-token"
RULE_CHAT = "555"


def funding(exchange: str, rate: str, ts: int) -> FundingRate:
    """An 8-hourly rate: annualized = rate * 1095."""
    return FundingRate(ts=ts, recv_ts=ts, exchange=exchange, symbol="BTC-USDT-PERP", raw_symbol="BTCUSDT",
                       rate=Decimal(rate), interval_hours=Decimal(8), annualized=Decimal(rate) * 1095)


async def test_a_funding_rule_fires_once_into_telegram_and_the_api(
        make_settings: Callable[..., Settings], redis: aioredis.Redis, pool: asyncpg.Pool,
        aiohttp_client: AiohttpClient, capsys: pytest.CaptureFixture[str]) -> None:
    telegram = FakeTelegram()
    server = TestServer(telegram.app(), host="127.0.0.1")
    await server.start_server(access_log=None)
    settings = make_settings(telegram_token=TOKEN, telegram_api_url=str(server.make_url("")).rstrip("/"),
                             telegram_chats={"default": "100"}, telegram_chat_interval_s=0.05)
    api = await aiohttp_client(create_app(settings))
    writer = {"Authorization": f"Bearer {await key(pool, 'rules:write')}"}
    reader = {"Authorization": f"Bearer {await key(pool, 'market')}"}
    rule = {"kind": "funding", "params": {"field": "annualized", "op": "above", "level": "0.5"},
            "cooldown_s": 600, "severity": "warning", "chat": RULE_CHAT}
    assert (await api.post("/api/v1/rules", json=rule, headers=reader)).status == 403
    created = await api.post("/api/v1/rules", json=rule, headers=writer)
    assert created.status == 201, await created.text()
    rule_id = (await created.json())["id"]

    stop = asyncio.Event()
    await join_at_the_end(settings, redis, stop)  # the group exists before anything is published
    producer = StreamProducer(redis, settings)
    store = EventStore(pool, STORED_FAMILIES["funding"])
    start = now_us() - 60_000_000  # a minute ago: inside the hour `rules test` replays
    try:
        async with aiohttp.ClientSession() as session:
            bot = TelegramBot(session, settings.telegram)
            tasks = [asyncio.create_task(run_rules(settings, redis, pool, stop, reload_s=0.2))]
            general = alert_consumers(redis, settings, producer, bot)
            tasks += [asyncio.create_task(c.run(stop)) for c in general]
            funding_stream = stream_key(settings.streams.prefix, "funding")
            tasks += [asyncio.create_task(c.run(stop))
                      for c in storing_consumers(redis, settings, funding_stream, "p", store)]
            try:
                producer.publish(funding("binance", "0.0004", start))  # 0.438: under the level
                producer.publish(funding("okx", "0.0005", start + 1_000_000))  # 0.5475: fires
                assert await producer.flush()

                async def told() -> bool:
                    return bool(telegram.sent(RULE_CHAT))

                await wait_until(told, 15, "the rule's alert sent to its chat")
                producer.publish(funding("bybit", "0.0009", start + 2_000_000))  # matches: cooling down
                assert await producer.flush()

                async def stored() -> bool:
                    return await pool.fetchval("SELECT count(*) FROM funding_rates") == 3

                await wait_until(stored, 15, "the funding rows stored")
                await asyncio.sleep(1.0)  # time enough for a second message, if one were coming
            finally:
                stop.set()
                await asyncio.wait_for(asyncio.gather(*tasks), 10)
    finally:
        await server.close()

    texts = [r.body["text"] for r in telegram.sent()]
    assert len(texts) == 1, texts
    assert "okx" in texts[0] and "0.5475" in texts[0] and telegram.sent()[0].body["chat_id"] == RULE_CHAT
    assert await pool.fetchval("SELECT count(*) FROM alert_history") == 1

    answer = await api.get("/api/v1/alerts", headers=reader)
    body = await answer.json()
    assert answer.status == 200 and body["count"] == 1, body
    assert body["alerts"][0]["rule_id"] == rule_id and "okx" in body["alerts"][0]["title"]
    assert body["alerts"][0]["key"] == f"rule:{rule_id}:okx:BTC-USDT-PERP:{start + 1_000_000}"
    assert (await api.get("/api/v1/alerts")).status == 401

    args = parser().parse_args(["rules", "test", str(rule_id)])
    assert await run_command(args, settings) == 0
    out = capsys.readouterr().out
    assert out.count("would have fired") == 1 and "okx" in out, out
    assert "1 times in the last 1 h (3 events replayed)" in out

    assert (await api.delete(f"/api/v1/rules/{rule_id}", headers=reader)).status == 403
    assert (await api.delete(f"/api/v1/rules/{rule_id}", headers=writer)).status == 200
    assert (await api.delete(f"/api/v1/rules/{rule_id}", headers=writer)).status == 404
    listed = await (await api.get("/api/v1/rules", headers=reader)).json()
    assert listed == {"rules": [], "count": 0}
