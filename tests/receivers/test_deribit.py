"""Deribit parsing against notifications written from the API documentation."""
from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given

from services.receivers.exchanges import FEEDS, deribit
from services.receivers.frames import FrameError
from shared.decimals import rounded
from shared.events import Candle, FundingRate, MarkPrice, OpenInterest, Trade
from tests.fixtures import frame
from tests.receivers.frame_checks import FUZZ, RECV_TS, assert_event, broken_frames, only_frame_errors

NOT_DATA = ["heartbeat", "heartbeat_test_request", "set_heartbeat_result", "subscribe_result"]
CHANNELS = ["trades", "ticker", "chart_trades", *NOT_DATA]


def linear(raw: bytes) -> bytes:
    """The documented inverse frame moved to the linear BTC_USDC-PERPETUAL (sized in BTC)."""
    return raw.replace(b"BTC-PERPETUAL", b"BTC_USDC-PERPETUAL")


def test_inverse_trade_size_is_usd_over_price() -> None:
    raw = frame("deribit", "trades")
    [trade] = deribit.parse_frame(raw, RECV_TS)
    assert_event(
        trade, Trade, exchange="deribit", symbol="BTC-USD-PERP", raw_symbol="BTC-PERPETUAL",
        trade_id="48079269", price=Decimal("8950"),
        size=Decimal("0.001117318435754190"),  # 10 USD / 8950, rounded half-even at 18 places
        side="sell", raw_size=Decimal("10"), buyer=None, seller=None, ts=1_590_484_512_188_000,
        seq=30289442, recv_ts=RECV_TS,
    )
    assert trade.size == rounded(Decimal(10) / Decimal(8950))
    assert deribit.parse_trades(raw, RECV_TS) == [trade]


def test_linear_trade_size_is_the_amount() -> None:
    [trade] = deribit.parse_frame(linear(frame("deribit", "trades")), RECV_TS)
    assert_event(
        trade, Trade, exchange="deribit", symbol="BTC-USDC-PERP", raw_symbol="BTC_USDC-PERPETUAL",
        trade_id="48079269", price=Decimal("8950"), size=Decimal("10"), side="sell", raw_size=None,
        buyer=None, seller=None, ts=1_590_484_512_188_000, seq=30289442, recv_ts=RECV_TS,
    )


def test_ticker_gives_mark_oi_and_funding() -> None:
    raw = frame("deribit", "ticker")
    mark, oi, funding = deribit.parse_frame(raw, RECV_TS)
    ts = 1_623_060_194_301_000
    assert_event(
        mark, MarkPrice, exchange="deribit", symbol="BTC-USD-PERP", raw_symbol="BTC-PERPETUAL",
        mark_price=Decimal("36446.51"), index_price=Decimal("36441.64"), ts=ts, recv_ts=RECV_TS,
    )
    assert_event(
        oi, OpenInterest, exchange="deribit", symbol="BTC-USD-PERP", raw_symbol="BTC-PERPETUAL",
        contracts=Decimal("502097590"), base=Decimal("13776.287222013849885764"),  # USD / mark
        usd=Decimal("502097590"), ts=ts, recv_ts=RECV_TS,
    )
    assert oi.base == rounded(Decimal(502097590) / Decimal("36446.51"))
    assert_event(
        funding, FundingRate, exchange="deribit", symbol="BTC-USD-PERP", raw_symbol="BTC-PERPETUAL",
        rate=Decimal("0"),  # current_funding, not the trailing funding_8h (0.0000211)
        interval_hours=Decimal("8"), annualized=Decimal("0"), next_funding_ts=None, ts=ts, recv_ts=RECV_TS,
    )
    assert deribit.parse_ticker(raw, RECV_TS) == [mark, oi, funding]


def test_nonzero_funding_is_annualized_from_8h() -> None:
    raw = frame("deribit", "ticker").replace(b'"current_funding":0,', b'"current_funding":0.00001729,')
    funding = deribit.parse_frame(raw, RECV_TS)[2]
    assert (funding.rate, str(funding.annualized)) == (Decimal("0.00001729"), "0.01893255")  # * 3 * 365


def test_linear_ticker_oi_is_in_coins() -> None:
    _, oi, _ = deribit.parse_frame(linear(frame("deribit", "ticker")), RECV_TS)
    assert (oi.symbol, oi.contracts, oi.base) == ("BTC-USDC-PERP", Decimal("502097590"), Decimal("502097590"))
    assert str(oi.usd) == "18299704834910.90"  # 502097590 coins * 36446.51 mark


def test_ticker_without_funding_has_no_funding_rate() -> None:
    raw = frame("deribit", "ticker").replace(b'"current_funding":0,', b"")
    assert [type(e) for e in deribit.parse_frame(raw, RECV_TS)] == [MarkPrice, OpenInterest]


