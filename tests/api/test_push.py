"""WebSocket push: a fast and a stalled client on the real Redis (the fast one gets everything
in order while the other is stalled, then the stalled one is cut off), filters, request
errors answered on the socket, and the drop-oldest queue with its notice."""

from __future__ import annotations

import asyncio
import json
import os
import socket
from collections.abc import Callable
from decimal import Decimal
from typing import Any, cast

import pytest
import redis.asyncio as aioredis
from aiohttp import WSMsgType
from prometheus_client import REGISTRY
from pytest_aiohttp import AiohttpClient

from services.api.app import create_app
from services.api.push import HUB, PushHub
from services.api.push_client import PushClient, RequestError, parse_request
from shared.config import Settings
from shared.constants import stream_key
from shared.events import Event, Liquidation, Spike, Trade
from shared.streams import StreamProducer

D = Decimal
T0 = 1_704_067_200_000_000


def trade(n: int, exchange: str = "binance", price: str = "100", size: str = "1") -> Trade:
    return Trade(
        exchange=exchange,
        symbol="BTC-USDT-PERP",
        raw_symbol="BTCUSDT",
        trade_id=str(n),
        price=D(price),
        size=D(size),
        side="buy",
        ts=T0 + n,
        recv_ts=T0 + n,
    )


async def publish(redis: aioredis.Redis, settings: Settings, events: list[Event]) -> None:
    producer = StreamProducer(redis, settings)
    for event in events:
        producer.publish(event)
    assert await producer.flush()


async def until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.02)


def stalled_cut_off() -> float:
    return REGISTRY.get_sample_value("tradehub_push_disconnects_total", {"reason": "stalled"}) or 0.0


# --- a WebSocket client that stops reading: tiny socket buffers, so the server's writes back up


