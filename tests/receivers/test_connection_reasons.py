"""Why a connect failed, as /ready, the gap records and tradehub_reconnects_total{reason} name it:
the handshake's HTTP status (a venue's 429 or 503) or the OS's error, never the client library's
wrapper of it."""

from __future__ import annotations

from typing import cast

from aiohttp import web
from aiohttp.test_utils import TestServer

from services.receivers.connection import FeedConnection
from services.receivers.venue import Feed
from shared.streams import StreamProducer
from tests.receivers.sim import FakeProducer, running, wait_until
from tests.stack import free_port


async def refusing(request: web.Request) -> web.Response:
    raise web.HTTPTooManyRequests() if request.query.get("status") == "429" else web.HTTPServiceUnavailable()


async def first_reason(url: str) -> str:
    conn = FeedConnection(Feed(name="test:0", exchange="binance", url=url, parse=lambda raw, ts: []),
                          cast(StreamProducer, FakeProducer()), backoff_max_s=0.2)
    async with running(conn):
        await wait_until(lambda: conn.reconnects >= 1, what=f"a failed connect to {url}")
    return conn.reason


async def test_a_refused_handshake_is_its_status_and_a_refused_connect_the_os_error() -> None:
    app = web.Application()
    app.router.add_get("/ws", refusing)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        base = f"ws://127.0.0.1:{server.port}/ws"
        assert await first_reason(base) == "http_503"
        assert await first_reason(f"{base}?status=429") == "http_429"
    finally:
        await server.close()
    assert await first_reason(f"ws://127.0.0.1:{free_port()}/ws") == "ConnectionRefusedError"
