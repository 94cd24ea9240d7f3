"""The rule kinds on operations, in the processor's "rules" group on real Redis and PostgreSQL: hedge
drift from the hedge monitor's status events, stream lag from the stream monitor's, and a silent
feed found by the group's timer. Each fires once into th:alerts (and from there, through the general
service's alert consumer, into the rule's Telegram chat) and alert_history; its cooldown holds the
next one back."""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal

import aiohttp
import asyncpg
import redis.asyncio as aioredis
from aiohttp.test_utils import TestServer

from services.general.hedges import HedgeMonitor
from services.general.main import alert_consumers
from services.general.telegram import TelegramBot
from services.processor.rules_group import RuleBook, RuleSink, cooldown_key, join_at_the_end, run_rules
from services.processor.rules_silence import last_seen_key
from shared.alert_rules import Rule, add_rule, history
from shared.config import Settings
from shared.constants import stream_key
from shared.events import HedgeStatus, Trade, batch_decoder
from shared.monitor import GroupFigures, StreamFigures, StreamMonitor
from shared.streams import StreamProducer
from tests.general.fake_telegram import FakeTelegram
from tests.general.test_hedges import POOLS, fixture_pool
from tests.processor.test_rules_group import rule_alerts
from tests.trades import wait_until

D = Decimal


def lagging(settings: Settings, lag: int) -> list[StreamFigures]:
    stream = stream_key(settings.streams.prefix, "trades")
    return [StreamFigures(stream, lag, 200_000, 0, [GroupFigures("processor", lag, 0, 1, 0, 0)])]


async def test_hedge_drift_and_stream_lag_fire_once_then_the_cooldown_holds(
        make_settings: Callable[..., Settings], redis: aioredis.Redis, pool: asyncpg.Pool) -> None:
    telegram = FakeTelegram()
    server = TestServer(telegram.app(), host="127.0.0.1")
    await server.start_server(access_log=None)
    settings = make_settings(hedge_pools=POOLS, hedge_drift_alert_pct=5.0, telegram_token="42:kinds",
                             telegram_api_url=str(server.make_url("")).rstrip("/"),
                             telegram_chats={"default": "100"}, telegram_chat_interval_s=0.05)
    stop = asyncio.Event()
    await join_at_the_end(settings, redis, stop)
    producer = StreamProducer(redis, settings, source="general")
    session = aiohttp.ClientSession()
    tasks = [asyncio.create_task(run_rules(settings, redis, pool, stop, reload_s=0.1))]
    tasks += [asyncio.create_task(c.run(stop))
              for c in alert_consumers(redis, settings, producer, TelegramBot(session, settings.telegram))]
    try:
        # no short is held: every asset of the pool is 100 % under-hedged
        drift = await add_rule(pool, "hedge_drift", {"pct": "99.99", "asset": "ETH"}, 600, "critical", "777")
        lag = await add_rule(pool, "stream_lag", {"share": "0.5", "stream": "trades"}, 600, chat="778")
        await asyncio.sleep(0.5)  # reloaded
        hedges = HedgeMonitor(settings, redis, producer, session, {"jlp": fixture_pool})
        async with pool.acquire() as conn:
            for _ in range(2):
                await hedges.run_once(conn)
                assert await producer.flush()
        monitor = StreamMonitor(redis, settings)
        for entries in (100_000, 100_001, 150_000):  # half the cap is not over half
            await monitor.record(lagging(settings, entries))

        async def both_told() -> bool:
            return bool(telegram.sent("777") and telegram.sent("778"))

        await wait_until(both_told, 15, "the rules' alerts sent to their chats")
        status = await redis.xrange(stream_key(settings.streams.prefix, "status"))
        events = [e for _, fields in status for e in batch_decoder.decode(fields[b"e"])]
        assert sum(isinstance(e, HedgeStatus) for e in events) == 6  # three assets, two runs
        await asyncio.sleep(0.5)  # the held-back ones had their chance
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 10)
        await session.close()
        await server.close()
    [told_drift], [told_lag] = telegram.sent("777"), telegram.sent("778")
    assert "CRITICAL: Hedge jlp ETH under-hedged past 99.99%" in told_drift.body["text"]
    assert "lags 100001 entries, over 0.5 of its cap" in told_lag.body["text"]
    fired = await rule_alerts(redis, settings)
    [hedge_alert] = [a for a in fired if a.key.startswith(f"rule:{drift.id}:")]
    assert hedge_alert.severity == "critical" and "jlp ETH under-hedged" in hedge_alert.title
    [lag_alert] = [a for a in fired if a.key.startswith(f"rule:{lag.id}:")]
    assert "lags 100001 entries" in lag_alert.title
    assert sorted(row["rule_id"] for row in await history(pool)) == sorted([drift.id, lag.id])


def trade(exchange: str, recv_ts: int) -> Trade:
    return Trade(ts=recv_ts, recv_ts=recv_ts, exchange=exchange, symbol="BTC-USDT-PERP", raw_symbol="BTCUSDT",
                 trade_id=str(recv_ts), price=D(1), size=D(1), side="buy")


async def test_a_silent_feed_fires_once_and_the_cooldown_holds_the_next(
        settings: Settings, redis: aioredis.Redis, pool: asyncpg.Pool) -> None:
    rule = await add_rule(pool, "feed_silent", {"silent_s": "60"}, 600)  # every venue, each on its own
    book = RuleBook()
    book.set([rule, Rule(999, "feed_silent", {"silent_s": "1"}, enabled=False)])
    prefix = settings.streams.prefix
    sink = RuleSink(book, redis, pool, StreamProducer(redis, settings), prefix, {})
    t0 = 1_700_000_000_000_000
    await sink([trade("bybit", t0), trade("okx", t0 + 5_000_000), trade("bybit", t0 + 1_000_000)])
    await sink([trade("bybit", t0 - 9_000_000)])  # an older one (another consumer's batch) moves nothing
    assert await redis.hgetall(last_seen_key(prefix)) == {
        f"{rule.id}|bybit|".encode(): str(t0 + 1_000_000).encode(),
        f"{rule.id}|okx|".encode(): str(t0 + 5_000_000).encode()}
    assert await sink.fire_silences(t0 + 61_000_000) == 0  # 60 s exactly is not over 60 s
    assert await sink.fire_silences(t0 + 61_000_001) == 1  # bybit; okx is held back by the cooldown
    assert await sink.fire_silences(t0 + 70_000_000) == 0  # the same silence never fires twice
    await redis.delete(cooldown_key(prefix, rule.id))  # the cooldown is over
    assert await sink.fire_silences(t0 + 80_000_000) == 1  # okx, still silent, fires now
    [bybit, okx] = sorted(await rule_alerts(redis, settings), key=lambda a: a.ts)
    assert bybit.key == f"rule:{rule.id}:silent:{rule.id}|bybit|:{t0 + 1_000_000}"
    assert "bybit trades silent for 60 s (over 60 s)" in bybit.title and "okx" in okx.title
    assert len(await history(pool, rule.id)) == 2
    await sink([trade("bybit", t0 + 90_000_000)])  # bybit sends again: a new silence may fire later
    assert await sink.fire_silences(t0 + 151_000_001) == 0  # but the cooldown holds it
