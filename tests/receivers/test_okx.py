"""OKX v5 public frames -> events, against the documented frames in tests/fixtures/okx/.

Fixture sources (compact wire form of each push example of https://www.okx.com/docs-v5/en/):
- trades, candle1D: order-book-trading / market data, "WS / Trades channel", "WS / Candlesticks channel"
- funding-rate, open-interest, liquidation-orders: public data / WebSocket channels of the same names
- subscribe, error: the successful and failure responses of the trades channel
- notice: overview / websocket / notification (64008, 30 s before a service upgrade)
"""
from __future__ import annotations

import json
from decimal import Decimal as D

import pytest
from hypothesis import given, settings

from services.receivers.exchanges import okx
from services.receivers.frames import FrameError, ReconnectNotice
from shared.events import Candle, FundingRate, Liquidation, OpenInterest, Trade
from tests.fixtures import frame
from tests.receivers.frame_checks import FUZZ, RECV_TS, assert_event, broken_frames, only_frame_errors

NAMES = (
    "trades", "candle1D", "funding-rate", "open-interest", "liquidation-orders", "subscribe", "error",
    "notice",
)
# a ctVal injected for the test; live values come from /public/instruments
IOST = {"IOST-USDT-SWAP": D("1000")}


def candle1m(inst_id: str = "BTC-USDT") -> bytes:
    """The documented candle push is candle1D (a UTC+8 day); we subscribe candle1m, same shape."""
    candle = frame("okx", "candle1D").replace(b"candle1D", b"candle1m")
    return candle.replace(b'"BTC-USDT"', f'"{inst_id}"'.encode())


def test_spot_trade_size_is_base_currency() -> None:
    [trade] = okx.parse_trades(frame("okx", "trades"), RECV_TS)
    assert_event(trade, Trade, exchange="okx", symbol="BTC-USDT", raw_symbol="BTC-USDT", trade_id="130639474",
                 price=D("42219.9"), size=D("0.12060306"), side="buy", raw_size=None, buyer=None, seller=None,
                 ts=1_630_048_897_897_000, seq=None, recv_ts=RECV_TS)


def test_swap_trade_size_is_contracts_times_ct_val() -> None:
    swap = frame("okx", "trades").replace(b'"BTC-USDT"', b'"BTC-USDT-SWAP"')  # the same push on the swap
    [trade] = okx.parse_trades(swap, RECV_TS)
    assert_event(trade, Trade, exchange="okx", symbol="BTC-USDT-PERP", raw_symbol="BTC-USDT-SWAP",
                 trade_id="130639474", price=D("42219.9"), size=D("0.0012060306"), side="buy",
                 raw_size=D("0.12060306"), buyer=None, seller=None, ts=1_630_048_897_897_000, seq=None,
                 recv_ts=RECV_TS)
    with pytest.raises(FrameError, match="no ctVal"):
        okx.parse_trades(swap, RECV_TS, ct_val={})


def test_candle_spot_volume_and_open_time() -> None:
    [candle] = okx.parse_frame(candle1m(), RECV_TS)
    assert_event(candle, Candle, exchange="okx", symbol="BTC-USDT", raw_symbol="BTC-USDT", interval="1m",
                 open=D("8533.02"), high=D("8553.74"), low=D("8527.17"), close=D("8548.26"),
                 volume=D("45247"), trades=None, buy_volume=None, closed=False, source="exchange",
                 ts=1_597_026_383_085_000, recv_ts=RECV_TS)


def test_candle_swap_volume_is_vol_ccy_and_confirm_closes() -> None:
    closed = candle1m("BTC-USDT-SWAP").replace(b'"0"]]', b'"1"]]')
    [candle] = okx.parse_frame(closed, RECV_TS, ct_val={})  # volCcy is base already: no ctVal needed
    assert_event(candle, Candle, exchange="okx", symbol="BTC-USDT-PERP", raw_symbol="BTC-USDT-SWAP",
                 interval="1m",
                 open=D("8533.02"), high=D("8553.74"), low=D("8527.17"), close=D("8548.26"),
                 volume=D("529.5858061"), trades=None, buy_volume=None, closed=True, source="exchange",
                 ts=1_597_026_383_085_000, recv_ts=RECV_TS)


