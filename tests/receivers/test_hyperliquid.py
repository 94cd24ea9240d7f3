"""Hyperliquid parsing against frames written from the websocket documentation."""
from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given

from services.receivers.exchanges import FEEDS, hyperliquid
from services.receivers.exchanges.hyperliquid import market
from services.receivers.frames import FrameError
from shared.events import Candle, FundingRate, MarkPrice, OpenInterest, Trade
from tests.fixtures import frame
from tests.receivers.frame_checks import FUZZ, RECV_TS, assert_event, broken_frames, only_frame_errors

CHANNELS = ["trades", "candle", "activeAssetCtx", "allMids", "subscriptionResponse", "pong"]


def test_trades_keep_buyer_and_seller() -> None:
    raw = frame("hyperliquid", "trades")
    bought, sold = market.parse_frame(raw, RECV_TS)
    assert_event(
        bought, Trade, exchange="hyperliquid", symbol="BTC-USD-PERP", raw_symbol="BTC",
        trade_id="877707108085800", price=Decimal("72581.0"), size=Decimal("0.00017"), side="buy",
        raw_size=None, buyer="0x9b54264d7502f80163ea949038aad771eae67e38",
        seller="0x706bb519b05b7dc01d048af9a5e29d1ef5d6d9e3", ts=1_787_259_217_020_000,
        seq=None, recv_ts=RECV_TS,
    )
    assert_event(
        sold, Trade, exchange="hyperliquid", symbol="BTC-USD-PERP", raw_symbol="BTC",
        trade_id="226388921035269", price=Decimal("72580.5"), size=Decimal("0.01201"), side="sell",
        raw_size=None, buyer="0xecb63caa47c7c4e77f60f1ce858cf28dc2b82b00",
        seller="0x4d2a7e458a9091cf678b3a4a21d4be019870ebaa", ts=1_787_259_217_021_000,
        seq=None, recv_ts=RECV_TS,
    )
    assert market.parse_trades(raw, RECV_TS) == [bought, sold]


def test_candle_is_never_closed() -> None:
    raw = frame("hyperliquid", "candle")
    [candle] = market.parse_frame(raw, RECV_TS)
    assert_event(
        candle, Candle, exchange="hyperliquid", symbol="BTC-USD-PERP", raw_symbol="BTC", interval="1m",
        open=Decimal("64000.0"), high=Decimal("64020.0"), low=Decimal("63990.0"), close=Decimal("64010.0"),
        volume=Decimal("12.5"), trades=42, buy_volume=None, closed=False, source="exchange",
        ts=1_754_956_800_000_000, recv_ts=RECV_TS,
    )
    assert market.parse_candle(raw, RECV_TS) == [candle]


def test_candle_as_the_documented_array() -> None:
    raw = frame("hyperliquid", "candle").replace(b'"data":{', b'"data":[{').replace(b"}}", b"}]}")
    as_object = market.parse_frame(frame("hyperliquid", "candle"), RECV_TS)
    assert market.parse_frame(raw, RECV_TS) == as_object


def test_active_asset_ctx_gives_hourly_funding_mark_and_oi() -> None:
    raw = frame("hyperliquid", "activeAssetCtx")
    funding, mark, oi = market.parse_frame(raw, RECV_TS)
    assert_event(
        funding, FundingRate, exchange="hyperliquid", symbol="BTC-USD-PERP", raw_symbol="BTC",
        rate=Decimal("0.0000125"), interval_hours=Decimal("1"),
        annualized=Decimal("0.1095000"),  # 0.0000125 * 24 * 365
        next_funding_ts=1_700_002_800_000_000,  # the next full hour after RECV_TS
        ts=RECV_TS, recv_ts=RECV_TS,  # the push has no time of its own
    )
    assert_event(
        mark, MarkPrice, exchange="hyperliquid", symbol="BTC-USD-PERP", raw_symbol="BTC",
        mark_price=Decimal("64405.0"), index_price=Decimal("64429.0"), ts=RECV_TS, recv_ts=RECV_TS,
    )
    assert_event(
        oi, OpenInterest, exchange="hyperliquid", symbol="BTC-USD-PERP", raw_symbol="BTC",
        contracts=Decimal("32227.66018"), base=Decimal("32227.66018"),
        usd=Decimal("2075622453.892900"),  # 32227.66018 coins * 64405.0 mark
        ts=RECV_TS, recv_ts=RECV_TS,
    )
    assert market.parse_active_asset_ctx(raw, RECV_TS) == [funding, mark, oi]


