"""Candle building checked against a hand-computed series (a late trade, an empty minute),
UTC-aligned rollups and the volume-weighted multi-exchange candle. Pure: no I/O."""

from __future__ import annotations

from decimal import Decimal

import msgspec
import pytest

from services.processor.candles import CandleBuilder, rollup
from shared.candles import INTERVAL_US, MINUTE_US, bucket_start, combine, combine_series
from shared.events import Candle, Trade

T0 = 1_704_067_200_000_000  # 2024-01-01 00:00:00 UTC
S = 1_000_000
D = Decimal


def trade(trade_id: str, ts: int, price: str, size: str, side: str, exchange: str = "binance") -> Trade:
    return Trade(
        exchange=exchange,
        symbol="BTC-USDT-PERP",
        raw_symbol="BTCUSDT",
        trade_id=trade_id,
        price=D(price),
        size=D(size),
        side=side,
        ts=ts,
        recv_ts=ts + 1000,
    )


# minute 0: four trades; minute 1: two; minute 2: none; minute 3: one; then a late trade for minute 0
MINUTE0 = [
    trade("1", T0 + 1 * S, "100", "1", "buy"),
    trade("2", T0 + 10 * S, "105", "0.5", "sell"),
    trade("3", T0 + 30 * S, "98", "2", "buy"),
    trade("4", T0 + 50 * S, "101", "0.25", "sell"),
]
MINUTE1 = [trade("5", T0 + 65 * S, "102", "1", "buy"), trade("6", T0 + 100 * S, "103.5", "0.1", "buy")]
MINUTE3 = [trade("7", T0 + 182 * S, "99", "3", "sell")]
LATE = trade("8", T0 + 55 * S, "110", "0.5", "buy")


def ohlcv(bar: Candle) -> tuple[object, ...]:
    return (
        bar.ts,
        bar.open,
        bar.high,
        bar.low,
        bar.close,
        bar.volume,
        bar.trades,
        bar.buy_volume,
        bar.closed,
    )


def test_hand_computed_series_with_a_late_trade_and_an_empty_minute() -> None:
    builder = CandleBuilder()
    builder.fold(MINUTE0)
    first = builder.dirty()
    assert [ohlcv(b) for b in first] == [(T0, D(100), D(105), D(98), D(101), D("3.75"), 4, D(3), False)]
    assert (first[0].source, first[0].interval, first[0].recv_ts) == ("derived", "1m", T0 + 50 * S + 1000)
    builder.clean(first)

    builder.fold(MINUTE1)
    second = builder.dirty()  # minute 0 is re-emitted once: it is closed now
    assert [ohlcv(b) for b in second] == [
        (T0, D(100), D(105), D(98), D(101), D("3.75"), 4, D(3), True),
        (T0 + MINUTE_US, D(102), D("103.5"), D(102), D("103.5"), D("1.1"), 2, D("1.1"), False),
    ]
    builder.clean(second)

    builder.fold(MINUTE3)
    third = builder.dirty()
    assert [b.ts for b in third] == [T0 + MINUTE_US, T0 + 3 * MINUTE_US]  # minute 2 has no bar at all
    assert ohlcv(third[1]) == (T0 + 3 * MINUTE_US, D(99), D(99), D(99), D(99), D(3), 1, D(0), False)
    builder.clean(third)

    assert builder.fold([LATE]) == 1
    late = builder.dirty()  # the late trade re-emits minute 0 with it: new high, new close (ts 55s > 50s)
    assert [ohlcv(b) for b in late] == [(T0, D(100), D(110), D(98), D(110), D("4.25"), 5, D("3.5"), True)]
    builder.clean(late)

    assert builder.fold([LATE, *MINUTE1]) == 0  # redelivered: counted once
    assert builder.dirty() == []


