"""/api/v1/rules and /api/v1/alerts: who may read and write, and what a wrong rule is answered."""
from __future__ import annotations

import asyncpg
from pytest_aiohttp import AiohttpClient

from services.api.app import create_app
from shared.config import Settings
from tests.api.test_accounts_api import key


async def test_writing_needs_rules_write_and_a_valid_rule(aiohttp_client: AiohttpClient, settings: Settings,
                                                          pool: asyncpg.Pool) -> None:
    api = await aiohttp_client(create_app(settings))
    writer = {"X-API-Key": await key(pool, "rules:write")}
    reader = {"X-API-Key": await key(pool, "account:read")}
    good = {"kind": "liquidation", "params": {"min_usd": 1000000, "exchange": "binance"}}
    assert (await api.post("/api/v1/rules", json=good)).status == 401
    assert (await api.post("/api/v1/rules", json=good, headers=reader)).status == 403
    for bad in ({"kind": "weather", "params": {}}, {"kind": "liquidation", "params": {"min_usd": "lots"}},
                {"kind": "liquidation", "params": {"min_usd": "1"}, "severity": "panic"},
                {"kind": "liquidation", "params": {"min_usd": "1"}, "cooldown_s": -1},
                {"kind": "liquidation", "params": {"min_usd": "1"}, "colour": "red"}, [1, 2]):
        answer = await api.post("/api/v1/rules", json=bad, headers=writer)
        assert answer.status == 400 and "error" in await answer.json(), bad
    answer = await api.post("/api/v1/rules", data=b"{not json", headers=writer)
    assert answer.status == 400
    created = await api.post("/api/v1/rules", json=good, headers=writer)
    rule = await created.json()
    assert created.status == 201 and rule["params"] == {"min_usd": "1000000", "exchange": "binance"}
    assert rule["cooldown_s"] == 300 and rule["severity"] == "warning" and rule["enabled"] is True
    listed = await (await api.get("/api/v1/rules", headers=reader)).json()
    assert listed == {"rules": [rule], "count": 1}
    assert (await api.delete("/api/v1/rules/abc", headers=writer)).status == 400
    assert (await api.delete(f"/api/v1/rules/{rule['id']}", headers=writer)).status == 200


async def test_alert_history_filters(aiohttp_client: AiohttpClient, settings: Settings,
                                     pool: asyncpg.Pool) -> None:
    for rule_id, fired_at in ((1, 10), (2, 20), (1, 30)):
        await pool.execute("INSERT INTO alert_history (rule_id, ts, fired_at, key, severity, title) "
                           "VALUES ($1, $2, $2, 'k', 'info', 't')", rule_id, fired_at)
    api = await aiohttp_client(create_app(settings))
    reader = {"X-API-Key": await key(pool, "market")}
    body = await (await api.get("/api/v1/alerts", headers=reader)).json()
    assert [a["fired_at"] for a in body["alerts"]] == [30, 20, 10]
    body = await (await api.get("/api/v1/alerts", params={"rule": "1", "from": "15"}, headers=reader)).json()
    assert [a["fired_at"] for a in body["alerts"]] == [30]
    assert (await api.get("/api/v1/alerts", params={"rule": "x"}, headers=reader)).status == 400
