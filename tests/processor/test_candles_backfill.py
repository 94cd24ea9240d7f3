"""A backfill publishes trades the candle builder may have folded already (the overlap of a REST
page with what the socket gave): they must leave the bars as they were."""

from __future__ import annotations

import random
from decimal import Decimal

import msgspec

from services.processor.candles import CandleBuilder
from shared.events import Candle, Trade

MINUTE_US = 60_000_000
T0 = 1_700_000_040 * 1_000_000  # a minute boundary


def trade(n: int, recv_ts: int) -> Trade:
    return Trade(exchange="binance", symbol="BTC-USDT-PERP", raw_symbol="BTCUSDT", trade_id=str(1000 + n),
                 price=Decimal(60_000 + (n * 7) % 13), size=Decimal("0.001") * (n % 5 + 1),
                 side="buy" if n % 2 else "sell", ts=T0 + n * 1_500_000, recv_ts=recv_ts)


def bars(builder: CandleBuilder) -> list[tuple[object, ...]]:
    return [tuple(v for k, v in msgspec.structs.asdict(c).items() if k != "recv_ts") for c in builder.dirty()]


def test_a_backfilled_overlap_leaves_candles_unchanged() -> None:
    live = [trade(n, T0 + n * 1_500_000 + 5) for n in range(80)]  # two minutes and a bit
    builder = CandleBuilder()
    assert builder.fold(live) == 80
    before = builder.dirty()
    builder.clean(before)
    overlap = [trade(n, T0 + 10 * MINUTE_US) for n in range(20, 60)]  # fetched again later
    assert builder.fold(overlap) == 0
    assert builder.dirty() == []  # nothing changed, nothing re-emitted
    again = CandleBuilder()
    again.fold(live)
    assert again.dirty() == before


def test_a_healed_hole_gives_the_candles_of_the_whole_tape() -> None:
    tape = [trade(n, T0 + n * 1_500_000 + 5) for n in range(80)]
    hole = set(range(30, 36))
    builder = CandleBuilder()
    builder.fold([t for n, t in enumerate(tape) if n not in hole])  # the socket lost six trades
    builder.fold([trade(n, T0 + 10 * MINUTE_US) for n in range(25, 41)])  # backfill: the hole and around it
    whole = CandleBuilder()
    whole.fold(tape)
    assert bars(builder) == bars(whole)
    assert all(isinstance(c, Candle) for c in builder.dirty())
    assert sum(c.trades or 0 for c in builder.dirty()) == 80


def test_bars_do_not_depend_on_arrival_order_or_batching() -> None:
    """Trades of several minutes and two symbols, shuffled and cut into batches of any size, one trade
    at a time or all at once, with redeliveries mixed in: the very same bars."""
    rng = random.Random(7)
    tape = [trade(n, T0 + n * 1_500_000 + 5) for n in range(200)]
    tape += [msgspec.structs.replace(t, symbol="ETH-USDT-PERP", trade_id=str(int(t.trade_id) * 3))
             for t in tape[::3]]
    whole = CandleBuilder(memory_minutes=60)
    assert whole.fold(tape) == len(tape)
    expected = bars(whole)
    for batch_size in (1, 7, 64):
        shuffled = tape + rng.sample(tape, 50)  # redelivered
        rng.shuffle(shuffled)
        builder = CandleBuilder(memory_minutes=60)
        new = sum(builder.fold(shuffled[i:i + batch_size]) for i in range(0, len(shuffled), batch_size))
        assert new == len(tape)
        assert bars(builder) == expected, f"batches of {batch_size}"
