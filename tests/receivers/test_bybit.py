"""Bybit v5 public frames -> events, against the documented frames in tests/fixtures/bybit/.

Fixture sources (compact wire form of each example):
- publicTrade, kline, tickers_snapshot, tickers_spot, allLiquidation: the response examples of
  https://bybit-exchange.github.io/docs/v5/websocket/public/{trade,kline,ticker,all-liquidation}
- pong_linear, pong_spot, subscribe: https://bybit-exchange.github.io/docs/v5/ws/connect
- tickers_delta: the docs show no linear delta; this is the captured XRPUSDT delta quoted in
  cryptofeed's exchanges/bybit.py (fields absent = unchanged, as the ticker page says).
"""
from __future__ import annotations

import json
from decimal import Decimal as D

import pytest
from hypothesis import given, settings

from services.receivers.exchanges import bybit
from services.receivers.frames import FrameError
from shared.events import Candle, FundingRate, Liquidation, MarkPrice, OpenInterest, SpotPrice, Trade
from tests.fixtures import frame
from tests.receivers.frame_checks import FUZZ, RECV_TS, assert_event, broken_frames, only_frame_errors

NAMES = ("publicTrade", "kline", "tickers_snapshot", "tickers_delta", "tickers_spot", "allLiquidation",
         "pong_linear", "pong_spot", "subscribe")
TRADE_ID = "20f43950-d8dd-5b31-9112-a178eb6023af"


@pytest.mark.parametrize(
    ("parse", "symbol"), [(bybit.parse_frame, "BTC-USDT-PERP"), (bybit.parse_frame_spot, "BTC-USDT")]
)
def test_public_trade(parse, symbol: str) -> None:
    """Spot trades have the linear wire format; only the symbol differs."""
    [trade] = parse(frame("bybit", "publicTrade"), RECV_TS)
    assert_event(trade, Trade, exchange="bybit", symbol=symbol, raw_symbol="BTCUSDT", trade_id=TRADE_ID,
                 price=D("16578.50"), size=D("0.001"), side="buy", raw_size=None, buyer=None, seller=None,
                 ts=1_672_304_486_865_000, seq=None, recv_ts=RECV_TS)


def test_kline_open_time_interval_and_confirm() -> None:
    [candle] = bybit.parse_kline(frame("bybit", "kline"), RECV_TS)
    assert_event(candle, Candle, exchange="bybit", symbol="BTC-USDT-PERP", raw_symbol="BTCUSDT",
                 interval="5m",
                 open=D("16649.5"), high=D("16677"), low=D("16608"), close=D("16677"), volume=D("2.081"),
                 trades=None, buy_volume=None, closed=False, source="exchange", ts=1_672_324_800_000_000,
                 recv_ts=RECV_TS)
    closed = frame("bybit", "kline").replace(b'"confirm":false', b'"confirm":true')
    assert [c.closed for c in bybit.parse_kline(closed, RECV_TS)] == [True]


def test_tickers_snapshot_gives_funding_mark_and_open_interest() -> None:
    funding, mark, oi = bybit.parse_tickers(frame("bybit", "tickers_snapshot"), RECV_TS)
    common = dict(exchange="bybit", symbol="BTC-USDT-PERP", raw_symbol="BTCUSDT", ts=1_673_272_861_686_000,
                  recv_ts=RECV_TS)
    assert_event(funding, FundingRate, rate=D("-0.000212"), interval_hours=D("8"), annualized=D("-0.232140"),
                 next_funding_ts=1_673_280_000_000_000, **common)
    assert_event(mark, MarkPrice, mark_price=D("17217.33"), index_price=D("17227.36"), **common)
    # a linear contract is one coin: contracts and base agree; the value is in USDT, taken as USD
    assert_event(oi, OpenInterest, contracts=D("68744.761"), base=D("68744.761"), usd=D("1183601235.91"),
                 **common)


