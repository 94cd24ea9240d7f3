"""The spike detector on constructed series: nothing below the threshold, one alert at the
spike; bar closes and OI changes that feed it. Pure: no I/O."""

from __future__ import annotations

from decimal import Decimal

from services.processor.spikes import (
    ClosedBars,
    OpenInterestCloses,
    SpikeDetector,
    mean_stdev,
    spike_alert,
    with_empty_buckets,
)
from shared.candles import INTERVAL_US
from shared.events import Candle, OpenInterest

D = Decimal
T0 = 1_704_067_200_000_000
FIVE = INTERVAL_US["5m"]
THRESHOLDS = {"5m": D("3.0"), "15m": D("2.5"), "1h": D("2.0")}
VOLUME_5M = ("binance", "BTC-USDT-PERP", "volume", "5m")


def calm(n: int) -> list[Decimal]:
    """10, 12, 10, 12, ...: mean 11, population stdev exactly 1."""
    return [D(10) if i % 2 == 0 else D(12) for i in range(n)]


def test_mean_and_stdev_are_exact() -> None:
    assert mean_stdev(calm(40)) == (D(11), D(1))
    mean, stdev = mean_stdev([D("0.1"), D("0.2"), D("0.3")])
    assert mean == D("0.2") and stdev * stdev - D("0.02") / 3 < D("1e-50")


def test_constructed_series_alerts_once_at_the_spike() -> None:
    detector = SpikeDetector(100, THRESHOLDS, min_points=20)
    series = calm(40) + [D("13.9"), D(11), D(40)] + calm(20)
    spikes = [
        (i, s)
        for i, x in enumerate(series)
        if (s := detector.observe(VOLUME_5M, T0 + i * FIVE, x, recv_ts=0)) is not None
    ]
    assert [i for i, _ in spikes] == [42]  # 13.9 is z = 2.9 < 3: nothing; 40 is the one spike
    spike = spikes[0][1]
    # window before 40: forty calm points, 13.9 and 11 (42 points)
    mean = (D(11) * 40 + D("13.9") + D(11)) / 42
    assert spike.mean == mean.quantize(D("1e-12"))
    assert (spike.metric, spike.interval, spike.ts, spike.value, spike.threshold) == (
        "volume",
        "5m",
        T0 + 42 * FIVE,
        D(40),
        D("3.0"),
    )
    assert spike.z > 3 and abs(spike.z - (D(40) - mean) / spike.stdev) < D("1e-6")


def test_the_threshold_is_inclusive_and_per_interval() -> None:
    for interval, value, expected in [
        ("5m", "14", True),
        ("5m", "13.99", False),
        ("1h", "13", True),
        ("1h", "12.99", False),
        ("15m", "13.5", True),
        ("4h", "100", False),
    ]:
        detector = SpikeDetector(100, THRESHOLDS, min_points=20)
        key = ("okx", "ETH-USDT-PERP", "volume", interval)
        for i, x in enumerate(calm(40)):
            assert detector.observe(key, i, x, 0) is None
        spike = detector.observe(key, 99, D(value), 0)
        assert (spike is not None) is expected, (interval, value)


def test_no_z_before_min_points_or_without_spread() -> None:
    detector = SpikeDetector(100, THRESHOLDS, min_points=20)
    for i, x in enumerate(calm(19)):
        detector.observe(VOLUME_5M, i, x, 0)
    assert detector.observe(VOLUME_5M, 19, D(1000), 0) is None  # 19 points before it
    flat = SpikeDetector(100, THRESHOLDS, min_points=5)
    for i in range(10):
        flat.observe(VOLUME_5M, i, D(7), 0)
    assert flat.observe(VOLUME_5M, 10, D(1000), 0) is None  # stdev 0: no z


def test_window_rolls_over_100_points() -> None:
    detector = SpikeDetector(100, THRESHOLDS, min_points=20)
    for i in range(100):
        detector.observe(VOLUME_5M, i, D(1000) if i < 10 else calm(100)[i], 0)
    # the ten big points have been pushed out by now: 100 more calm points later, 14 is a spike again
    for i in range(100, 200):
        detector.observe(VOLUME_5M, i, calm(200)[i], 0)
    assert detector.observe(VOLUME_5M, 200, D(14), 0) is not None


