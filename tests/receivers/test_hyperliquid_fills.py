"""userFillsByTime paged by time across the venue's caps (2000 fills an answer, only the newest 10000
served), against a local info endpoint that keeps them as the documentation says."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import msgspec
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from services.receivers.exchanges.hyperliquid import traders
from services.receivers.rest import VenueClient
from shared.config import Settings

T0 = 1_700_000_000_000
USER = "0x9b54264d7502f80163ea949038aad771eae67e38"


class FillsDesk:
    """A trader's fill history served as userFillsByTime serves it, with the startTimes asked."""

    def __init__(self) -> None:
        self.history: list[dict[str, Any]] = []
        self.asked: list[int] = []

    def add(self, times: list[int], coin: str = "BTC") -> None:
        for ms in times:
            tid = len(self.history)
            self.history.append({
                "coin": coin, "px": "100.0", "sz": "1", "side": "B" if tid % 2 else "A", "time": ms,
                "startPosition": "0", "dir": "Buy", "closedPnl": "0.0", "oid": tid, "tid": tid, "fee": "0.01",
                "feeToken": "USDC", "hash": "0x0"})

    async def info(self, request: web.Request) -> web.Response:
        body = await request.json()
        assert body["type"] == "userFillsByTime" and body["user"] == USER
        self.asked.append(body["startTime"])
        served = [f for f in self.history[-traders.FILLS_AVAILABLE:] if f["time"] >= body["startTime"]]
        return web.Response(body=msgspec.json.encode(served[: traders.FILLS_PER_PAGE]),
                            content_type="application/json")


@pytest.fixture
async def venue(settings: Settings) -> AsyncIterator[tuple[FillsDesk, VenueClient]]:
    desk = FillsDesk()
    app = web.Application()
    app.router.add_post("/info", desk.info)
    server = TestServer(app)
    await server.start_server()
    async with VenueClient("hyperliquid", str(server.make_url("")), 10**9, settings.rest) as client:
        yield desk, client
    await server.close()


Venue = tuple[FillsDesk, VenueClient]
read: Callable[..., Any] = traders.read_fills


async def test_a_first_read_pages_by_time_until_a_page_is_not_full(venue: Venue) -> None:
    desk, client = venue
    desk.add([T0 + i for i in range(4500)])
    got = await read(client, USER, 0)
    assert desk.asked == [0, T0 + 1999, T0 + 3998]  # each page goes on from its last fill, inclusive
    assert [f.tid for f in got.fills] == [str(i) for i in range(4500)]  # every fill once, oldest first
    assert (got.served, got.newest_ms, got.truncated, got.pages) == (4500, T0 + 4499, False, 3)


async def test_only_the_newest_10000_are_served_so_a_longer_history_is_truncated(venue: Venue) -> None:
    desk, client = venue
    desk.add([T0 + i for i in range(12_000)])
    got = await read(client, USER, 0)
    assert got.served == 10_000 and got.truncated
    assert got.fills[0].tid == "2000" and got.fills[-1].tid == "11999"
    assert len(desk.asked) == 6  # five full pages overlap by one fill each: a sixth gets the last four


async def test_a_history_of_fewer_than_10000_is_complete(venue: Venue) -> None:
    desk, client = venue
    desk.add([T0 + i for i in range(9_990)])
    got = await read(client, USER, 0)
    assert got.served == 9_990 and not got.truncated


async def test_the_next_read_goes_on_from_the_newest_fill_read(venue: Venue) -> None:
    desk, client = venue
    desk.add([T0, T0 + 5, T0 + 5])
    first = await read(client, USER, 0)
    desk.add([T0 + 5, T0 + 9])  # a third fill in the same millisecond as the newest read, then one more
    desk.asked.clear()
    second = await read(client, USER, first.newest_ms)
    assert desk.asked == [T0 + 5]
    assert [f.tid for f in second.fills] == ["4"]  # fills of that millisecond were read with it
    assert second.newest_ms == T0 + 9 and not second.truncated
    nothing = await read(client, USER, second.newest_ms)
    assert nothing.fills == [] and nothing.newest_ms == T0 + 9 and nothing.served == 1


async def test_more_than_10000_since_the_last_read_truncates_the_history(venue: Venue) -> None:
    desk, client = venue
    desk.add([T0])
    first = await read(client, USER, 0)
    desk.add([T0 + 1 + i for i in range(10_000)])  # the fill at T0 is no longer served
    second = await read(client, USER, first.newest_ms)
    assert second.truncated and len(second.fills) == 10_000
    third = await read(client, USER, second.newest_ms)
    assert not third.truncated  # a read is truncated by its own losses; coverage remembers (tracker)


async def test_a_full_page_in_one_millisecond_moves_on_by_a_millisecond(venue: Venue) -> None:
    desk, client = venue
    desk.add([T0] * 2000 + [T0 + 1] * 3)
    got = await read(client, USER, 0)
    assert desk.asked == [0, T0 + 1]
    assert got.served == 2003 and len(got.fills) == 2003


async def test_spot_fills_by_index_count_for_paging_but_are_not_published(venue: Venue) -> None:
    desk, client = venue
    desk.add([T0 + i for i in range(2000)], coin="@107")
    desk.add([T0 + 2000])
    got = await read(client, USER, 0)
    assert len(desk.asked) == 2 and got.served == 2001
    assert [f.symbol for f in got.fills] == ["BTC-USD-PERP"]
