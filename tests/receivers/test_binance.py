"""Binance USD-M futures and spot parsing against frames written from the documentation."""
from __future__ import annotations

from decimal import Decimal

import msgspec
import pytest
from hypothesis import given

from services.receivers.exchanges import FEEDS, binance
from services.receivers.exchanges.binance import market
from services.receivers.frames import FrameError, ReconnectNotice
from shared.events import Candle, FundingRate, Liquidation, MarkPrice, Trade
from tests.fixtures import frame
from tests.receivers.frame_checks import FUZZ, RECV_TS, assert_event, broken_frames, only_frame_errors

FUTURES = ["aggTrade", "kline_1m", "markPrice", "forceOrder"]


def payload(raw: bytes) -> msgspec.Raw:
    """The "data" of a combined-stream frame, as the parse functions receive it."""
    return msgspec.json.decode(raw, type=market.Combined).data


def test_agg_trade_fixture_still_parses() -> None:
    raw = frame("binance", "aggTrade")
    [trade] = market.parse_frame(raw, RECV_TS)
    assert_event(
        trade, Trade, exchange="binance", symbol="BTC-USDT-PERP", raw_symbol="BTCUSDT", trade_id="5933014",
        price=Decimal("0.001"), size=Decimal("100"), side="sell", raw_size=None, buyer=None, seller=None,
        ts=123_456_785_000, seq=None, recv_ts=RECV_TS,
    )
    assert market.parse_agg_trade(payload(raw), RECV_TS) == [trade]


def test_kline_is_a_candle_at_its_open_time() -> None:
    raw = frame("binance", "kline_1m")
    [candle] = market.parse_frame(raw, RECV_TS)
    assert_event(
        candle, Candle, exchange="binance", symbol="BTC-USDT-PERP", raw_symbol="BTCUSDT", interval="1m",
        open=Decimal("0.0010"), high=Decimal("0.0025"), low=Decimal("0.0015"), close=Decimal("0.0020"),
        volume=Decimal("1000"), trades=100, buy_volume=Decimal("500"), closed=False, source="exchange",
        ts=1_638_747_660_000_000, recv_ts=RECV_TS,
    )
    assert market.parse_kline(payload(raw), RECV_TS) == [candle]


def test_closed_kline_says_so() -> None:
    raw = frame("binance", "kline_1m").replace(b'"x":false', b'"x":true')
    [candle] = market.parse_frame(raw, RECV_TS)
    assert candle.closed is True


def test_mark_price_gives_mark_and_8h_funding() -> None:
    raw = frame("binance", "markPrice")
    mark, funding = market.parse_frame(raw, RECV_TS)
    assert_event(
        mark, MarkPrice, exchange="binance", symbol="BTC-USDT-PERP", raw_symbol="BTCUSDT",
        mark_price=Decimal("11794.15000000"), index_price=Decimal("11784.62659091"),
        ts=1_562_305_380_000_000, recv_ts=RECV_TS,
    )
    assert_event(
        funding, FundingRate, exchange="binance", symbol="BTC-USDT-PERP", raw_symbol="BTCUSDT",
        rate=Decimal("0.00038167"), interval_hours=Decimal("8"),
        annualized=Decimal("0.41792865"),  # 0.00038167 * 3 * 365
        next_funding_ts=1_562_306_400_000_000, ts=1_562_305_380_000_000, recv_ts=RECV_TS,
    )
    assert market.parse_mark_price(payload(raw), RECV_TS) == [mark, funding]


def test_force_order_is_a_liquidation_on_the_order_side() -> None:
    raw = frame("binance", "forceOrder")
    [liquidation] = market.parse_frame(raw, RECV_TS)
    assert_event(
        liquidation, Liquidation, exchange="binance", symbol="BTC-USDT-PERP", raw_symbol="BTCUSDT",
        side="sell", price=Decimal("9910"), size=Decimal("0.014"), usd_value=Decimal("138.740"),
        raw_size=None, ts=1_568_014_460_893_000, recv_ts=RECV_TS,
    )
    assert market.parse_force_order(payload(raw), RECV_TS) == [liquidation]


def test_force_order_uses_average_price_and_filled_quantity() -> None:
    raw = frame("binance", "forceOrder").replace(b'"ap":"9910"', b'"ap":"9900.5"')
    raw = raw.replace(b'"z":"0.014"', b'"z":"0.010"').replace(b'"S":"SELL"', b'"S":"BUY"')
    [liquidation] = market.parse_frame(raw, RECV_TS)
    assert (liquidation.side, liquidation.price) == ("buy", Decimal("9900.5"))
    assert str(liquidation.size) == "0.010"
    assert str(liquidation.usd_value) == "99.0050"


def test_spot_trade_is_base_quote_on_binance() -> None:
    raw = frame("binance_spot", "trade")
    [trade] = market.parse_frame_spot(raw, RECV_TS)
    assert_event(
        trade, Trade, exchange="binance", symbol="BNB-BTC", raw_symbol="BNBBTC", trade_id="12345",
        price=Decimal("0.001"), size=Decimal("100"), side="sell", raw_size=None, buyer=None, seller=None,
        ts=1_672_515_782_136_000, seq=None, recv_ts=RECV_TS,
    )
    assert market.parse_spot_trade(payload(raw), RECV_TS) == [trade]
    buyer_taker = raw.replace(b'"m":true', b'"m":false')
    assert market.parse_frame_spot(buyer_taker, RECV_TS)[0].side == "buy"