def test_utc8_daily_candles_are_refused() -> None:
    with pytest.raises(FrameError):  # candle1D opens at 16:00 UTC; only candle1Dutc is a UTC day
        okx.parse_frame(frame("okx", "candle1D"), RECV_TS)


def test_funding_rate_interval_from_next_funding_time() -> None:
    [funding] = okx.parse_funding_rate(frame("okx", "funding-rate"), RECV_TS)
    assert_event(funding, FundingRate, exchange="okx", symbol="BTC-USD-PERP", raw_symbol="BTC-USD-SWAP",
                 rate=D("0.0001875391284828"), interval_hours=D("8"), annualized=D("0.2053553456886660"),
                 next_funding_ts=1_700_726_400_000_000, ts=1_700_724_675_402_000, recv_ts=RECV_TS)
    four_hours = frame("okx", "funding-rate").replace(b'"1700755200000"', b'"1700740800000"')
    assert okx.parse_funding_rate(four_hours, RECV_TS)[0].interval_hours == D("4")
    unknown = frame("okx", "funding-rate").replace(b'"1700755200000"', b'""')
    assert okx.parse_funding_rate(unknown, RECV_TS)[0].interval_hours == D("8")
    for bad in (b'"1700726400000"', b'"17007264x0000"'):  # zero interval, not a time
        with pytest.raises(FrameError):
            okx.parse_funding_rate(frame("okx", "funding-rate").replace(b'"1700755200000"', bad), RECV_TS)


def test_open_interest_in_contracts_base_and_usd() -> None:
    [oi] = okx.parse_open_interest(frame("okx", "open-interest"), RECV_TS)
    assert_event(oi, OpenInterest, exchange="okx", symbol="BTC-USDT-PERP", raw_symbol="BTC-USDT-SWAP",
                 contracts=D("2216113.01000000309"), base=D("22161.1301000000309"),
                 usd=D("1939251795.54769270396321"), ts=1_743_041_250_440_000, recv_ts=RECV_TS)
    assert oi.base == oi.contracts * okx.CT_VAL["BTC-USDT-SWAP"]  # doc agrees


def test_liquidation_order_side_as_sent_and_size_in_base() -> None:
    [liq] = okx.parse_liquidation_orders(frame("okx", "liquidation-orders"), RECV_TS, ct_val=IOST)
    # side "buy" with posSide "short": a short was liquidated by a buy order, kept as OKX sends it
    assert_event(liq, Liquidation, exchange="okx", symbol="IOST-USDT-PERP", raw_symbol="IOST-USDT-SWAP",
                 side="buy", price=D("0.007831"), size=D("13000"), usd_value=D("101.803000"),
                 raw_size=D("13"), ts=1_692_266_434_010_000, recv_ts=RECV_TS)
    with pytest.raises(FrameError, match="no ctVal"):  # not in the default table: refused, never guessed
        okx.parse_frame(frame("okx", "liquidation-orders"), RECV_TS)


@pytest.mark.parametrize("name", ["trades", "funding-rate", "open-interest", "liquidation-orders"])
def test_parse_frame_dispatches_on_the_channel(name: str) -> None:
    raw = frame("okx", name)
    parse = okx.CHANNELS[json.loads(raw)["arg"]["channel"]]
    assert okx.parse_frame(raw, RECV_TS, IOST) == parse(raw, RECV_TS, IOST)
    assert okx.parse_frame(raw.decode(), RECV_TS, IOST) == parse(raw, RECV_TS, IOST)  # text frames too


@pytest.mark.parametrize("raw", [b"pong", "pong", frame("okx", "subscribe"),
                                 frame("okx", "notice").replace(b"64008", b"64009"),
                                 b'{"event":"unsubscribe","arg":{"channel":"trades","instId":"BTC-USDT"},"connId":"d0b44253"}'])
def test_pong_acks_and_other_notices_are_not_data(raw: bytes | str) -> None:
    assert okx.parse_frame(raw, RECV_TS) == []