def test_open_and_close_follow_trade_time_not_arrival() -> None:
    builder = CandleBuilder()
    builder.fold(
        [
            trade("11", T0 + 20 * S, "50", "1", "buy"),
            trade("10", T0 + 20 * S, "51", "1", "buy"),
            trade("9", T0 + 20 * S, "52", "1", "buy"),
        ]
    )
    builder.fold([trade("12", T0 + 5 * S, "49", "1", "sell")])  # late within the minute: the new open
    [bar] = builder.dirty()
    # ties by numeric id: 9 < 10 < 11
    assert (bar.open, bar.close, bar.low, bar.high) == (
        D(49),
        D(50),
        D(49),
        D(52),
    )


def test_cold_minutes_are_the_first_one_earlier_ones_and_evicted_ones() -> None:
    builder = CandleBuilder(memory_minutes=2)
    # never seen: maybe half stored
    assert builder.cold_keys(MINUTE0[:1]) == [("binance", "BTC-USDT-PERP", T0)]
    builder.fold(MINUTE0)
    assert builder.cold_keys(MINUTE1) == []  # after the first minute every trade came through us
    builder.fold(MINUTE1 + MINUTE3)
    builder.fold([trade("20", T0 + 5 * MINUTE_US, "1", "1", "buy")])
    builder.clean(builder.dirty())  # minute 0 and 1 now fall behind the 2-minute memory
    assert builder.cold_keys([LATE]) == [("binance", "BTC-USDT-PERP", T0)]
    assert builder.cold_keys([trade("21", T0 - MINUTE_US, "1", "1", "buy")]) == [
        ("binance", "BTC-USDT-PERP", T0 - MINUTE_US)
    ]
    # an empty minute, within memory
    assert builder.cold_keys([trade("22", T0 + 4 * MINUTE_US, "1", "1", "buy")]) == []


def test_reopened_minutes_are_the_closed_ones_a_trade_comes_back_to() -> None:
    builder = CandleBuilder()
    builder.fold(MINUTE0 + MINUTE1[:1])
    assert builder.reopened_keys([LATE, MINUTE1[1]]) == [("binance", "BTC-USDT-PERP", T0)]  # minute 1 is open
    builder.fold(MINUTE3)
    assert builder.reopened_keys(MINUTE1) == [("binance", "BTC-USDT-PERP", T0 + MINUTE_US)]
    assert builder.reopened_keys(MINUTE1[:1] + MINUTE0) == []  # counted already: an overlap
    assert builder.reopened_keys([trade("9", T0 + 2 * MINUTE_US, "1", "1", "buy")]) == [
        ("binance", "BTC-USDT-PERP", T0 + 2 * MINUTE_US)  # an empty closed minute: storage may hold some
    ]


def final_bars() -> list[Candle]:
    builder = CandleBuilder()
    builder.fold(MINUTE0 + MINUTE1 + MINUTE3 + [LATE])
    return builder.dirty()


def test_rollup_over_an_empty_minute_is_still_right() -> None:
    [five] = rollup(final_bars(), "5m")
    # open: minute 0's open; close: minute 3's close (minute 2 is empty); sums over the present minutes
    assert ohlcv(five) == (T0, D(100), D(110), D(98), D(99), D("8.35"), 8, D("4.6"), True)
    assert (five.interval, five.source) == ("5m", "derived")
    [still_open] = rollup(final_bars(), "5m", {("binance", "BTC-USDT-PERP"): T0 + 182 * S})
    assert not still_open.closed
    [done] = rollup(final_bars(), "5m", {("binance", "BTC-USDT-PERP"): T0 + 5 * MINUTE_US})
    assert done.closed


@pytest.mark.parametrize("interval", ["15m", "1h", "4h", "1d"])
def test_rollup_of_rollups_equals_rollup_of_minutes(interval: str) -> None:
    bars = final_bars() + [
        Candle(
            exchange="binance",
            symbol="BTC-USDT-PERP",
            raw_symbol="BTCUSDT",
            interval="1m",
            open=D(1),
            high=D(3),
            low=D("0.5"),
            close=D(2),
            volume=D("0.1"),
            trades=1,
            buy_volume=D(0),
            source="derived",
            ts=T0 + n * 7 * MINUTE_US,
            recv_ts=T0,
        )
        for n in range(1, 40)
    ]
    staged = bars
    for step in ["5m", "15m", "1h", "4h", "1d"]:  # what the processor does: each level from the finer one
        staged = rollup(staged, step)
        if step == interval:
            break
    assert staged == rollup(bars, interval)
    assert len(staged) > 1 or interval in ("4h", "1d")


