"""userFillsByTime pages as the info-endpoint page says: "Returns at most 2000 fills per response and
only the 10000 most recent fills are available", oldest first from startTime, both ends inclusive."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from services.simulator.population import Population
from services.simulator.trader import Trader
from tests.simulator.conftest import Info, Serve, population


def busy_trader(fills: int) -> tuple[Population, Trader]:
    """A trader with `fills` fills one second apart (SOL between 1 and 2 and back)."""
    traders = population(size=5, action_s=1e9)
    trader = next(t for t in traders.traders if not t.maker)
    for number in range(fills):
        traders.advance(1)
        traders.move(trader.address, "SOL", Decimal(1 + number % 2))
    return traders, trader


async def every_page(info: Info, address: str, start: int) -> list[list[dict[str, Any]]]:
    """Page on with the last fill's time + 1 as the next startTime, until a page comes back short."""
    pages = []
    while True:
        page = await info.ok({"type": "userFillsByTime", "user": address, "startTime": start})
        pages.append(page)
        if len(page) < 2000:
            return pages
        start = page[-1]["time"] + 1


async def test_pages_of_2000_oldest_first_cover_every_fill_once(serve: Serve) -> None:
    traders, trader = busy_trader(4500)
    info = await serve(traders)
    pages = await every_page(info, trader.address, 0)
    assert [len(p) for p in pages] == [2000, 2000, 500]
    fills = [f for page in pages for f in page]
    assert fills == trader.fills()
    times = [f["time"] for f in fills]
    assert times == sorted(times) and len({f["tid"] for f in fills}) == 4500


async def test_only_the_10000_most_recent_fills_are_served(serve: Serve) -> None:
    traders, trader = busy_trader(10_600)
    info = await serve(traders)
    assert trader.fill_count == 10_600
    newest = trader.fills()[-10_000:]
    pages = await every_page(info, trader.address, 0)
    assert [len(p) for p in pages] == [2000] * 5 + [0]
    assert [f for page in pages for f in page] == newest
    older = await info.ok({"type": "userFillsByTime", "user": trader.address, "startTime": 0,
                           "endTime": newest[0]["time"] - 1})
    assert older == []  # they happened, but the venue no longer serves them


async def test_start_and_end_times_are_inclusive_and_end_defaults_to_now(serve: Serve) -> None:
    traders, trader = busy_trader(30)
    info = await serve(traders)
    fills = trader.fills()
    start, end = fills[10]["time"], fills[19]["time"]
    window = await info.ok({"type": "userFillsByTime", "user": trader.address, "startTime": start,
                            "endTime": end})
    assert window == fills[10:20]
    traders.advance(5)
    later = await info.ok({"type": "userFillsByTime", "user": trader.address, "startTime": start})
    assert later == fills[10:]
    future = await info.ok({"type": "userFillsByTime", "user": trader.address,
                            "startTime": traders.clock.ms() + 1})
    assert future == []