@pytest.mark.parametrize("channel", FUTURES)
def test_bare_payload_and_text_parse_like_the_combined_frame(channel: str) -> None:
    raw = frame("binance", channel)
    combined = market.parse_frame(raw, RECV_TS)
    assert market.parse_frame(bytes(payload(raw)), RECV_TS) == combined
    assert market.parse_frame(raw.decode(), RECV_TS) == combined


def test_spot_bare_payload() -> None:
    raw = frame("binance_spot", "trade")
    assert market.parse_frame_spot(bytes(payload(raw)), RECV_TS) == market.parse_frame_spot(raw, RECV_TS)


@pytest.mark.parametrize("name", ["serverShutdown", "serverShutdown_raw"])
def test_server_shutdown_asks_for_a_reconnect_on_futures_and_spot(name: str) -> None:
    """Spot General-WSS-information page: combined streams wrap it as "!serverShutdown"."""
    for parse in (market.parse_frame, market.parse_frame_spot):
        with pytest.raises(ReconnectNotice, match="serverShutdown at 1770123456789 ms"):
            parse(frame("binance", name), RECV_TS)


def test_subscription_ack_is_not_data() -> None:
    assert market.parse_frame(frame("binance", "subscribe_ack"), RECV_TS) == []
    assert market.parse_frame_spot(frame("binance", "subscribe_ack"), RECV_TS) == []


@pytest.mark.parametrize(
    "raw",
    [
        b"", b"{", b"null", b"[]", b'{"result":null}',
        b'{"error":{"code":2,"msg":"Invalid request"},"id":1}',
        b'{"stream":"btcusdt@depth","data":{}}',
        frame("binance", "aggTrade")[:-9],
        frame("binance", "markPrice").replace(b'"p":"11794.15000000"', b'"p":"NaN"'),
        frame("binance", "forceOrder").replace(b'"S":"SELL"', b'"S":"LONG"'),
        frame("binance", "kline_1m").replace(b'"BTCUSDT"', b'"BTCXYZ"'),
        frame("binance", "kline_1m").replace(b'"e":"kline"', b'"e":"aggTrade"'),
    ],
)
def test_garbage_raises_frame_error(raw: bytes) -> None:
    with pytest.raises(FrameError):
        market.parse_frame(raw, RECV_TS)


def test_feeds_do_not_cross() -> None:
    with pytest.raises(FrameError):
        market.parse_frame_spot(frame("binance", "aggTrade"), RECV_TS)
    with pytest.raises(FrameError):
        market.parse_frame(frame("binance_spot", "trade"), RECV_TS)


def test_stream_names_and_urls() -> None:
    assert market.agg_trade_streams(["BTCUSDT"]) == ["btcusdt@aggTrade"]
    assert market.kline_streams(["BTCUSDT", "ETHUSDT"]) == ["btcusdt@kline_1m", "ethusdt@kline_1m"]
    assert market.mark_price_streams(["BTCUSDT"]) == ["btcusdt@markPrice@1s"]
    assert market.force_order_streams(["BTCUSDT"]) == ["btcusdt@forceOrder"]
    assert market.spot_trade_streams(["BNBBTC"]) == ["bnbbtc@trade"]
    assert [market.channel_of(s) for s in ("btcusdt@kline_1m", "btcusdt@markPrice@1s", "x@forceOrder")] == [
        "kline", "markPrice", "forceOrder",
    ]
    assert market.combined_stream_url(binance.SPOT_WS_URL, ["bnbbtc@trade", "btcusdt@trade"]) == (
        "wss://stream.binance.com:9443/stream?streams=bnbbtc@trade/btcusdt@trade"
    )
    assert market.subscribe_message(["btcusdt@forceOrder"], 7) == (
        b'{"method":"SUBSCRIBE","params":["btcusdt@forceOrder"],"id":7}'
    )
    assert (binance.MAX_STREAMS_PER_CONNECTION, binance.SPOT_MAX_STREAMS_PER_CONNECTION) == (200, 1024)
    assert binance.MAX_CONNECTION_AGE_S == binance.SPOT_MAX_CONNECTION_AGE_S == 24 * 3600


def test_both_feeds_are_registered() -> None:
    assert FEEDS["binance"].parser is market.futures_parser
    assert FEEDS["binance_spot"].parser({}) is market.parse_frame_spot  # spot reads no facts
    assert FEEDS["binance_spot"].name == "binance_spot"


NOT_DATA = ["subscribe_ack", "serverShutdown", "serverShutdown_raw"]
ALL_FIXTURES = [frame("binance", c) for c in [*FUTURES, *NOT_DATA]]
ALL_FIXTURES += [frame("binance_spot", "trade")]


@FUZZ
@given(broken_frames(ALL_FIXTURES))
def test_broken_futures_frames_raise_only_frame_error(raw: bytes | str) -> None:
    only_frame_errors(market.parse_frame, raw)


@FUZZ
@given(broken_frames(ALL_FIXTURES))
def test_broken_spot_frames_raise_only_frame_error(raw: bytes | str) -> None:
    only_frame_errors(market.parse_frame_spot, raw)
