"""POST /hyperliquid/info answers in the documented shapes (tests/fixtures/hyperliquid/, from the
info-endpoint and perpetuals pages; portfolio's elided periods filled with its `day` example), with
the population's true figures as decimal strings."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec
import pytest

from services.simulator.population import Population
from services.simulator.trader import Trader, wire
from tests.fixtures import frame
from tests.simulator.conftest import Serve, population, same_shape

NOBODY = "0x" + "ab" * 20
PERIODS = ["day", "week", "month", "allTime", "perpDay", "perpWeek", "perpMonth", "perpAllTime"]


def documented(name: str) -> Any:
    return msgspec.json.decode(frame("hyperliquid", name))


def taker(traders: Population, isolated: bool) -> Trader:
    return next(t for t in traders.traders if not t.maker and t.isolated == isolated)


async def test_clearinghouse_state_shows_the_true_positions_in_the_documented_shape(serve: Serve) -> None:
    traders = population(size=30, action_s=1e9)
    info = await serve(traders)
    for isolated in (True, False):
        trader = taker(traders, isolated)
        traders.move(trader.address, "ETH", Decimal("-3.5"))
        traders.move(trader.address, "BTC", Decimal("0.25"))
        traders.advance(600)
        mixed_case = "0x" + trader.address[2:].upper()  # the venue reads either case
        state = await info.ok({"type": "clearinghouseState", "user": mixed_case})
        same_shape_as(state, "clearinghouseState")
        assert state["time"] == traders.clock.ms()
        assert [p["position"]["coin"] for p in state["assetPositions"]] == ["BTC", "ETH"]
        now, value = traders.clock.ms(), traders.account_value(trader.address)
        assert Decimal(state["marginSummary"]["accountValue"]) == value.quantize(Decimal("0.000001"))
        notional = Decimal(0)
        for item in state["assetPositions"]:
            position, truth = item["position"], trader.positions[item["position"]["coin"]]
            mark = traders.mark(position["coin"], now)
            assert Decimal(position["szi"]) == truth.size and Decimal(position["entryPx"]) == truth.entry
            pnl = truth.size * (mark - truth.entry)
            assert Decimal(position["unrealizedPnl"]) == pnl.quantize(Decimal("1e-6"))
            assert Decimal(position["liquidationPx"]) == truth.liquidation_price
            assert position["leverage"]["type"] == ("isolated" if isolated else "cross")
            assert position["leverage"]["value"] == trader.leverage
            notional += abs(truth.size) * mark
        assert Decimal(state["marginSummary"]["totalNtlPos"]) == notional.quantize(Decimal("0.000001"))


async def test_an_address_never_seen_has_an_empty_account(serve: Serve) -> None:
    info = await serve(population(size=10))
    state = await info.ok({"type": "clearinghouseState", "user": NOBODY})
    assert state["assetPositions"] == [] and state["marginSummary"]["accountValue"] == "0.0"
    assert await info.ok({"type": "userFillsByTime", "user": NOBODY, "startTime": 0}) == []
    history = await info.ok({"type": "portfolio", "user": NOBODY})
    assert [name for name, _ in history] == PERIODS


@pytest.mark.parametrize("body", [
    {"type": "clearinghouseState", "user": "0x1234"},
    {"type": "clearinghouseState"},
    {"type": "userFillsByTime", "user": NOBODY},  # startTime is required
    {"type": "userFillsByTime", "user": NOBODY, "startTime": "yesterday"},
    {"type": "noSuchThing"},
    {"user": NOBODY},
])
async def test_what_the_venue_cannot_read_is_refused_with_422(serve: Serve, body: dict[str, Any]) -> None:
    info = await serve(population(size=10))
    status, answer = await info.post(body)
    assert status == 422 and "Failed to deserialize" in answer


async def test_fills_by_time_in_the_documented_shape_with_the_liquidation_block(serve: Serve) -> None:
    traders = population(size=10, action_s=1e9)
    info = await serve(traders)
    trader = taker(traders, isolated=False)
    for size in ("1", "2", "-1", "0", "0.5"):
        traders.advance(10)
        traders.move(trader.address, "BTC", Decimal(size))
    traders.advance(10)
    traders.liquidate(trader.address, "BTC")
    fills = await info.ok({"type": "userFillsByTime", "user": trader.address, "startTime": 0})
    same_shape_as(fills, "userFillsByTime")
    assert [f["dir"] for f in fills] == ["Open Long", "Open Long", "Long > Short", "Close Short", "Open Long",
                                         "Liquidated Cross Long"]
    assert fills == trader.fills()
    block = fills[-1]["liquidation"]
    assert block["liquidatedUser"] == trader.address and block["method"] == "market"
    assert Decimal(block["markPx"]) == Decimal(fills[-1]["px"])
    assert all("liquidation" not in f for f in fills[:-1])
    assert Decimal(fills[3]["closedPnl"]) == (Decimal(fills[3]["px"]) - Decimal(fills[2]["px"])) * -1


async def test_user_fills_are_the_2000_most_recent_newest_first(serve: Serve) -> None:
    traders = population(size=10, action_s=1e9)
    info = await serve(traders)
    trader = taker(traders, isolated=False)
    for number in range(2100):
        traders.advance(1)
        traders.move(trader.address, "SOL", Decimal(1 + number % 2))
    fills = await info.ok({"type": "userFills", "user": trader.address})
    assert len(fills) == 2000 and fills == list(reversed(trader.fills()[-2000:]))


async def test_portfolio_has_every_period_with_the_equity_curve_and_pnl(serve: Serve) -> None:
    traders = population(size=10, action_s=600)
    info = await serve(traders)
    traders.advance(30 * 3600)
    trader = taker(traders, isolated=False)
    history = await info.ok({"type": "portfolio", "user": trader.address})
    same_shape_as(history, "portfolio")
    assert [name for name, _ in history] == PERIODS
    periods = dict((name, body) for name, body in history)
    all_time, day = periods["allTime"], periods["day"]
    now, value = traders.clock.ms(), traders.account_value(trader.address)
    assert all_time["accountValueHistory"][0] == [trader.born_ms, wire(trader.equity[0][1])]
    assert all_time["accountValueHistory"][-1] == [now, wire(value.quantize(Decimal("1e-6")))]
    assert Decimal(all_time["pnlHistory"][-1][1]) == (value - trader.deposits).quantize(Decimal("1e-6"))
    assert Decimal(all_time["vlm"]) == trader.volume.quantize(Decimal("1e-6"))
    assert day["pnlHistory"][0][1] == "0.0" and day["accountValueHistory"][0][0] >= now - 86_400_000
    assert periods["perpAllTime"] == all_time
    times = [ms for ms, _ in all_time["accountValueHistory"]]
    assert times == sorted(times)


async def test_meta_lists_the_simulated_perpetuals(serve: Serve) -> None:
    info = await serve(population(size=10))
    meta = await info.ok({"type": "meta"})
    same_shape_as(meta, "meta")
    both = await info.ok({"type": "metaAndAssetCtxs"})
    assert [u["name"] for u in meta["universe"]] == [u["name"] for u in both[0]["universe"]]
    assert {"BTC", "ETH"} <= {u["name"] for u in meta["universe"]}


def same_shape_as(ours: Any, fixture: str) -> None:
    same_shape(ours, documented(fixture))


async def test_control_moves_the_population_through_simulated_time(serve: Serve) -> None:
    traders = population(size=20, action_s=120)
    info = await serve(traders)
    start = traders.clock.ms()
    async with info.http.post(f"{info.url}/control/traders", params={"advance": "3600"}) as response:
        assert response.status == 200
        body = await response.json()
    assert body["now_ms"] == start + 3_600_000 and body["population"]["fills"] > 0
    assert (await info.stats())["hyperliquid"]["population"] == traders.stats()
    async with info.http.post(f"{info.url}/control/traders", params={"advance": "-5"}) as response:
        assert response.status == 400
