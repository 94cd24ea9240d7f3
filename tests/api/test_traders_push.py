"""The /ws topic `positions` on the real Redis: PositionChange events of th:positions filtered by
address (any case), coin or symbol, min_usd on the position value and kinds; the trader states,
fills and equity curves on the same stream are never pushed; bad requests answered on the socket."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
import redis.asyncio as aioredis
from pytest_aiohttp import AiohttpClient

from services.api.app import create_app
from services.api.push_client import PushClient, RequestError, parse_request
from shared.config import Settings
from shared.events import (
    ChangeKind,
    EquityPoint,
    Event,
    PositionChange,
    TraderEquity,
    TraderFill,
    TraderPosition,
    TraderState,
)
from tests.api.test_push import publish

D = Decimal
T0 = 1_763_000_000_000_000
A = "0x" + "a1" * 20
B = "0x" + "b2" * 20


def change(n: int, address: str = A, symbol: str = "BTC-USD-PERP", kind: ChangeKind = "open",
           value: str | None = "10000") -> PositionChange:
    return PositionChange(
        account=address, exchange="hyperliquid", symbol=symbol, old_size=D(0), new_size=D("0.1"),
        price=D("60000.5"), change=kind, position_value=None if value is None else D(value),
        unrealized_pnl=D(0), leverage=D(5), ts=T0 + n, recv_ts=T0 + n)


def beside_changes() -> list[Event]:
    """What else flows on th:positions: never pushed on the positions topic."""
    position = TraderPosition(symbol="BTC-USD-PERP", size=D(1), entry_price=D(1), position_value=D(10 ** 6),
                              unrealized_pnl=D(0))
    return [
        TraderState(address=A, exchange="hyperliquid", account_value=D(1), notional=D(1),
                    positions=(position,), ts=T0, recv_ts=T0),
        TraderFill(address=A, exchange="hyperliquid", symbol="BTC-USD-PERP", tid="1", order_id="2",
                   side="buy", price=D(1), size=D(1), start_position=D(0), direction="Open Long",
                   closed_pnl=D(0), fee=D(0), fee_asset="USDC", ts=T0, recv_ts=T0),
        TraderEquity(address=A, exchange="hyperliquid", points=(EquityPoint(T0, D(1), D(0)),),
                     ts=T0, recv_ts=T0),
    ]


async def subscribe(ws: Any, **request: Any) -> dict[str, Any]:
    await ws.send_json({"op": "subscribe", "topic": "positions", **request})
    answer: dict[str, Any] = await ws.receive_json()
    assert answer["type"] == "subscribed", answer
    return answer


async def test_positions_topic_pushes_changes_that_pass_the_filters(
    aiohttp_client: AiohttpClient, settings: Settings, redis: aioredis.Redis
) -> None:
    client = await aiohttp_client(create_app(settings))
    everything, by_trader, by_coin, big_flips = [await client.ws_connect("/ws") for _ in range(4)]
    assert (await subscribe(everything)) == {
        "type": "subscribed", "topic": "positions", "exchange": None, "symbol": None, "address": None,
        "coin": None, "kinds": None, "min_usd": None}
    answer = await subscribe(by_trader, address=A.upper().replace("0X", "0x"))
    assert answer["address"] == A  # compared lower case
    assert (await subscribe(by_coin, coin="eth"))["coin"] == "ETH"
    answer = await subscribe(big_flips, kinds=["flip", "close"], min_usd="50000.5")
    assert answer["kinds"] == ["flip", "close"] and answer["min_usd"] == "50000.5"

    changes = [
        change(1),
        change(2, address=B, symbol="ETH-USD-PERP"),
        change(3, address=B, kind="flip", value="50000.5"),  # exactly min_usd: in
        change(4, kind="flip", value="-50000.49"),  # a value under min_usd (its size, whatever the sign)
        change(5, symbol="ETH-USD-PERP", kind="close", value="-80000"),
        change(6, address=B, kind="close", value=None),  # no value: not for a min_usd filter
    ]
    await publish(redis, settings, [*beside_changes(), *changes])

    async def received(ws: Any, count: int) -> list[int]:
        messages = [await ws.receive_json() for _ in range(count)]
        assert all(m["type"] == "event" and m["topic"] == "positions" for m in messages), messages
        assert all(m["data"]["kind"] == "positionchange" for m in messages)
        return [m["data"]["ts"] - T0 for m in messages]

    assert await received(everything, 6) == [1, 2, 3, 4, 5, 6]  # states, fills and equity never pushed
    assert await received(by_trader, 3) == [1, 4, 5]
    assert await received(by_coin, 2) == [2, 5]
    assert await received(big_flips, 2) == [3, 5]

    await publish(redis, settings, [change(7, address=B)])
    await publish(redis, settings, [change(8)])
    assert (await by_trader.receive_json())["data"]["ts"] == T0 + 8  # A's, after B's was left out
    data = (await everything.receive_json())["data"]
    assert data["account"] == B and data["price"] == "60000.5"  # money as exact strings
    for ws in (everything, by_trader, by_coin, big_flips):
        await ws.close()


async def test_positions_requests_are_checked_on_the_socket(
    aiohttp_client: AiohttpClient, settings: Settings, redis: aioredis.Redis
) -> None:
    client = await aiohttp_client(create_app(settings))
    ws = await client.ws_connect("/ws")
    cases: list[tuple[dict[str, Any], str]] = [
        ({"address": "0x123"}, "address"),
        ({"address": "0x" + "g" * 40}, "address"),
        ({"kinds": ["moon"]}, "kinds"),
        ({"kinds": []}, "kinds"),
        ({"kinds": "open"}, "kinds"),
        ({"coin": "BTC USD"}, "coin"),
        ({"min_usd": "-1"}, "min_usd"),
        ({"topic": "trades", "address": A}, "address applies to positions, not trades"),
        ({"topic": "candles", "coin": "BTC", "kinds": ["open"]}, "coin, kinds apply to positions"),
    ]
    for given, error in cases:
        await ws.send_json({"op": "subscribe", "topic": "positions", **given})
        answer = await ws.receive_json()
        assert answer["type"] == "error" and error in answer["error"], (given, answer)
    await subscribe(ws, address=A)
    await subscribe(ws, address=B, coin="BTC")
    await subscribe(ws, address=B, coin="BTC", kinds=["open"])  # the same filters again: replaced
    await ws.send_json({"op": "unsubscribe", "topic": "positions", "address": B})
    assert await ws.receive_json() == {"type": "unsubscribed", "topic": "positions", "exchange": None,
                                       "symbol": None, "address": B, "coin": None, "removed": 1}
    await publish(redis, settings, [change(1, address=B), change(2)])
    assert (await ws.receive_json())["data"]["account"] == A
    await ws.close()


def request(op: str = "subscribe", **filters: Any) -> str:
    return json.dumps({"op": op, "topic": "positions", **filters})


def test_subscriptions_are_keyed_by_trader_and_coin() -> None:
    client = PushClient(queue_size=10)
    for filters in ({"address": A, "kinds": ["open"]}, {"address": A, "kinds": ["flip"]},
                    {"address": A, "coin": "BTC"}, {"address": B}):
        client.subscribe(parse_request(request(**filters)))
    assert set(client.subscriptions) == {("positions", None, None, address, coin)
                                         for address, coin in [(A, None), (A, "BTC"), (B, None)]}
    assert client.subscriptions[("positions", None, None, A, None)].kinds == frozenset({"flip"})  # replaced
    assert client.wants("positions", change(1, kind="open"), D(1))  # (A, BTC)
    assert client.wants("positions", change(1, symbol="ETH-USD-PERP", kind="flip"), D(1))  # (A, flips)
    assert not client.wants("positions", change(1, symbol="ETH-USD-PERP", kind="open"), D(1))
    assert client.unsubscribe(parse_request(request("unsubscribe", address=A))) == 2
    assert list(client.subscriptions) == [("positions", None, None, B, None)]


@pytest.mark.parametrize(("coin", "symbol", "wanted"), [
    ("BTC", "BTC-USD-PERP", True), ("BTC-USD-PERP", "BTC-USD-PERP", True), ("BTC", "BTCX-USD-PERP", False),
    ("BTC-USDT-PERP", "BTC-USD-PERP", False), ("ETH", "BTC-USD-PERP", False),
])
def test_coin_filter_takes_a_coin_or_a_symbol(coin: str, symbol: str, wanted: bool) -> None:
    client = PushClient(queue_size=10)
    client.subscribe(parse_request(request(coin=coin.lower())))
    assert client.wants("positions", change(1, symbol=symbol), None) is wanted


def test_trader_filters_on_other_topics_are_refused() -> None:
    with pytest.raises(RequestError, match="kinds applies to positions, not liquidations"):
        parse_request('{"op":"subscribe","topic":"liquidations","kinds":["open"]}')