def test_service_upgrade_notice_asks_for_a_reconnect() -> None:
    upgrade = "64008: The connection will soon be closed for a service upgrade"
    with pytest.raises(ReconnectNotice, match=upgrade):
        okx.parse_frame(frame("okx", "notice"), RECV_TS)


def test_error_event_is_a_frame_error() -> None:
    with pytest.raises(FrameError, match="60012"):
        okx.parse_frame(frame("okx", "error"), RECV_TS)


def test_symbols() -> None:
    assert okx.symbol_of("BTC-USDT-SWAP") == "BTC-USDT-PERP"
    assert okx.symbol_of("BTC-USDT") == "BTC-USDT"
    for bad in ("BTC-USDT-250808", "BTC-USD_UM-SWAP", "BTC-USD-241013-70000-P", "BTC", "-USDT", ""):
        with pytest.raises(FrameError):
            okx.symbol_of(bad)


GARBAGE: list[bytes | str] = [
    b"", b"ping", b"pong\n", b"garbage", b"[]", b"null", b"{}", b"\xff\xfe", "\ud800",
    b'{"arg":{"channel":"books"}}',
    b'{"arg":{"channel":1},"data":[]}', b'{"arg":{"channel":"candle1m"},"data":[]}',
    frame("okx", "trades").replace(b'"side":"buy"', b'"side":"BUY"'),
    frame("okx", "trades").replace(b'"px":"42219.9"', b'"px":"NaN"'),
    frame("okx", "trades").replace(b'"ts":"1630048897897"', b'"ts":"-1"'),
    frame("okx", "trades").replace(b'"BTC-USDT"', b'"BTC-USDT-240329"'),
    frame("okx", "open-interest").replace(b'"oi":"2216113.01000000309"', b'"oi":""'),
    candle1m().replace(b',"0"]]', b',"2"]]'),
] + [frame("okx", name)[:cut] for name in NAMES for cut in (1, 13, -1)]


@pytest.mark.parametrize("raw", GARBAGE)
def test_garbage_and_truncated_frames_raise_frame_error(raw: bytes | str) -> None:
    with pytest.raises(FrameError):
        okx.parse_frame(raw, RECV_TS, IOST)


def test_subscribe_builders() -> None:
    args = okx.public_args(["BTC-USDT", "BTC-USDT-SWAP"])
    assert args == [{"channel": "trades", "instId": "BTC-USDT"},
                    {"channel": "trades", "instId": "BTC-USDT-SWAP"},
                    {"channel": "funding-rate", "instId": "BTC-USDT-SWAP"},
                    {"channel": "open-interest", "instId": "BTC-USDT-SWAP"},
                    {"channel": "liquidation-orders", "instType": "SWAP"}]
    assert okx.business_args(["BTC-USDT"]) == [{"channel": "candle1m", "instId": "BTC-USDT"}]
    many = okx.public_args([f"COIN{n}-USDT" for n in range(3000)])
    requests = okx.subscribe_requests(many)
    assert len(requests) > 1 and all(len(r.encode()) <= okx.MAX_SUBSCRIBE_BYTES for r in requests)
    assert sum((json.loads(r)["args"] for r in requests), []) == many


# Whatever arrives, only FrameError escapes: ~10k broken frames, in two tests of 5k so each
# stays under ~10 s on a loaded 2-CPU machine; with and without the ctVal of the fixtures.
FIXTURES = [frame("okx", name) for name in NAMES] + [candle1m(), candle1m("BTC-USDT-SWAP")]


@settings(FUZZ, max_examples=5_000)
@given(raw=broken_frames(FIXTURES))
def test_default_table_only_raises_frame_error(raw: bytes | str) -> None:
    only_frame_errors(okx.parse_frame, raw)


@settings(FUZZ, max_examples=5_000)
@given(raw=broken_frames(FIXTURES))
def test_injected_table_only_raises_frame_error(raw: bytes | str) -> None:
    only_frame_errors(lambda frame_, recv_ts: okx.parse_frame(frame_, recv_ts, {**okx.CT_VAL, **IOST}), raw)
