"""The per-venue REST client: weight budget, retries honouring Retry-After, the breaker."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from services.receivers.rest import (
    BadResponse,
    RateLimited,
    VenueClient,
    VenueUnavailable,
    WeightBucket,
    retry_after_s,
)
from shared.config import Settings


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_bucket_spends_weight_then_waits_for_the_refill() -> None:
    clock = FakeClock()
    bucket = WeightBucket(60, clock)  # 60 a minute = 1 a second
    assert bucket.reserve(60) == 0
    assert bucket.reserve(1) == pytest.approx(1.0)
    assert bucket.reserve(2) == pytest.approx(3.0)  # queued behind the first
    clock.now += 3
    assert bucket.reserve(0) == pytest.approx(0.0)
    bucket.block(5)
    assert bucket.reserve(0) == pytest.approx(5.0)


def test_retry_after_seconds_or_http_date() -> None:
    assert retry_after_s("2") == 2.0
    assert retry_after_s(None) is None and retry_after_s("soon") is None
    assert retry_after_s("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past


@pytest.fixture
async def venue() -> AsyncIterator[Callable[[list[web.Response | float]], TestServer]]:
    """A server answering a scripted list: a Response, or a float = sleep that long first."""
    servers: list[TestServer] = []

    def make(script: list[web.Response | float]) -> TestServer:
        hits = []

        async def handler(request: web.Request) -> web.Response:
            hits.append(request.path)
            step = script.pop(0) if script else web.json_response({"ok": True})
            if isinstance(step, float):
                await asyncio.sleep(step)
                return web.json_response({"late": True})
            return step

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handler)
        server = TestServer(app)
        server.hits = hits
        servers.append(server)
        return server

    yield make
    for server in servers:
        await server.close()


def client(server: TestServer, settings: Settings, sleeps: list[float]) -> VenueClient:
    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    return VenueClient("testvenue", str(server.make_url("")), 6000, settings.rest, sleep=sleep)


async def test_429_is_retried_after_its_retry_after(venue, make_settings) -> None:
    server = venue([web.json_response({}, status=429, headers={"Retry-After": "0.25"})])
    await server.start_server()
    sleeps: list[float] = []
    async with client(server, make_settings(poll_retries=2), sleeps) as http:
        assert await http.get("/x") == b'{"ok": true}'
    assert len(server.hits) == 2
    assert sleeps and sleeps[-1] == pytest.approx(0.25, abs=0.01)  # the bucket held the retry back


async def test_a_long_retry_after_gives_up_and_holds_the_venue_back(venue, make_settings) -> None:
    server = venue([web.json_response({}, status=429, headers={"Retry-After": "60"})])
    await server.start_server()
    sleeps: list[float] = []
    async with client(server, make_settings(poll_retry_max_wait_s=5), sleeps) as http:
        with pytest.raises(RateLimited, match="retry after 60"):
            await http.get("/x")
        assert http.bucket.reserve(0) > 55  # the next poll waits for the venue's Retry-After
    assert len(server.hits) == 1


async def test_server_errors_retried_then_unavailable(venue, make_settings) -> None:
    server = venue([web.Response(status=503) for _ in range(3)])
    await server.start_server()
    async with client(server, make_settings(poll_retries=2, poll_breaker_fail_max=5), []) as http:
        with pytest.raises(VenueUnavailable, match="HTTP 503"):
            await http.get("/x")
    assert len(server.hits) == 3


async def test_client_errors_are_not_retried(venue, make_settings) -> None:
    server = venue([web.Response(status=400, text="bad symbol")])
    await server.start_server()
    async with client(server, make_settings(poll_retries=3), []) as http:
        with pytest.raises(BadResponse, match="bad symbol"):
            await http.get("/x")
        assert http.breaker_state == "closed"  # our mistake, not the venue's
    assert len(server.hits) == 1


async def test_request_timeout_is_unavailable(venue, make_settings) -> None:
    server = venue([1.0])
    await server.start_server()
    async with client(server, make_settings(poll_retries=0, poll_request_timeout_s=0.1), []) as http:
        with pytest.raises(VenueUnavailable, match="Timeout"):
            await http.get("/x")


async def test_breaker_opens_and_then_spares_the_venue(venue, make_settings) -> None:
    server = venue([web.Response(status=500) for _ in range(10)])
    await server.start_server()
    settings = make_settings(poll_retries=0, poll_breaker_fail_max=2, poll_breaker_reset_s=60)
    async with client(server, settings, []) as http:
        for _ in range(2):
            with pytest.raises(VenueUnavailable, match="HTTP 500"):
                await http.get("/x")
        assert http.breaker_state == "open"
        with pytest.raises(VenueUnavailable, match="breaker open"):
            await http.get("/x")
    assert len(server.hits) == 2


async def test_post_sends_json(venue, make_settings) -> None:
    seen = []

    async def handler(request: web.Request) -> web.Response:
        seen.append((request.content_type, await request.json()))
        return web.json_response([1])

    app = web.Application()
    app.router.add_post("/info", handler)
    server = TestServer(app)
    await server.start_server()
    try:
        async with client(server, make_settings(), []) as http:
            assert await http.post("/info", {"type": "metaAndAssetCtxs"}, weight=20) == b"[1]"
    finally:
        await server.close()
    assert seen == [("application/json", {"type": "metaAndAssetCtxs"})]
