"""Telegram alerts against a fake Bot API on loopback: deduplication, pacing measured by the
arrival times the fake recorded, 429 retry_after, the breaker, /status, no token in logs."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestServer

from services.general.alerts import SentLog, TelegramAlertSink, answer_status
from services.general.main import alert_consumers
from services.general.telegram import Pacer, TelegramBot
from shared.breaker import SinkUnavailable
from shared.config import Settings
from shared.constants import ALERTS_GROUP
from shared.events import Alert, Severity, now_us
from shared.logs import JsonFormatter
from shared.streams import StreamProducer
from tests.general.fake_telegram import FakeTelegram, too_many_requests

TOKEN = "123456:AAE-secret-token-for-tests"
TOLERANCE_S = 0.05  # arrival jitter on loopback


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeTelegram, str]]:
    telegram = FakeTelegram()
    server = TestServer(telegram.app(), host="127.0.0.1")
    await server.start_server(access_log=None)  # the fake's access log is Telegram's side, not ours
    yield telegram, str(server.make_url("")).rstrip("/")
    await server.close()


@pytest.fixture
def tg_settings(make_settings: Callable[..., Settings],
                fake: tuple[FakeTelegram, str]) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        base: dict[str, Any] = {"telegram_token": TOKEN, "telegram_api_url": fake[1],
                                "telegram_chats": {"default": "100"}, "telegram_chat_interval_s": 0.05,
                                "telegram_max_retries": 2}
        base.update(overrides)
        return make_settings(**base)
    return make


def alert(key: str = "heartbeat:processor", severity: Severity = "critical", title: str = "processor is down",
          text: str = "") -> Alert:
    now = now_us()
    return Alert(source="test", severity=severity, key=key, title=title, text=text, ts=now, recv_ts=now)


async def test_dedup_sends_each_alert_once_per_window(
        fake: tuple[FakeTelegram, str], tg_settings: Callable[..., Settings], redis: aioredis.Redis) -> None:
    telegram, _ = fake
    settings = tg_settings(alert_dedup_s=1.0)
    async with aiohttp.ClientSession() as session:
        sink = TelegramAlertSink(TelegramBot(session, settings.telegram), SentLog(redis, settings), settings)
        await sink([alert(text="no heartbeat"), alert(text="still none"), alert()])
        assert len(telegram.sent()) == 1  # same key, severity and title: a repeat
        await sink([alert(severity="info", title="processor is back")])  # the recovery is news
        await sink([alert()])  # and going down again after it, too
        await sink([alert()])
        assert [r.body["text"].split("\n")[0] for r in telegram.sent()] == [
            "🚨 CRITICAL: processor is down", "ℹ️ INFO: processor is back", "🚨 CRITICAL: processor is down"]
        await asyncio.sleep(1.1)  # the window passed: a reminder goes out
        await sink([alert()])
    assert len(telegram.sent()) == 4


async def test_severity_routes_to_its_chats(
        fake: tuple[FakeTelegram, str], tg_settings: Callable[..., Settings], redis: aioredis.Redis) -> None:
    telegram, _ = fake
    settings = tg_settings(telegram_chats={"critical": "1;2", "warning": "3", "default": "4"})
    async with aiohttp.ClientSession() as session:
        sink = TelegramAlertSink(TelegramBot(session, settings.telegram), SentLog(redis, settings), settings)
        await sink([alert(key="a", severity="critical"), alert(key="b", severity="warning"),
                    alert(key="c", severity="info")])
    assert sorted(str(r.body["chat_id"]) for r in telegram.sent()) == ["1", "2", "3", "4"]


async def test_one_chat_gets_at_most_one_message_per_interval(
        fake: tuple[FakeTelegram, str], tg_settings: Callable[..., Settings], redis: aioredis.Redis) -> None:
    telegram, _ = fake
    settings = tg_settings(telegram_chat_interval_s=0.3)
    async with aiohttp.ClientSession() as session:
        sink = TelegramAlertSink(TelegramBot(session, settings.telegram), SentLog(redis, settings), settings)
        await sink([alert(key=f"k{i}") for i in range(5)])
    times = [r.at for r in telegram.sent("100")]
    assert len(times) == 5
    assert min(b - a for a, b in zip(times, times[1:], strict=False)) >= 0.3 - TOLERANCE_S


async def test_all_chats_together_stay_under_the_global_rate(
        fake: tuple[FakeTelegram, str], tg_settings: Callable[..., Settings], redis: aioredis.Redis) -> None:
    telegram, _ = fake
    chats = [str(n) for n in range(1, 13)]
    settings = tg_settings(telegram_global_per_s=5, telegram_chats={"default": ";".join(chats)})
    async with aiohttp.ClientSession() as session:
        sink = TelegramAlertSink(TelegramBot(session, settings.telegram), SentLog(redis, settings), settings)
        await sink([alert()])
    times = sorted(r.at for r in telegram.sent())
    assert len(times) == 12
    # any 6 consecutive messages span at least a second: never more than 5 in a second
    assert min(times[i + 5] - times[i] for i in range(len(times) - 5)) >= 1.0 - TOLERANCE_S


async def test_group_chats_get_at_most_20_a_minute() -> None:
    clock = [1000.0]

    async def sleep(seconds: float) -> None:
        clock[0] += seconds

    pacer = Pacer(chat_interval_s=1.0, global_per_s=30, group_per_min=20, clock=lambda: clock[0], sleep=sleep)
    sent = []
    for _ in range(21):
        await pacer.acquire("-100200300")
        sent.append(clock[0])
    assert sent[19] - sent[0] == pytest.approx(19.0)  # one a second for the first 20
    assert sent[20] - sent[0] == pytest.approx(60.0)  # the 21st waits for the minute to roll


async def test_429_waits_retry_after_then_sends(
        fake: tuple[FakeTelegram, str], tg_settings: Callable[..., Settings], redis: aioredis.Redis) -> None:
    telegram, _ = fake
    telegram.script.append(too_many_requests(retry_after=1))
    settings = tg_settings()
    async with aiohttp.ClientSession() as session:
        sink = TelegramAlertSink(TelegramBot(session, settings.telegram), SentLog(redis, settings), settings)
        await sink([alert()])
    first, second = telegram.requests
    assert (first.status, second.status) == (429, 200)
    assert first.body["text"] == second.body["text"]
    assert second.at - first.at >= 1.0 - TOLERANCE_S


async def test_retry_after_holds_later_sends_even_when_retries_ran_out(
        fake: tuple[FakeTelegram, str], tg_settings: Callable[..., Settings], redis: aioredis.Redis) -> None:
    telegram, _ = fake
    telegram.script.append(too_many_requests(retry_after=1))
    settings = tg_settings(telegram_max_retries=0)
    async with aiohttp.ClientSession() as session:
        sink = TelegramAlertSink(TelegramBot(session, settings.telegram), SentLog(redis, settings), settings)
        with pytest.raises(SinkUnavailable):
            await sink([alert()])
        await sink([alert()])  # the consumer's retry: the same bot still waits out the flood control
    first, second = telegram.requests
    assert (first.status, second.status) == (429, 200)
    assert second.at - first.at >= 1.0 - TOLERANCE_S


async def test_breaker_opens_while_telegram_is_down_and_closes_after(
        fake: tuple[FakeTelegram, str], tg_settings: Callable[..., Settings], redis: aioredis.Redis,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    telegram, _ = fake
    telegram.down = True
    settings = tg_settings(breaker_fail_max=2, breaker_reset_s=0.8, telegram_max_retries=0)
    producer = StreamProducer(redis, settings, source="test")
    producer.publish(alert())
    assert await producer.flush()
    stop = asyncio.Event()
    async with aiohttp.ClientSession() as session:
        [consumer] = alert_consumers(redis, settings, producer, TelegramBot(session, settings.telegram))[:1]
        task = asyncio.create_task(consumer.run(stop))
        try:
            await _until(lambda: consumer.breaker.state == "open")
            failed = len(telegram.requests)
            assert failed == 2 and not telegram.sent()
            assert await _pending(redis, consumer.stream) == 1  # nothing acked while Telegram is away
            telegram.down = False
            await _until(lambda: bool(telegram.sent()))
            await _until(lambda: consumer.breaker.state == "closed")
            assert await _pending(redis, consumer.stream) == 0
        finally:
            stop.set()
            await task
    # while open, nothing was tried for the reset time (as the fake saw it)
    assert telegram.requests[failed].at - telegram.requests[failed - 1].at >= 0.8 - TOLERANCE_S
    assert len(telegram.sent()) == 1
    _assert_token_not_logged(caplog)


async def test_token_never_logged_nor_raised(make_settings: Callable[..., Settings], redis: aioredis.Redis,
                                             caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    settings = make_settings(telegram_token=TOKEN, telegram_api_url="http://127.0.0.1:9",  # nothing listens
                             telegram_max_retries=1, telegram_chats={"default": "100"})
    async with aiohttp.ClientSession() as session:
        sink = TelegramAlertSink(TelegramBot(session, settings.telegram), SentLog(redis, settings), settings)
        with pytest.raises(SinkUnavailable) as raised:
            await sink([alert()])
    assert TOKEN not in repr(raised.value) and TOKEN not in str(raised.value)
    _assert_token_not_logged(caplog)


async def test_status_command_answers_configured_chats_only(
        fake: tuple[FakeTelegram, str], tg_settings: Callable[..., Settings], redis: aioredis.Redis) -> None:
    telegram, _ = fake
    telegram.updates = [
        {"update_id": 7, "message": {"chat": {"id": 100}, "text": "/status"}},
        {"update_id": 8, "message": {"chat": {"id": 999}, "text": "/status"}},  # a stranger
    ]
    settings = tg_settings(telegram_status_poll_s=1)
    stop = asyncio.Event()
    async with aiohttp.ClientSession() as session:
        bot = TelegramBot(session, settings.telegram)
        task = asyncio.create_task(answer_status(bot, redis, settings, stop))
        await _until(lambda: bool(telegram.sent()))
        await _until(lambda: any(r.body.get("offset") == 9 for r in telegram.requests))
        stop.set()
        await task
    [reply] = telegram.sent()
    assert reply.body["chat_id"] == "100"
    assert "tradehub status" in reply.body["text"] and "processor: down" in reply.body["text"]


def _assert_token_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    formatter = JsonFormatter("general")
    assert caplog.records, "expected some log records"
    for record in caplog.records:
        assert TOKEN not in formatter.format(record)


async def _pending(redis: aioredis.Redis, stream: str) -> int:
    return int((await redis.xpending(stream, ALERTS_GROUP))["pending"])


async def _until(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not condition():
            await asyncio.sleep(0.02)

