"""The /ws topic `alerts` on the real Redis: the alert rules' firings (the Alerts the processor's
rules group publishes on th:alerts) reach a subscriber with an API key, in order; the operator's
Alerts beside them on the same stream (a feed down) are not pushed; without a valid key the
subscription is refused and the socket stays for the public topics."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import asyncpg
import msgspec
import redis.asyncio as aioredis
from pytest_aiohttp import AiohttpClient

from services.api.app import create_app
from services.api.push_client import RULES_SOURCE, PushClient, parse_request, topic_of
from services.processor.rules import Fire
from services.processor.rules_group import SOURCE, rule_alert
from shared.alert_rules import Rule
from shared.config import Settings
from shared.events import Alert, Liquidation, Spike
from tests.api.test_accounts_api import answer, key
from tests.api.test_push import publish

T0 = 1_764_000_000_000_000
LIQUIDATION = Liquidation(exchange="bybit", symbol="ETH-USDT-PERP", raw_symbol="ETHUSDT", side="sell",
                          price=Decimal("3000.5"), size=Decimal("40"), usd_value=Decimal("120020"),
                          ts=T0, recv_ts=T0)
FEED_DOWN = Alert(source="general", severity="critical", key="feed:binance", title="binance feed down",
                  ts=T0, recv_ts=T0)
SPIKE = Spike(exchange="binance", symbol="BTC-USDT-PERP", metric="volume", interval="1m", value=Decimal(9),
              mean=Decimal(1), stdev=Decimal(1), z=Decimal(8), threshold=Decimal(3), ts=T0, recv_ts=T0)


def fired(rule_id: int, n: int) -> Alert:
    """An Alert exactly as the rules group builds it when a rule fires on a liquidation."""
    rule = Rule(id=rule_id, kind="liquidation", params={"min_usd": "100000"}, severity="critical", chat="42")
    event = msgspec.structs.replace(LIQUIDATION, ts=T0 + n)
    return rule_alert(rule, Fire(title=f"liquidation {n} over 100000 USD", text="bybit ETH-USDT-PERP"), event)


def test_the_rules_source_is_the_processors() -> None:
    assert RULES_SOURCE == SOURCE
    assert topic_of(fired(1, 1)) == "alerts"
    assert topic_of(FEED_DOWN) is None and topic_of(SPIKE) == "spikes"


async def test_alerts_topic_pushes_the_rules_firings_to_a_keyed_subscriber(
    aiohttp_client: AiohttpClient, settings: Settings, pool: asyncpg.Pool, redis: aioredis.Redis
) -> None:
    client = await aiohttp_client(create_app(settings))
    keyed = await client.ws_connect("/ws", params={"api_key": await key(pool, "market")})
    assert await answer(keyed, {"op": "subscribe", "topic": "alerts"}) == {
        "type": "subscribed", "topic": "alerts", "exchange": None, "symbol": None, "min_usd": None}
    assert (await answer(keyed, {"op": "subscribe", "topic": "spikes"}))["type"] == "subscribed"

    first, second = fired(7, 1), fired(8, 2)
    await publish(redis, settings, [first, FEED_DOWN, SPIKE, second])
    messages: list[dict[str, Any]] = [await keyed.receive_json(timeout=10) for _ in range(3)]
    assert [(m["topic"], m["data"]["kind"]) for m in messages] == [
        ("alerts", "alert"), ("spikes", "spike"), ("alerts", "alert")]  # the feed-down Alert never came
    assert messages[0]["data"] == {
        "kind": "alert", "ts": first.ts, "recv_ts": first.recv_ts, "source": "rules", "severity": "critical",
        "key": first.key, "title": "liquidation 1 over 100000 USD", "text": first.text, "chat": "42"}
    assert messages[2]["data"]["key"] == second.key and "rule 8 (liquidation)" in messages[2]["data"]["text"]
    await keyed.close()


async def test_alerts_topic_needs_a_valid_key(
    aiohttp_client: AiohttpClient, settings: Settings, pool: asyncpg.Pool, redis: aioredis.Redis
) -> None:
    client = await aiohttp_client(create_app(settings))
    for how, why in (({}, "no key given"), ({"headers": {"X-API-Key": "th_ffffffff_" + "A" * 43}},
                                            "unknown API key")):
        ws = await client.ws_connect("/ws", **how)
        refused = await answer(ws, {"op": "subscribe", "topic": "alerts"})
        assert refused["type"] == "error", refused
        assert refused["error"].startswith("alerts needs an API key on the /ws request: " + why), refused
        assert (await answer(ws, {"op": "subscribe", "topic": "liquidations"}))["type"] == "subscribed"
        await publish(redis, settings, [fired(7, 3), LIQUIDATION])
        assert (await ws.receive_json(timeout=10))["topic"] == "liquidations"  # the firing never came
        await ws.close()


def test_a_market_key_opens_alerts_but_not_account() -> None:
    client = PushClient(10)
    client.grant(frozenset({"market"}))
    client.refusal = "the API key lacks the scope account:read"
    client.subscribe(parse_request('{"op":"subscribe","topic":"alerts"}'))
    assert client.topics == {"alerts"}
    assert client.deny("API key revoked") == 1 and client.topics == frozenset()
