"""The Hyperliquid trader population: deterministic from its seed, positions that open, grow, shrink,
flip, close and get liquidated over simulated time, fills that add up to the positions, and trades
whose two sides are the two fills."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from decimal import Decimal
from typing import Any

from services.simulator.hyperliquid_info import InfoDesk
from services.simulator.population import Population
from services.simulator.trader import Trader
from tests.simulator.conftest import population

ADDRESS = re.compile(r"0x[0-9a-f]{40}")


def signed(fill: dict[str, Any]) -> Decimal:
    return Decimal(fill["sz"]) if fill["side"] == "B" else -Decimal(fill["sz"])


def kind(fill: dict[str, Any]) -> str:
    """What a fill did to its trader's position: open, increase, decrease, close, flip, liquidation."""
    start, direction = Decimal(fill["startPosition"]), fill["dir"]
    end = start + signed(fill)
    if direction.startswith("Liquidated"):
        return "liquidation"
    if ">" in direction:
        return "flip"
    if direction.startswith("Open"):
        return "open" if start == 0 else "increase"
    return "close" if end == 0 else "decrease"


def everyone(traders: Population) -> list[Trader]:
    traders.settle()
    return traders.traders


def test_addresses_are_deterministic_lower_case_and_distinct(make_settings: Any) -> None:
    first, again, other = population(seed=7), population(seed=7), population(seed=8)
    assert first.addresses == again.addresses
    assert not set(first.addresses) & set(other.addresses)
    assert all(ADDRESS.fullmatch(a) for a in first.addresses)
    desk = InfoDesk(make_settings())  # settings.simulator.traders, 5,000 by default
    assert len(set(desk.population.addresses)) == 5000


def test_the_same_seed_lives_the_same_history_however_often_it_is_read() -> None:
    once, in_steps = population(seed=3, action_s=300), population(seed=3, action_s=300)
    once.advance(7200)
    for _ in range(24):
        in_steps.advance(300)
        in_steps.trader(in_steps.addresses[5])  # reads settle; they must change nothing
    assert once.stats() == in_steps.stats()
    for a, b in zip(everyone(once), everyone(in_steps), strict=True):
        assert (a.positions, a.fill_bytes, a.balance) == (b.positions, b.fill_bytes, b.balance)
        assert a.equity == b.equity


def test_positions_open_grow_shrink_flip_close_and_get_liquidated_and_fills_add_up() -> None:
    traders = population(size=60, action_s=120)
    traders.advance(3 * 3600)
    kinds: Counter[str] = Counter()
    for trader in everyone(traders):
        held: dict[str, Decimal] = {}
        truncated = trader.fill_count > len(trader.fill_bytes)  # a busy maker: only the newest are kept
        for fill in trader.fills():
            if fill["coin"] not in held:
                held[fill["coin"]] = Decimal(fill["startPosition"]) if truncated else Decimal(0)
            assert Decimal(fill["startPosition"]) == held[fill["coin"]], fill  # each fill starts where we are
            held[fill["coin"]] += signed(fill)
            if fill["dir"].startswith("Liquidated"):
                assert held[fill["coin"]] == 0, "a liquidation takes the whole position"
            if not trader.maker:
                kinds[kind(fill)] += 1
        assert {c: p.size for c, p in trader.positions.items()} == {c: s for c, s in held.items() if s}
    assert set(kinds) == {"open", "increase", "decrease", "close", "flip", "liquidation"}, kinds


def test_both_sides_of_a_trade_are_the_two_fills_of_one_tid() -> None:
    traders = population(size=40, action_s=120)
    traders.advance(3600)
    by_tid: dict[int, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
    for trader in everyone(traders):
        for fill in trader.fills():
            by_tid[fill["tid"]].append((trader.address, fill))
    assert by_tid and all(len(pair) == 2 for pair in by_tid.values())
    for (_, a), (_, b) in by_tid.values():
        assert {a["crossed"], b["crossed"]} == {True, False}  # a taker and a maker
        assert {a["side"], b["side"]} == {"A", "B"}
        assert (a["px"], a["sz"], a["time"], a["hash"]) == (b["px"], b["sz"], b["time"], b["hash"])
        assert a.get("liquidation") == b.get("liquidation")
    liquidations = [pair for pair in by_tid.values() if "liquidation" in pair[0][1]]
    assert liquidations
    for pair in liquidations:
        taker = next(address for address, fill in pair if fill["crossed"])
        assert pair[0][1]["liquidation"]["liquidatedUser"] == taker
        assert pair[0][1]["liquidation"]["method"] == "market"


def test_the_trades_feed_names_the_buyer_and_the_seller_of_each_fill() -> None:
    traders = population(size=40, action_s=120)
    traders.advance(600)
    shown = []
    for coin in traders.coins:
        while (trade := traders.next_trade(coin)) is not None:
            shown.append(trade)
    assert shown
    fills = {(t.address, f["tid"]): f for t in everyone(traders) for f in t.fills()}
    for trade in shown:
        buyer, seller = trade["users"]
        assert fills[(buyer, trade["tid"])]["side"] == "B"
        assert fills[(seller, trade["tid"])]["side"] == "A"
        assert fills[(buyer, trade["tid"])]["px"] == trade["px"]
        assert fills[(buyer, trade["tid"])]["sz"] == trade["sz"]


def test_scripted_moves_open_flip_close_and_liquidate_a_trader() -> None:
    traders = population(size=5, action_s=1e9)  # nobody acts on their own
    address = next(t.address for t in traders.traders if not t.maker)
    steps = [(Decimal("1.5"), "Open Long"), (Decimal("2"), "Open Long"), (Decimal("-0.5"), "Long > Short"),
             (Decimal(0), "Close Short"), (Decimal("0.25"), "Open Long")]
    for size, direction in steps:
        traders.advance(60)
        fill = traders.move(address, "BTC", size)
        assert fill is not None and fill["dir"] == direction
        assert traders.trader(address).positions.get("BTC", None) is None if size == 0 else (
            traders.trader(address).positions["BTC"].size == size)
    traders.advance(60)
    fill = traders.liquidate(address, "BTC")
    trader = traders.trader(address)
    assert fill["dir"] in ("Liquidated Cross Long", "Liquidated Isolated Long")
    assert fill["liquidation"]["liquidatedUser"] == address and "BTC" not in trader.positions
    assert trader.liquidations == 1


def test_a_fifty_times_position_is_liquidated_when_the_price_reaches_its_liquidation_price() -> None:
    traders = population(size=5, action_s=1e9, check_s=30)
    trader = next(t for t in traders.traders if not t.maker)
    trader.leverage = 50
    traders.move(trader.address, "BTC", Decimal("0.5"))
    traders.move(trader.address, "ETH", Decimal("-5"))
    limits = {c: p.liquidation_price for c, p in trader.positions.items()}
    for _ in range(24 * 60):
        traders.advance(60)
        if not trader.positions:
            break
    liquidated = {f["coin"]: f for f in trader.fills() if f["dir"].startswith("Liquidated")}
    assert set(liquidated) == {"BTC", "ETH"}
    assert Decimal(liquidated["BTC"]["px"]) <= limits["BTC"]  # a long goes when the mark falls to it
    assert Decimal(liquidated["ETH"]["px"]) >= limits["ETH"]