def test_buckets_align_to_utc() -> None:
    before_midnight = T0 - 2 * MINUTE_US  # 2023-12-31 23:58 UTC
    assert bucket_start(before_midnight, "1d") == T0 - INTERVAL_US["1d"]
    assert bucket_start(before_midnight, "4h") == T0 - INTERVAL_US["4h"]  # 20:00 UTC
    assert bucket_start(T0 + 3 * 3600 * S + 59 * S, "1h") == T0 + 3 * 3600 * S
    first = final_bars()[0]
    days = rollup([first, _at(first, before_midnight)], "1d")
    assert [b.ts for b in days] == [T0 - INTERVAL_US["1d"], T0]


def _at(bar: Candle, ts: int) -> Candle:
    return msgspec.structs.replace(bar, ts=ts)


def bar(exchange: str, open_: str, close: str, high: str, low: str, volume: str, trades: int = 1) -> Candle:
    return Candle(
        exchange=exchange,
        symbol="BTC-USDT-PERP",
        raw_symbol="X",
        interval="1m",
        open=D(open_),
        high=D(high),
        low=D(low),
        close=D(close),
        volume=D(volume),
        trades=trades,
        buy_volume=D(volume) / 2,
        source="derived",
        ts=T0,
        recv_ts=T0,
    )


def test_multi_exchange_candle_is_volume_weighted() -> None:
    multi = combine(
        [bar("binance", "100", "101", "106", "99", "3", 5), bar("bybit", "102", "99", "103", "97", "1", 2)]
    )
    # open = (100*3 + 102*1) / 4, close = (101*3 + 99*1) / 4; highest high, lowest low; sums
    assert (multi.open, multi.close, multi.high, multi.low) == (D("100.5"), D("100.5"), D(106), D(97))
    assert (multi.volume, multi.trades, multi.buy_volume, multi.exchanges) == (
        D(4),
        7,
        D(2),
        ["binance", "bybit"],
    )


def test_weighted_prices_of_a_tiny_token_keep_18_places() -> None:
    """(0.00001234*1 + 0.00001235*2) / 3 = 0.0000123466666...: 28 digits would be 32 places,
    more than the store takes; half-even at the 18th place."""
    multi = combine([bar("binance", "0.00001234", "0.00001234", "0.00001234", "0.00001234", "1"),
                     bar("bybit", "0.00001235", "0.00001235", "0.00001235", "0.00001235", "2")])
    assert multi.open == multi.close == D("0.000012346666666667")


def test_multi_exchange_candle_without_volume_is_a_plain_mean() -> None:
    multi = combine(
        [bar("binance", "100", "100", "100", "100", "0"), bar("okx", "103", "103", "103", "103", "0")]
    )
    assert (multi.open, multi.close, multi.volume) == (D("101.5"), D("101.5"), D(0))


def test_multi_series_groups_by_open_time_and_refuses_mixed_bars() -> None:
    later = _at(bar("okx", "1", "1", "1", "1", "1"), T0 + MINUTE_US)
    series = combine_series(
        [later, bar("binance", "2", "2", "2", "2", "1"), bar("okx", "4", "4", "4", "4", "3")]
    )
    assert [(m.ts, m.open, m.exchanges) for m in series] == [
        (T0, D("3.5"), ["binance", "okx"]),
        (T0 + MINUTE_US, D(1), ["okx"]),
    ]
    with pytest.raises(ValueError):
        combine([bar("binance", "1", "1", "1", "1", "1"), later])