class StalledClient:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, host: str, port: int) -> StalledClient:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: a small window
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (host, port))
        reader, writer = await asyncio.open_connection(sock=sock, limit=1024)  # reading pauses past 2 KiB
        writer.write(
            b"GET /ws HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        assert b" 101 " in await reader.readuntil(b"\r\n\r\n")
        return cls(reader, writer)

    def send(self, message: dict[str, str]) -> None:
        payload, mask = json.dumps(message).encode(), os.urandom(4)
        assert len(payload) < 126
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.writer.write(bytes([0x81, 0x80 | len(payload)]) + mask + masked)  # FIN + text, masked

    async def receive(self) -> Any:
        head = await self.reader.readexactly(2)
        size = head[1] & 0x7F
        if size >= 126:
            size = int.from_bytes(await self.reader.readexactly(2 if size == 126 else 8), "big")
        return json.loads(await self.reader.readexactly(size))

    async def read_to_end(self) -> None:
        """Drain what the kernel still holds; returns once the server has closed the connection."""
        while True:
            try:
                if not await self.reader.read(65536):
                    return
            except ConnectionResetError:
                return


async def test_a_stalled_client_never_slows_a_fast_one(
    aiohttp_client: AiohttpClient, make_settings: Callable[..., Settings], redis: aioredis.Redis
) -> None:
    settings = make_settings(ws_client_queue=10_000, ws_send_timeout_s=3.0)
    client = await aiohttp_client(create_app(settings))
    hub = client.app[HUB]
    fast = await client.ws_connect("/ws")
    await fast.send_json({"op": "subscribe", "topic": "trades"})
    assert (await fast.receive_json())["type"] == "subscribed"
    assert client.port is not None
    stalled = await StalledClient.connect(client.host, client.port)
    stalled.send({"op": "subscribe", "topic": "trades"})
    assert (await stalled.receive())["type"] == "subscribed"  # and from now on it reads nothing

    cut_before = stalled_cut_off()
    count = 5000
    await publish(redis, settings, [trade(n) for n in range(count)])
    received: list[str] = []
    async with asyncio.timeout(10):
        while len(received) < count:
            message = await fast.receive_json()
            assert message["type"] == "event", message  # no notice: nothing was dropped for it
            received.append(message["data"]["trade_id"])
    assert received == [str(n) for n in range(count)]  # everything, in order
    assert len(hub.clients) == 2  # ...while the stalled client was still connected, stuck

    await until(lambda: len(hub.clients) == 1)  # the stalled one is cut off after ws_send_timeout_s
    assert stalled_cut_off() == cut_before + 1
    async with asyncio.timeout(5):
        await stalled.read_to_end()
    stalled.writer.close()
    await publish(redis, settings, [trade(count)])
    assert (await fast.receive_json())["data"]["trade_id"] == str(count)  # the fast one carries on
    await fast.close()


async def test_filters_and_request_errors_on_the_socket(
    aiohttp_client: AiohttpClient, settings: Settings, redis: aioredis.Redis
) -> None:
    client = await aiohttp_client(create_app(settings))
    ws = await client.ws_connect("/ws")
    for request, error in [
        ("not json", "JSON"),
        ('{"op":"subscribe","topic":"gossip"}', "topic"),
        ('{"op":"subscribe","topic":"candles","min_usd":"5"}', "min_usd"),
        ('{"op":"subscribe","topic":"trades","symbol":"BTC USDT"}', "symbol"),
        ('{"op":"subscribe","topic":"trades","min_usd":"-1"}', "min_usd"),
        ('{"op":"publish","topic":"trades"}', "op"),
    ]:
        await ws.send_str(request)
        answer = await ws.receive_json()
        assert answer["type"] == "error" and error in answer["error"], (request, answer)
    await ws.send_bytes(b"{}")
    assert (await ws.receive_json())["type"] == "error"
    await ws.send_json({"op": "subscribe", "topic": "trades", "exchange": "bybit", "min_usd": "1000"})
    assert (await ws.receive_json())["min_usd"] == "1000"
    await ws.send_json({"op": "subscribe", "topic": "liquidations", "symbol": "BTC-USDT-PERP"})
    await ws.send_json({"op": "subscribe", "topic": "spikes"})
    assert [(await ws.receive_json())["type"] for _ in range(2)] == ["subscribed", "subscribed"]
    liquidation = Liquidation(
        exchange="okx",
        symbol="BTC-USDT-PERP",
        raw_symbol="BTC-USDT-SWAP",
        side="sell",
        price=D(100),
        size=D(3),
        usd_value=D(300),
        ts=T0,
        recv_ts=T0,
    )
    spike = Spike(
        exchange="okx",
        symbol="ETH-USDT-PERP",
        metric="volume",
        interval="5m",
        value=D(9),
        mean=D(1),
        stdev=D(1),
        z=D(8),
        threshold=D(3),
        ts=T0,
        recv_ts=T0,
    )
    await publish(
        redis,
        settings,
        [
            trade(1, "binance", "100", "100"),  # wrong exchange
            trade(2, "bybit", "100", "9.99"),  # 999 USD: under min_usd
            trade(3, "bybit", "100", "10"),
            liquidation,
            spike,
        ],
    )
    got = [await ws.receive_json() for _ in range(3)]
    assert sorted((m["topic"], m["data"]["kind"]) for m in got) == [
        ("liquidations", "liquidation"),
        ("spikes", "spike"),
        ("trades", "trade"),
    ]
    assert next(m for m in got if m["topic"] == "trades")["data"]["trade_id"] == "3"
    await ws.send_json({"op": "unsubscribe", "topic": "trades"})
    assert (await ws.receive_json()) == {
        "type": "unsubscribed",
        "topic": "trades",
        "exchange": None,
        "symbol": None,
        "removed": 1,
    }
    await publish(redis, settings, [trade(4, "bybit", "100", "1000"), liquidation])
    message = await ws.receive_json()
    assert message["topic"] == "liquidations"  # trades no longer come
    await ws.close()
    assert (await ws.receive()).type in (WSMsgType.CLOSE, WSMsgType.CLOSED)


async def test_a_full_queue_drops_the_oldest_and_tells_the_client(
    make_settings: Callable[..., Settings], redis: aioredis.Redis
) -> None:
    settings = make_settings()
    hub = PushHub(redis, settings)
    slow = PushClient(queue_size=10)
    slow.subscribe(parse_request('{"op":"subscribe","topic":"trades"}'))
    hub.clients.add(slow)
    await hub.activate("trades")
    task = asyncio.create_task(hub.run())
    try:
        await publish(redis, settings, [trade(n) for n in range(50)])
        newest = await redis.xrevrange(stream_key(settings.streams.prefix, "trades"), count=1)
        last = cast(list[tuple[bytes, dict[bytes, bytes]]], newest)[0][0].decode()
        await until(lambda: hub.cursors.get(stream_key(settings.streams.prefix, "trades")) == last)
    finally:
        hub.stop()
        await task
    assert json.loads(await slow.next_message()) == {"type": "notice", "dropped": 40}
    rest = [json.loads(await slow.next_message())["data"]["trade_id"] for _ in range(10)]
    assert rest == [str(n) for n in range(40, 50)]  # the newest ten, in order
    assert slow.queued == 0 and slow.dropped == 0 and slow.dropped_total == 40


async def test_notice_sits_where_the_gap_is_and_replies_are_never_dropped() -> None:
    client = PushClient(queue_size=2)
    client.offer("a")
    assert await client.next_message() == "a"
    for message in "bcde":
        client.offer(message)
    client.reply('{"type":"subscribed"}')
    assert [await client.next_message() for _ in range(4)] == [
        '{"type":"subscribed"}',
        '{"type":"notice","dropped":2}',
        "d",
        "e",
    ]
    with pytest.raises(RequestError):
        for _ in range(200):
            client.reply("x")  # a client that floods requests and never reads is refused


def test_subscriptions_are_capped_and_replaced_by_key() -> None:
    client = PushClient(queue_size=10, max_subscriptions=2)
    client.subscribe(parse_request('{"op":"subscribe","topic":"trades","symbol":"A-USDT","min_usd":1}'))
    client.subscribe(parse_request('{"op":"subscribe","topic":"trades","symbol":"A-USDT","min_usd":"5"}'))
    client.subscribe(parse_request('{"op":"subscribe","topic":"candles"}'))
    assert len(client.subscriptions) == 2
    assert client.subscriptions[("trades", None, "A-USDT")].min_usd == D(5)
    with pytest.raises(RequestError):
        client.subscribe(parse_request('{"op":"subscribe","topic":"spikes"}'))