def test_chart_trades_is_an_open_1m_candle() -> None:
    raw = frame("deribit", "chart_trades")
    [candle] = deribit.parse_frame(raw, RECV_TS)
    assert_event(
        candle, Candle, exchange="deribit", symbol="BTC-USD-PERP", raw_symbol="BTC-PERPETUAL", interval="1m",
        open=Decimal("8869.79"), high=Decimal("8870.31"), low=Decimal("8788.25"), close=Decimal("8791.25"),
        volume=Decimal("0.05219351"), trades=None, buy_volume=None, closed=False, source="exchange",
        ts=1_573_645_080_000_000, recv_ts=RECV_TS,
    )
    assert deribit.parse_chart_trades(raw, RECV_TS) == [candle]
    hourly = raw.replace(b"BTC-PERPETUAL.1", b"BTC-PERPETUAL.60")
    assert deribit.parse_frame(hourly, RECV_TS)[0].interval == "1h"


@pytest.mark.parametrize("name", NOT_DATA)
def test_heartbeats_and_rpc_results_are_not_data(name: str) -> None:
    assert deribit.parse_frame(frame("deribit", name), RECV_TS) == []


def test_heartbeat_reply_answers_test_request_only() -> None:
    assert deribit.heartbeat_reply(frame("deribit", "heartbeat_test_request")) == (
        b'{"jsonrpc":"2.0","id":9000001,"method":"public/test","params":{}}'
    )
    assert deribit.heartbeat_reply(frame("deribit", "heartbeat_test_request").decode(), request_id=5) == (
        b'{"jsonrpc":"2.0","id":5,"method":"public/test","params":{}}'
    )
    for name in ("heartbeat", "trades", "ticker", "set_heartbeat_result"):
        assert deribit.heartbeat_reply(frame("deribit", name)) is None
    assert deribit.heartbeat_reply(b'{"test_request"') is None


@pytest.mark.parametrize(
    "raw",
    [
        b"", b"{", b"[]", b"{}",
        b'{"jsonrpc":"2.0","id":8163,"error":{"code":11050,"message":"bad_request"}}',
        b'{"method":"subscription","params":{"channel":"book.BTC-PERPETUAL.100ms","data":{}}}',
        frame("deribit", "trades")[:-2],
        frame("deribit", "trades").replace(b'"price":8950', b'"price":0'),
        frame("deribit", "trades").replace(b'"direction":"sell"', b'"direction":"short"'),
        frame("deribit", "trades").replace(b"BTC-PERPETUAL", b"BTC-27DEC24"),
        frame("deribit", "ticker").replace(b'"mark_price":36446.51', b'"mark_price":0'),
        frame("deribit", "ticker").replace(b'"mark_price":36446.51', b'"mark_price":"NaN"'),
        frame("deribit", "chart_trades").replace(b"BTC-PERPETUAL.1", b"BTC-PERPETUAL.2"),
        frame("deribit", "chart_trades").replace(b'"chart.trades.BTC-PERPETUAL.1"', b'"chart.trades"'),
    ],
)
def test_garbage_raises_frame_error(raw: bytes) -> None:
    with pytest.raises(FrameError):
        deribit.parse_frame(raw, RECV_TS)


def test_request_messages() -> None:
    channels = [
        deribit.trades_channel("BTC-PERPETUAL"), deribit.ticker_channel("BTC-PERPETUAL"),
        deribit.chart_trades_channel("BTC_USDC-PERPETUAL"),
    ]
    assert channels == [
        "trades.BTC-PERPETUAL.100ms", "ticker.BTC-PERPETUAL.100ms", "chart.trades.BTC_USDC-PERPETUAL.1",
    ]
    assert deribit.subscribe_message(channels[:1], 42) == (
        b'{"jsonrpc":"2.0","id":42,"method":"public/subscribe","params":{"channels":["trades.BTC-PERPETUAL.100ms"]}}'
    )
    assert deribit.set_heartbeat_message(7) == (
        b'{"jsonrpc":"2.0","id":7,"method":"public/set_heartbeat","params":{"interval":30}}'
    )


def test_symbols() -> None:
    assert deribit.symbol_of("BTC-PERPETUAL") == ("BTC-USD-PERP", True)
    assert deribit.symbol_of("ETH-PERPETUAL") == ("ETH-USD-PERP", True)
    assert deribit.symbol_of("SOL_USDC-PERPETUAL") == ("SOL-USDC-PERP", False)
    for name in ("BTC-27DEC24", "BTC-27MAY20-9000-C", "BTC_USDC", "-PERPETUAL", "BTC_-PERPETUAL"):
        with pytest.raises(FrameError):
            deribit.symbol_of(name)


def test_registered() -> None:
    assert FEEDS["deribit"] is deribit.VENUE


@FUZZ
@given(broken_frames([frame("deribit", c) for c in CHANNELS]))
def test_broken_frames_raise_only_frame_error(frames: list[bytes | str]) -> None:
    only_frame_errors(deribit.parse_frame, frames)


@FUZZ
@given(broken_frames([frame("deribit", c) for c in CHANNELS]))
def test_heartbeat_reply_never_raises(frames: list[bytes | str]) -> None:
    for raw in frames:
        reply = deribit.heartbeat_reply(raw)
        assert reply is None or reply.startswith(b'{"jsonrpc":"2.0"')