def test_next_funding_on_the_hour_is_the_following_hour() -> None:
    on_the_hour = 1_699_999_200_000_000
    funding = market.parse_frame(frame("hyperliquid", "activeAssetCtx"), on_the_hour)[0]
    assert funding.next_funding_ts == on_the_hour + 3_600_000_000


@pytest.mark.parametrize("channel", ["allMids", "subscriptionResponse", "pong"])
def test_mids_acks_and_pongs_are_not_data(channel: str) -> None:
    assert market.parse_frame(frame("hyperliquid", channel), RECV_TS) == []


def test_greeting_and_text_frames() -> None:
    assert market.parse_frame(b"Websocket connection established.", RECV_TS) == []
    raw = frame("hyperliquid", "trades")
    assert market.parse_frame(raw.decode(), RECV_TS) == market.parse_frame(raw, RECV_TS)


def test_spot_pairs() -> None:
    purr = frame("hyperliquid", "trades").replace(b'"coin":"BTC"', b'"coin":"PURR/USDC"')
    assert {t.symbol for t in market.parse_frame(purr, RECV_TS)} == {"PURR-USDC"}
    by_index = frame("hyperliquid", "trades").replace(b'"coin":"BTC"', b'"coin":"@107"')
    with pytest.raises(FrameError, match="spotMeta"):
        market.parse_frame(by_index, RECV_TS)


def test_trade_without_users_still_parses() -> None:
    raw = b'{"channel":"trades","data":[{"coin":"ETH","side":"A","px":"3227.4","sz":"1.5","time":1,"tid":7}]}'
    [trade] = market.parse_frame(raw, RECV_TS)
    assert (trade.symbol, trade.side, trade.ts) == ("ETH-USD-PERP", "sell", 1000)
    assert trade.buyer is trade.seller is None


@pytest.mark.parametrize(
    "raw",
    [
        b"", b"{", b"[]", b'{"data":[]}', b'{"channel":"error","data":"Invalid subscription"}',
        b'{"channel":"l2Book","data":{}}', b"Websocket connection",
        frame("hyperliquid", "trades")[:-3],
        frame("hyperliquid", "trades").replace(b'"side":"B"', b'"side":"X"'),
        frame("hyperliquid", "candle").replace(b'"o":"64000.0"', b'"o":"sNaN"'),
        frame("hyperliquid", "activeAssetCtx").replace(b'"markPx":"64405.0"', b'"markPx":true'),
        frame("hyperliquid", "allMids").replace(b'"BTC":"64412.5"', b'"BTC":"x"'),
        b'{"channel":"trades","data":{"coin":"BTC"}}',
    ],
)
def test_garbage_raises_frame_error(raw: bytes) -> None:
    with pytest.raises(FrameError):
        market.parse_frame(raw, RECV_TS)


def test_subscription_messages() -> None:
    assert market.trades_subscription("BTC") == (
        b'{"method":"subscribe","subscription":{"type":"trades","coin":"BTC"}}'
    )
    assert market.candle_subscription("ETH") == (
        b'{"method":"subscribe","subscription":{"type":"candle","coin":"ETH","interval":"1m"}}'
    )
    assert market.active_asset_ctx_subscription("SOL") == (
        b'{"method":"subscribe","subscription":{"type":"activeAssetCtx","coin":"SOL"}}'
    )
    assert hyperliquid.PING == b'{"method":"ping"}'
    assert hyperliquid.PING_INTERVAL_S < hyperliquid.IDLE_TIMEOUT_S == 60


def test_registered() -> None:
    assert FEEDS["hyperliquid"] is hyperliquid.VENUE


@FUZZ
@given(broken_frames([frame("hyperliquid", c) for c in CHANNELS]))
def test_broken_frames_raise_only_frame_error(frames: list[bytes | str]) -> None:
    only_frame_errors(market.parse_frame, frames)