def test_tickers_delta_emits_only_what_it_carries() -> None:
    [funding] = bybit.parse_tickers(frame("bybit", "tickers_delta"), RECV_TS)
    assert_event(funding, FundingRate, exchange="bybit", symbol="XRP-USDT-PERP", raw_symbol="XRPUSDT",
                 rate=D("0.0001"), interval_hours=D("8"), annualized=D("0.1095"), next_funding_ts=None,
                 ts=1_700_220_529_058_000, recv_ts=RECV_TS)
    # index price and OI value alone make nothing: MarkPrice needs the mark, OpenInterest the size
    partial = (b'{"topic":"tickers.XRPUSDT","type":"delta","data":{"symbol":"XRPUSDT","indexPrice":"0.6114",'
               b'"openInterestValue":"1000"},"cs":1,"ts":1700220529058}')
    assert bybit.parse_tickers(partial, RECV_TS) == []


def test_funding_interval_from_the_push_then_the_table_then_8_hours() -> None:
    raw, table = frame("bybit", "tickers_snapshot"), {"BTCUSDT": D("4")}
    funding = bybit.parse_tickers(raw, RECV_TS, funding_hours=table)[0]
    assert (funding.interval_hours, str(funding.annualized)) == (D("4"), "-0.464280")
    own = raw.replace(b'"fundingRate"', b'"fundingIntervalHour":"1","fundingRate"')
    assert bybit.parse_tickers(own, RECV_TS, funding_hours=table)[0].interval_hours == D("1")
    with pytest.raises(FrameError):
        zero = raw.replace(b'"fundingRate"', b'"fundingIntervalHour":"0","fundingRate"')
        bybit.parse_tickers(zero, RECV_TS)


def test_tickers_spot_is_a_spot_price() -> None:
    [price] = bybit.parse_frame_spot(frame("bybit", "tickers_spot"), RECV_TS)
    assert_event(price, SpotPrice, exchange="bybit", symbol="BTC-USDT", raw_symbol="BTCUSDT",
                 price=D("21109.77"), source="exchange", ts=1_673_853_746_003_000, recv_ts=RECV_TS)


def test_all_liquidation_flips_the_position_side() -> None:
    # "S":"Sell" = a short position was liquidated -> the liquidation order bought
    [liq] = bybit.parse_all_liquidation(frame("bybit", "allLiquidation"), RECV_TS)
    assert_event(liq, Liquidation, exchange="bybit", symbol="ROSE-USDT-PERP", raw_symbol="ROSEUSDT",
                 side="buy", price=D("0.04499"), size=D("20000"), usd_value=D("899.80000"), raw_size=None,
                 ts=1_739_502_302_929_000, recv_ts=RECV_TS)
    long = frame("bybit", "allLiquidation").replace(b'"S":"Sell"', b'"S":"Buy"')
    assert [e.side for e in bybit.parse_all_liquidation(long, RECV_TS)] == ["sell"]
    with pytest.raises(FrameError):
        bybit.parse_frame_spot(frame("bybit", "allLiquidation"), RECV_TS)


@pytest.mark.parametrize(
    "name", ["publicTrade", "kline", "tickers_snapshot", "tickers_delta", "allLiquidation"]
)
def test_parse_frame_dispatches_on_the_topic(name: str) -> None:
    raw = frame("bybit", name)
    channel = json.loads(raw)["topic"].split(".")[0]
    assert bybit.parse_frame(raw, RECV_TS) == bybit.CHANNELS[channel](raw, RECV_TS, "linear")
    assert bybit.parse_frame(raw.decode(), RECV_TS) == bybit.parse_frame(raw, RECV_TS)  # text frames too


@pytest.mark.parametrize("name", ["pong_linear", "pong_spot", "subscribe"])
def test_acks_and_pongs_are_not_data(name: str) -> None:
    assert bybit.parse_frame_linear(frame("bybit", name), RECV_TS) == []
    assert bybit.parse_frame_spot(frame("bybit", name), RECV_TS) == []


def test_option_style_pong_is_not_data() -> None:
    assert bybit.parse_frame(b'{"args":["1672916271846"],"op":"pong"}', RECV_TS) == []


