"""/api/v1/accounts/* on rows written straight into the account tables of the real PostgreSQL
(Decimals exact, from/to/limit honoured, the sealed credentials never answered, 404 for an unknown
account), and the /ws topic `account` on the real Redis: refused without a key with account:read,
a published AccountFill delivered with one, filtered by account, ended when the key is revoked."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import asyncpg
import pytest
import redis.asyncio as aioredis
from pytest_aiohttp import AiohttpClient
from pytest_aiohttp.plugin import TestClient

from services.api.api_keys import create_key, revoke_key
from services.api.app import create_app
from services.api.push_client import PushClient, RequestError, parse_request
from shared.config import Settings
from shared.events import AccountFill, AccountOrder, AccountSnapshot, Balance, Position, Trade
from tests.api.test_push import publish

D = Decimal
T0 = 1_763_000_000_000_000
S = 1_000_000
ADDRESS = "0x" + "ab" * 20
TRADE = Trade(exchange="binance", symbol="BTC-USDT-PERP", raw_symbol="BTCUSDT", trade_id="1", price=D(1),
              size=D(1), side="buy", ts=T0, recv_ts=T0)

ACCOUNT_INSERT = """
INSERT INTO accounts (id, exchange, scope, address, sealed, alerts, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
"""
ORDER_INSERT = """
INSERT INTO account_orders (exchange, account, order_id, client_id, symbol, side, order_type, price,
                            avg_price, size, filled, status, closing, ts, recv_ts)
VALUES ('binance', 'main', $1, 'c1', 'BTC-USDT-PERP', 'buy', 'limit', $2, $3, $4, $5, $6, '', $7,
        $7::bigint + 1)
"""
FILL_INSERT = """
INSERT INTO account_fills (exchange, account, fill_id, order_id, symbol, side, price, size, fee, fee_asset,
                           realized_pnl, closing, ts, recv_ts)
VALUES ('binance', 'main', $1, '7', $2, 'sell', $3, $4, $5, 'USDT', $6, $7, $8, $8::bigint + 1)
"""
BALANCE_INSERT = """
INSERT INTO {table} (exchange, account, asset, total, available, ts)
VALUES ('binance', 'main', $1, $2, $3, $4)
"""
POSITION_INSERT = """
INSERT INTO {table} (exchange, account, symbol, size, entry_price, mark_price, unrealized_pnl, leverage, ts)
VALUES ('binance', 'main', $1, $2, $3, NULL, $4, $5, $6)
"""
DIFFERENCE_INSERT = """
INSERT INTO account_differences (exchange, account, ts, kind, item, stored, venue)
VALUES ('binance', 'main', $1, $2, $3, $4, $5)
"""


async def key(pool: asyncpg.Pool, *scopes: str) -> str:
    async with pool.acquire() as conn:
        return (await create_key(conn, scopes or ("account:read",)))[1]


@pytest.fixture
async def books(pool: asyncpg.Pool) -> asyncpg.Pool:
    """Two accounts: `main` (Binance, sealed credentials) with orders, fills, balances, positions and
    differences at T0 + n seconds, and `hl` (Hyperliquid, read by address) with nothing yet."""
    await pool.execute(ACCOUNT_INSERT, "main", "binance", "trade", None, b"x" * 40,
                       '{"fills": false, "fill_min_usd": 250.5}', T0)
    await pool.execute(ACCOUNT_INSERT, "hl", "hyperliquid", "read", ADDRESS, None, "{}", T0)
    for n, status in ((1, "filled"), (2, "canceled"), (3, "new")):
        await pool.execute(ORDER_INSERT, str(n), D("60000.10"), D("60000.1") if n == 1 else None,
                           D("0.00100000"), D("0.001") if n == 1 else D(0), status, T0 + n * S)
    for n in range(1, 6):
        closing = "liquidation" if n == 5 else ""
        await pool.execute(FILL_INSERT, f"f{n}", "ETH-USDT-PERP" if n == 4 else "BTC-USDT-PERP",
                           D(f"60000.{n}0"), D("0.000100000"), D("-0.00000123"),
                           None if n == 1 else D(f"-1.{n}"), closing, T0 + n * S)
    balance_history = BALANCE_INSERT.format(table="account_balance_history")
    position_history = POSITION_INSERT.format(table="account_position_history")
    for insert in (BALANCE_INSERT.format(table="account_balances"), balance_history):
        await pool.execute(insert, "USDT", D("1000.123456789"), D("900.5"), T0 + 3 * S)
        await pool.execute(insert, "BTC", D("0.5"), D("0.5"), T0 + 2 * S)
    await pool.execute(balance_history, "USDT", D("999"), D("999"), T0 + S)
    for insert in (POSITION_INSERT.format(table="account_positions"), position_history):
        await pool.execute(insert, "BTC-USDT-PERP", D("-0.010"), D("60000.5"), D("1.25"), D(10), T0 + 4 * S)
    await pool.execute(position_history, "BTC-USDT-PERP", D("-0.005"), D("60001"), None, D(10), T0 + 2 * S)
    await pool.execute(DIFFERENCE_INSERT, T0 + S, "missed_fill", "f9", "", "0.1@60000")
    await pool.execute(DIFFERENCE_INSERT, T0 + 2 * S, "balance", "USDT", "999", "1000.123456789")
    return pool


async def get(client: TestClient[Any, Any], path: str, key_text: str, **params: Any) -> Any:
    response = await client.get(path, params=params, headers={"Authorization": f"Bearer {key_text}"})
    body = await response.json()
    assert response.status == 200, body
    return body


async def test_accounts_are_listed_without_credentials(
    aiohttp_client: AiohttpClient, settings: Settings, books: asyncpg.Pool
) -> None:
    client = await aiohttp_client(create_app(settings))
    body = await get(client, "/api/v1/accounts", await key(books))
    assert body["count"] == 2
    hl, main = body["accounts"]
    assert hl == {"id": "hl", "exchange": "hyperliquid", "scope": "read", "address": ADDRESS,
                  "credentials": False, "created_at": T0, "updated_at": T0,
                  "alerts": {"fills": True, "fill_min_usd": "0", "liquidations": True, "auth": True,
                             "reconcile": True}}
    assert main["credentials"] is True and main["address"] is None and "sealed" not in main
    assert main["alerts"]["fills"] is False and main["alerts"]["fill_min_usd"] == "250.5"


async def test_orders_and_fills_keep_their_decimals_and_honour_from_to_limit(
    aiohttp_client: AiohttpClient, settings: Settings, books: asyncpg.Pool
) -> None:
    client = await aiohttp_client(create_app(settings))
    k = await key(books)
    body = await get(client, "/api/v1/accounts/main/orders", k)
    assert [o["order_id"] for o in body["orders"]] == ["3", "2", "1"] and body["count"] == 3
    first = body["orders"][2]
    assert first == {"exchange": "binance", "order_id": "1", "client_id": "c1", "symbol": "BTC-USDT-PERP",
                     "side": "buy", "order_type": "limit", "price": "60000.10", "avg_price": "60000.1",
                     "size": "0.00100000", "filled": "0.001", "status": "filled", "closing": "",
                     "ts": T0 + S, "recv_ts": T0 + S + 1}
    assert body["orders"][0]["avg_price"] is None

    fills = (await get(client, "/api/v1/accounts/main/fills", k, **{"from": T0 + 2 * S, "to": T0 + 5 * S}))
    assert [f["fill_id"] for f in fills["fills"]] == ["f4", "f3", "f2"]  # from inclusive, to exclusive
    f2 = fills["fills"][2]
    assert (f2["price"], f2["size"], f2["fee"], f2["realized_pnl"]) == (
        "60000.20", "0.000100000", "-0.00000123", "-1.2")
    iso = await get(client, "/api/v1/accounts/main/fills", k, **{"from": "2025-11-13T02:13:24Z", "limit": 2})
    assert [f["fill_id"] for f in iso["fills"]] == ["f5", "f4"]  # T0 + 4 s as ISO-8601; limit 2
    assert iso["fills"][0]["closing"] == "liquidation"
    eth = await get(client, "/api/v1/accounts/main/fills", k, symbol="ETH-USDT-PERP")
    assert [f["fill_id"] for f in eth["fills"]] == ["f4"]
    oldest = await get(client, "/api/v1/accounts/main/fills", k, to=T0 + 2 * S)
    assert oldest["fills"][0]["realized_pnl"] is None and oldest["account"] == "main"


async def test_balances_positions_and_differences_latest_and_history(
    aiohttp_client: AiohttpClient, settings: Settings, books: asyncpg.Pool
) -> None:
    client = await aiohttp_client(create_app(settings))
    k = await key(books)
    latest = await get(client, "/api/v1/accounts/main/balances", k)
    assert latest["history"] is False
    assert [(b["asset"], b["total"], b["available"]) for b in latest["balances"]] == [
        ("USDT", "1000.123456789", "900.5"), ("BTC", "0.5", "0.5")]
    history = await get(client, "/api/v1/accounts/main/balances", k, history="true", asset="USDT")
    assert [(b["total"], b["ts"]) for b in history["balances"]] == [
        ("1000.123456789", T0 + 3 * S), ("999", T0 + S)]
    ranged = await get(client, "/api/v1/accounts/main/balances", k, history="true", to=T0 + 3 * S, limit=1)
    assert [(b["asset"], b["ts"]) for b in ranged["balances"]] == [("BTC", T0 + 2 * S)]

    positions = await get(client, "/api/v1/accounts/main/positions", k)
    assert positions["positions"] == [{
        "exchange": "binance", "symbol": "BTC-USDT-PERP", "size": "-0.010", "entry_price": "60000.5",
        "mark_price": None, "unrealized_pnl": "1.25", "leverage": "10", "ts": T0 + 4 * S}]
    past = await get(client, "/api/v1/accounts/main/positions", k, history="true",
                     **{"from": T0, "to": T0 + 3 * S})
    assert [(p["size"], p["unrealized_pnl"]) for p in past["positions"]] == [("-0.005", None)]

    differences = await get(client, "/api/v1/accounts/main/differences", k)
    assert [(d["kind"], d["item"], d["stored"], d["venue"]) for d in differences["differences"]] == [
        ("balance", "USDT", "999", "1000.123456789"), ("missed_fill", "f9", "", "0.1@60000")]
    missed = await get(client, "/api/v1/accounts/main/differences", k, kind="missed_fill")
    assert missed["count"] == 1


async def test_unknown_accounts_are_404_and_bad_parameters_400(
    aiohttp_client: AiohttpClient, settings: Settings, books: asyncpg.Pool
) -> None:
    client = await aiohttp_client(create_app(settings))
    headers = {"X-API-Key": await key(books)}
    for part in ("orders", "fills", "balances", "positions", "differences"):
        response = await client.get(f"/api/v1/accounts/nobody/{part}", headers=headers)
        assert response.status == 404 and await response.json() == {"error": "unknown account nobody"}
        empty = await client.get(f"/api/v1/accounts/hl/{part}", headers=headers)  # known, nothing stored
        assert empty.status == 200 and (await empty.json())["count"] == 0
    cases = [("/api/v1/accounts/Main/fills", "id must be an account id"),
             ("/api/v1/accounts/main/fills?from=yesterday", "from must be microseconds since the epoch"),
             ("/api/v1/accounts/main/fills?limit=0", "limit must be a positive integer, got 0"),
             (f"/api/v1/accounts/main/orders?from={T0 + 5}&to={T0}", "from must be before to"),
             ("/api/v1/accounts/main/balances?history=maybe", "history")]
    for path, error in cases:
        response = await client.get(path, headers=headers)
        assert response.status == 400 and error in (await response.json())["error"], path


# --- /ws topic `account`


def fill(n: int, account: str = "main") -> AccountFill:
    return AccountFill(account=account, exchange="binance", symbol="BTC-USDT-PERP", order_id="7",
                       fill_id=f"f{n}", side="buy", price=D("60000.10"), size=D("0.00100"),
                       fee=D("-0.0000012"), fee_asset="USDT", realized_pnl=None, ts=T0 + n, recv_ts=T0 + n)


async def answer(ws: Any, request: dict[str, Any]) -> dict[str, Any]:
    await ws.send_json(request)
    reply: dict[str, Any] = await ws.receive_json(timeout=10)
    return reply


async def test_account_topic_needs_a_key_with_account_read(
    aiohttp_client: AiohttpClient, settings: Settings, pool: asyncpg.Pool, redis: aioredis.Redis
) -> None:
    client = await aiohttp_client(create_app(settings))
    subscribe = {"op": "subscribe", "topic": "account", "account": "main"}
    refusals = [({}, "no key given (Authorization: Bearer <key>, X-API-Key or ?api_key=)"),
                ({"headers": {"X-API-Key": "th_ffffffff_" + "A" * 43}}, "unknown API key"),
                ({"headers": {"Authorization": f"Bearer {await key(pool, 'market')}"}},
                 "the API key lacks the scope account:read")]
    for how, why in refusals:
        ws = await client.ws_connect("/ws", **how)
        refused = await answer(ws, subscribe)
        assert refused["type"] == "error" and refused["error"].startswith(
            "account needs an API key with account:read on the /ws request"), refused
        assert why in refused["error"]
        trades = await answer(ws, {"op": "subscribe", "topic": "trades"})
        assert trades["type"] == "subscribed"  # the socket stays for the public topics
        await publish(redis, settings, [fill(1)])
        await publish(redis, settings, [TRADE])
        assert (await ws.receive_json(timeout=10))["topic"] == "trades"  # the fill never came
        await ws.close()


async def test_account_topic_delivers_the_accounts_events(
    aiohttp_client: AiohttpClient, settings: Settings, pool: asyncpg.Pool, redis: aioredis.Redis
) -> None:
    client = await aiohttp_client(create_app(settings))
    k = await key(pool)
    by_header = await client.ws_connect("/ws", headers={"Authorization": f"Bearer {k}"})
    by_query = await client.ws_connect("/ws", params={"api_key": k})
    assert await answer(by_header, {"op": "subscribe", "topic": "account", "account": "main"}) == {
        "type": "subscribed", "topic": "account", "exchange": None, "symbol": None, "account": "main",
        "min_usd": None}
    assert (await answer(by_query, {"op": "subscribe", "topic": "account"}))["type"] == "subscribed"

    order = AccountOrder(account="main", exchange="binance", symbol="BTC-USDT-PERP", order_id="7",
                         side="buy", price=D("60000.10"), size=D("0.001"), filled=D("0.001"), status="filled",
                         order_type="limit", ts=T0, recv_ts=T0)
    balance = Balance(account="main", exchange="binance", asset="USDT", total=D("1.10"), available=D(1),
                      ts=T0 + 5, recv_ts=T0 + 5)
    position = Position(account="main", exchange="binance", symbol="BTC-USDT-PERP", size=D("0.001"),
                        entry_price=D("60000.1"), ts=T0 + 6, recv_ts=T0 + 6)
    snapshot = AccountSnapshot(account="main", exchange="binance", reason="connect", open_orders=[],
                               balances=[balance], positions=[], fills=[], fills_since=0, ts=T0 + 7,
                               recv_ts=T0 + 7)
    await publish(redis, settings, [order, fill(1, account="other"), fill(2), snapshot, balance, position])

    kinds = [(await by_header.receive_json(timeout=10))["data"] for _ in range(4)]
    assert [d["kind"] for d in kinds] == ["accountorder", "accountfill", "balance", "position"]
    assert kinds[1] == {"kind": "accountfill", "ts": T0 + 2, "recv_ts": T0 + 2, "account": "main",
                        "exchange": "binance", "symbol": "BTC-USDT-PERP", "order_id": "7", "fill_id": "f2",
                        "side": "buy", "price": "60000.10", "size": "0.00100", "fee": "-0.0000012",
                        "fee_asset": "USDT", "realized_pnl": None, "closing": ""}
    every = [(await by_query.receive_json(timeout=10))["data"] for _ in range(5)]
    assert [(d["kind"], d["account"]) for d in every] == [
        ("accountorder", "main"), ("accountfill", "other"), ("accountfill", "main"), ("balance", "main"),
        ("position", "main")]  # the reconciliation snapshot is never pushed

    async with pool.acquire() as conn:
        await revoke_key(conn, k[3:11])
    revoked = await by_header.receive_json(timeout=10)  # the key cache (2 s) + the recheck (3 s)
    assert revoked == {"type": "error", "error": "API key revoked: private topics closed", "removed": 1}
    assert (await answer(by_header, {"op": "subscribe", "topic": "account"}))["type"] == "error"
    while (message := await by_query.receive_json(timeout=10))["type"] != "error":  # the same key
        assert message["type"] == "event"  # published before its own recheck
    await publish(redis, settings, [fill(3)])
    for ws in (by_header, by_query):  # open for public topics, the fill never came
        assert (await answer(ws, {"op": "subscribe", "topic": "trades"}))["type"] == "subscribed"
    await publish(redis, settings, [TRADE])
    for ws in (by_header, by_query):
        assert (await ws.receive_json(timeout=10))["topic"] == "trades"
        await ws.close()


def test_account_requests_are_checked() -> None:
    assert parse_request('{"op":"subscribe","topic":"account","account":"main"}').account == "main"
    for text, error in (
        ('{"op":"subscribe","topic":"trades","account":"main"}', "account applies to account, not trades"),
        ('{"op":"subscribe","topic":"account","account":"Main"}', "account"),
        ('{"op":"subscribe","topic":"account","min_usd":"1"}', "min_usd applies to"),
    ):
        with pytest.raises(RequestError, match=error):
            parse_request(text)
    client = PushClient(10)
    request = parse_request('{"op":"subscribe","topic":"account","account":"main"}')
    with pytest.raises(RequestError, match="no key given"):
        client.subscribe(request)
    client.grant(frozenset({"account:read"}))
    client.subscribe(request)
    client.subscribe(parse_request('{"op":"subscribe","topic":"trades"}'))
    assert client.topics == {"account", "trades"}
    assert client.deny("API key revoked") == 1 and client.topics == {"trades"}
    with pytest.raises(RequestError, match="API key revoked"):
        client.subscribe(request)