def test_volume_spikes_are_upward_oi_spikes_both_ways() -> None:
    volume = SpikeDetector(100, THRESHOLDS, min_points=20)
    oi = SpikeDetector(100, THRESHOLDS, min_points=20)
    key_oi = ("bybit", "BTC-USDT-PERP", "oi", "5m")
    for i, x in enumerate(calm(40)):
        volume.observe(VOLUME_5M, i, x, 0)
        oi.observe(key_oi, i, x, 0)
    assert volume.observe(VOLUME_5M, 40, D(0), 0) is None  # z = -11: quiet, not a spike
    drop = oi.observe(key_oi, 40, D(0), 0)
    assert drop is not None and drop.z == D("-11.000000")
    alert = spike_alert(drop)
    assert alert.key == f"spike:oi:bybit:BTC-USDT-PERP:5m:{40}" and alert.severity == "warning"


def candle(ts: int, volume: str, interval: str = "5m") -> Candle:
    return Candle(
        exchange="binance",
        symbol="BTC-USDT-PERP",
        raw_symbol="X",
        interval=interval,
        open=D(1),
        high=D(1),
        low=D(1),
        close=D(1),
        volume=D(volume),
        source="derived",
        ts=ts,
        recv_ts=ts,
    )


def test_closed_bars_report_the_final_version_and_zero_for_empty_buckets() -> None:
    closes = ClosedBars(["5m"])
    assert closes.update(candle(T0, "1")) == []
    assert closes.update(candle(T0, "2")) == []  # the open bar grew
    assert closes.update(candle(T0 + FIVE, "5")) == [(T0, D(2))]
    assert closes.update(candle(T0, "9")) == []  # a late trade: already reported
    assert closes.update(candle(T0 + 4 * FIVE, "1")) == [
        (T0 + FIVE, D(5)),
        (T0 + 2 * FIVE, D(0)),
        (T0 + 3 * FIVE, D(0)),
    ]
    assert closes.update(candle(T0, "1", interval="1m")) == []  # not watched


def test_history_gets_zeros_for_buckets_without_a_bar() -> None:
    history = [(T0, D(3)), (T0 + 3 * FIVE, D(4))]
    assert with_empty_buckets(history, "5m", T0 + 5 * FIVE, 100) == [D(3), D(0), D(0), D(4), D(0)]
    assert with_empty_buckets(history, "5m", T0 + 5 * FIVE, 3) == [D(0), D(4), D(0)]
    assert with_empty_buckets([], "5m", T0, 100) == []


def oi(ts: int, base: str) -> OpenInterest:
    return OpenInterest(
        exchange="okx",
        symbol="BTC-USDT-PERP",
        raw_symbol="BTC-USDT-SWAP",
        contracts=D(base) * 100,
        base=D(base),
        ts=ts,
        recv_ts=ts,
    )


def test_oi_points_are_changes_between_bucket_closes() -> None:
    closes = OpenInterestCloses(["5m"])
    assert closes.update(oi(T0 + 10, "100")) == []
    assert closes.update(oi(T0 + 200, "101")) == []  # the close of bucket 0 so far
    # bucket 0 closed at 101: the first level, no change yet
    assert closes.update(oi(T0 + FIVE + 1, "103")) == []
    assert closes.update(oi(T0 + 2 * FIVE, "99.5")) == [("5m", (T0 + FIVE, D(2)))]  # 103 - 101
    assert closes.update(oi(T0 + FIVE + 5, "1")) == []  # late: ignored
    assert closes.update(oi(T0 + 5 * FIVE, "90")) == [("5m", (T0 + 2 * FIVE, D("-3.5")))]  # 99.5 - 103
    assert closes.update(oi(T0 + 6 * FIVE, "91")) == []  # buckets 3 and 4 had no OI: no change across the gap
    assert closes.update(oi(T0 + 7 * FIVE, "95")) == [("5m", (T0 + 6 * FIVE, D(1)))]