def test_refused_subscription_is_a_frame_error() -> None:
    refused = b'{"success":false,"ret_msg":"error:handler not found","conn_id":"x","op":"subscribe"}'
    with pytest.raises(FrameError, match="refused"):
        bybit.parse_frame(refused, RECV_TS)


def test_symbols() -> None:
    assert bybit.symbol_of("BTCUSDT", "linear") == "BTC-USDT-PERP"
    assert bybit.symbol_of("BTCUSDT", "spot") == "BTC-USDT"
    assert bybit.symbol_of("ETHPERP", "linear") == "ETH-USDC-PERP"  # USDC perpetual naming
    for bad in ("BTC-26DEC25", "PERP", "", "BTC/USDT"):
        with pytest.raises(FrameError):
            bybit.symbol_of(bad, "linear")


GARBAGE: list[bytes | str] = [
    b"", b"garbage", b"[]", b"null", b"42", b'"pong"', b"{}", b"\xff\xfe\x00", "\ud800", b'{"topic":7}',
    b'{"topic":"orderbook.1.BTCUSDT","type":"snapshot","ts":1,"data":{}}',
    b'{"op":"subscribe","success":"yes"}',
    frame("bybit", "publicTrade").replace(b'"S":"Buy"', b'"S":"buy"'),
    frame("bybit", "publicTrade").replace(b'"p":"16578.50"', b'"p":"NaN"'),
    frame("bybit", "publicTrade").replace(b'"p":"16578.50"', b'"p":"1e999"'),
    frame("bybit", "publicTrade").replace(b'"T":1672304486865', b'"T":"1672304486865"'),
    frame("bybit", "kline").replace(b'"interval":"5"', b'"interval":"7"'),
    frame("bybit", "tickers_snapshot").replace(b'"1673280000000"', b'"soon"'),
    frame("bybit", "allLiquidation").replace(b'"T":1739502302929', b'"T":-1'),
] + [frame("bybit", name)[:cut] for name in NAMES for cut in (1, 17, -1)]


@pytest.mark.parametrize("raw", GARBAGE)
def test_garbage_and_truncated_frames_raise_frame_error(raw: bytes | str) -> None:
    with pytest.raises(FrameError):
        bybit.parse_frame(raw, RECV_TS)


def test_subscribe_builders_respect_the_documented_limits() -> None:
    spot_topics = bybit.topics(["btcusdt", "ETHUSDT", "SOLUSDT", "XRPUSDT"], "spot")
    assert spot_topics[:3] == ["publicTrade.BTCUSDT", "kline.1.BTCUSDT", "tickers.BTCUSDT"]
    requests = [json.loads(r) for r in bybit.subscribe_requests(spot_topics, "spot")]
    assert [len(r["args"]) for r in requests] == [10, 2] and requests[0]["op"] == "subscribe"
    assert len(bybit.subscribe_requests(bybit.topics(["BTCUSDT"] * 50), "linear")) == 1  # no limit on linear
    many = bybit.topics([f"COIN{n}USDT" for n in range(1000)])
    groups = bybit.connections(many)
    assert sum(groups, []) == many and len(groups) > 1
    assert all(len(json.dumps(group, separators=(",", ":"))) <= bybit.MAX_ARGS_CHARS for group in groups)


# Whatever arrives, only FrameError escapes: ~10k broken frames per exchange, in two tests
# of 5k so each stays under ~10 s on a loaded 2-CPU machine.
FIXTURES = [frame("bybit", name) for name in NAMES]


@settings(FUZZ, max_examples=5_000)
@given(raw=broken_frames(FIXTURES))
def test_linear_feed_only_raises_frame_error(raw: bytes | str) -> None:
    only_frame_errors(bybit.parse_frame_linear, raw)


@settings(FUZZ, max_examples=5_000)
@given(raw=broken_frames(FIXTURES))
def test_spot_feed_only_raises_frame_error(raw: bytes | str) -> None:
    only_frame_errors(bybit.parse_frame_spot, raw)
