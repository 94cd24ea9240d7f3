"""The info endpoint counts weight per client over a rolling minute as the rate-limits page says
(clearinghouseState 2; meta, metaAndAssetCtxs, portfolio, userFills, userFillsByTime 20; +1 per 20
fills returned, the assumed step) and answers 429 to what would take a client past 1200; /stats
shows each client's current minute and the highest minute seen."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tests.simulator.conftest import Info, Serve, population

NOBODY = "0x" + "cd" * 20


async def weight(info: Info, client: str) -> dict[str, Any]:
    clients: dict[str, dict[str, Any]] = (await info.stats())["hyperliquid"]["weight"]["clients"]
    return clients.get(client, {"minute": 0, "highest": 0, "refused": 0})


async def state(info: Info, client: str) -> int:
    status, _ = await info.post({"type": "clearinghouseState", "user": NOBODY}, client)
    return status


@pytest.mark.parametrize(("body", "cost"), [
    ({"type": "clearinghouseState", "user": NOBODY}, 2),
    ({"type": "meta"}, 20),
    ({"type": "metaAndAssetCtxs"}, 20),
    ({"type": "portfolio", "user": NOBODY}, 20),
    ({"type": "userFills", "user": NOBODY}, 20),
    ({"type": "userFillsByTime", "user": NOBODY, "startTime": 0}, 20),
])
async def test_each_request_weighs_what_the_rate_limits_page_says(serve: Serve, body: dict[str, Any],
                                                                  cost: int) -> None:
    info = await serve(population(size=10))
    await info.ok(body, "a")
    await info.ok(body, "a")
    assert (await weight(info, "a"))["minute"] == 2 * cost


async def test_fills_add_one_weight_per_20_returned(serve: Serve) -> None:
    traders = population(size=5, action_s=1e9)
    trader = next(t for t in traders.traders if not t.maker)
    for number in range(2100):
        traders.advance(1)
        traders.move(trader.address, "SOL", Decimal(1 + number % 2))
    info = await serve(traders)
    times = [f["time"] for f in trader.fills()]
    spent = 0
    for fills, extra in ((2000, 100), (45, 2), (19, 0), (20, 1), (0, 0)):
        start = times[-fills] if fills else traders.clock.ms() + 1
        answer = await info.ok({"type": "userFillsByTime", "user": trader.address, "startTime": start}, "f")
        assert len(answer) == fills
        spent += 20 + extra
        assert (await weight(info, "f"))["minute"] == spent, (fills, extra)
    await info.ok({"type": "userFills", "user": trader.address}, "f")  # the 2000 most recent: 20 + 100
    assert (await weight(info, "f"))["minute"] == spent + 120


async def test_the_601st_state_in_a_minute_is_refused_and_costs_nothing(serve: Serve) -> None:
    info = await serve(population(size=10))
    for _ in range(600):
        assert await state(info, "busy") == 200
    assert await state(info, "busy") == 429
    status, why = await info.post({"type": "meta"}, "busy")
    assert status == 429 and "1200" in why
    assert await state(info, "other") == 200  # another client has its own minute
    busy = await weight(info, "busy")
    assert (busy["minute"], busy["highest"], busy["refused"]) == (1200, 1200, 2)
    stats = (await info.stats())["hyperliquid"]["weight"]
    assert stats["limit"] == 1200 and stats["highest"] == 1200


async def test_the_minute_rolls_so_weight_spent_61_seconds_ago_is_free_again(serve: Serve) -> None:
    traders = population(size=10)
    info = await serve(traders)
    for _ in range(300):
        await state(info, "r")
    traders.advance(30)
    for _ in range(300):
        await state(info, "r")
    assert await state(info, "r") == 429  # 1200 within the last 30 seconds
    traders.advance(29)
    assert await state(info, "r") == 429  # a rolling minute, not the clock's minute
    traders.advance(1.5)
    assert await state(info, "r") == 200  # the first 600 are out of the window
    rolled = await weight(info, "r")
    assert (rolled["minute"], rolled["highest"]) == (602, 1200)


async def test_without_x_client_the_remote_address_is_the_client(serve: Serve) -> None:
    info = await serve(population(size=10))
    await info.ok({"type": "meta"})
    assert (await weight(info, "127.0.0.1"))["minute"] == 20
