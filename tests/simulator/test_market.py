"""The simulated market looks like one: every venue of a base asset trades around one price path, a
few basis points apart, so one minute's trades across venues span what a real market's would; the
same seed gives the same numbers; a price never reaches zero however long it runs."""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from decimal import Decimal

import pytest

from services.simulator.clock import SimClock
from services.simulator.market import MAX_BASIS, TICK, VOLATILITY, PricePath, base_asset
from services.simulator.population import Population
from services.simulator.tape import Fill, Tape

START_MS = 4_000_000_000_000  # 2096: ahead of the wall clock, so a tape's time is the one set here
MINUTE_MS = 60_000
STARTS = {"BTC": Decimal(65000), "ETH": Decimal(3200), "SOL": Decimal(150)}


def markets(asset: str) -> list[tuple[str, str]]:
    """(venue, symbol) of every simulated market of the asset, perpetuals and spot."""
    pair = f"{asset}USDT"
    return [("binance", pair), ("binance_spot", pair), ("bybit", pair), ("bybit_spot", pair),
            ("okx", f"{asset}-USDT-SWAP"), ("okx", f"{asset}-USDT"), ("hyperliquid", asset),
            ("deribit", f"{asset}-PERPETUAL")]


def trade_at(tape: Tape, ms: int) -> Fill:
    tape.time_ms = ms  # the tape's clock: never behind the wall clock, which START_MS is far ahead of
    return tape.trade()


@pytest.mark.parametrize("asset", sorted(STARTS))
def test_every_venue_trades_within_two_percent_of_the_others_in_any_minute(asset: str) -> None:
    tapes = [Tape(venue, symbol, 1) for venue, symbol in markets(asset)]
    traders = Population(1, 20, ["BTC", "ETH", "SOL"], STARTS, clock=SimClock(speed=0, start_ms=START_MS))
    highs: dict[int, Decimal] = {}
    lows: dict[int, Decimal] = defaultdict(lambda: Decimal("Infinity"))
    for ms in range(START_MS, START_MS + 6 * 3600_000, 2_000):  # six hours: calm hours and bursts
        minute = ms // MINUTE_MS
        prices = [trade_at(tape, ms).price for tape in tapes] + [traders.mark(asset, ms)]  # + Hyperliquid's
        highs[minute] = max(highs.get(minute, Decimal(0)), *prices)
        lows[minute] = min(lows[minute], *prices)
    spans = {minute: highs[minute] / lows[minute] - 1 for minute in highs}
    assert max(spans.values()) <= Decimal("0.02"), max(spans.items(), key=lambda item: item[1])
    assert all(STARTS[asset] * Decimal("0.8") < low for low in lows.values())  # a realistic level
    assert all(high < STARTS[asset] * Decimal("1.25") for high in highs.values())


@pytest.mark.parametrize(("perp", "spot"), [(("binance", "BTCUSDT"), ("binance_spot", "BTCUSDT")),
                                            (("bybit", "ETHUSDT"), ("bybit_spot", "ETHUSDT")),
                                            (("okx", "SOL-USDT-SWAP"), ("okx", "SOL-USDT"))])
def test_spot_and_perp_of_a_venue_stay_within_the_basis_bound(perp: tuple[str, str],
                                                              spot: tuple[str, str]) -> None:
    perp_tape, spot_tape = Tape(*perp, 3), Tape(*spot, 3)
    gaps = []
    for ms in range(START_MS, START_MS + 24 * 3600_000, 10_000):  # a day, every 10 s
        for tape in (perp_tape, spot_tape):
            tape.time_ms = ms
            mark, index, _ = tape.mark()
            # a market's mid strays from the asset's path (its index) by its basis at most
            assert abs(mark / index - 1) <= Decimal(MAX_BASIS) + 2 * TICK / index
        gap = perp_tape.quote.mid / spot_tape.quote.mid - 1
        assert abs(gap) <= Decimal(2 * MAX_BASIS) + 2 * TICK / spot_tape.quote.mid
        gaps.append(float(gap))
    assert statistics.pstdev(gaps) > 0  # the basis moves, slowly


def test_a_venue_trades_at_its_bid_and_ask_a_few_ticks_apart() -> None:
    tape = Tape("binance", "BTCUSDT", 5)
    fills = [trade_at(tape, START_MS + 50 * n) for n in range(1000)]
    assert {f.buy for f in fills} == {True, False}
    for before, after in zip(fills, fills[1:], strict=False):
        if after.ms // 100 == before.ms // 100:  # one quote: at most one tick beyond each side
            assert abs(after.price - before.price) <= 3 * TICK


def test_the_same_seed_gives_the_same_numbers_and_another_seed_others() -> None:
    def run(seed: int) -> list[tuple[int, Decimal, Decimal, bool, int]]:
        tape = Tape("okx", "ETH-USDT-SWAP", seed)
        fills = [trade_at(tape, START_MS + 700 * n) for n in range(2000)]
        return [(f.id, f.price, f.size, f.buy, f.ms) for f in fills]

    assert run(11) == run(11)
    assert [price for _, price, *_ in run(11)] != [price for _, price, *_ in run(12)]
    forward, backward = PricePath(11, "ETH"), PricePath(11, "ETH")
    times = range(START_MS, START_MS + 3600_000, 7_000)
    # a pure function of (seed, asset, time): read backwards, it gives the same path
    assert [forward.factor(ms) for ms in times] == [backward.factor(ms) for ms in reversed(times)][::-1]


def test_a_price_never_reaches_zero_and_moves_like_a_market() -> None:
    for asset in ("BTC", "SOL", "NEWCOIN"):
        path = PricePath(2, asset)
        factors = [path.factor(ms) for ms in range(START_MS, START_MS + 365 * 86_400_000, 600_000)]
        assert path.low <= min(factors) and max(factors) <= path.high  # a year, every 10 minutes
        assert path.low > 0.5 and path.high < 2
        minutes = [math.log(path.factor(START_MS + m * MINUTE_MS)) for m in range(3 * 1440)]
        moves = [b - a for a, b in zip(minutes, minutes[1:], strict=False)]
        vol = VOLATILITY.get(asset, 0.0015)
        assert 0.8 * vol < statistics.pstdev(moves) < 2 * vol  # calm minutes at vol, bursts above
    tape = Tape("bybit_spot", "SOLUSDT", 2)
    assert all(trade_at(tape, START_MS + h * 3600_000).price > 0 for h in range(24 * 365))
    assert all(tape.liquidation().price > 0 for _ in range(100))


def test_symbols_of_every_venue_name_their_base_asset() -> None:
    names = ["BTCUSDT", "BTC-USDT-SWAP", "BTC-USDT", "BTC_USDC-PERPETUAL", "BTC-PERPETUAL", "BTC", "btcusdc"]
    assert {base_asset(name) for name in names} == {"BTC"}
    assert base_asset("SOLUSDT") == "SOL" and base_asset("ETH-USD-SWAP") == "ETH"
