"""A trader's state, fills and equity from the documented info answers (info-endpoint and its
perpetuals page; tests/fixtures/hyperliquid/), and the listed perpetuals from meta."""

from __future__ import annotations

from decimal import Decimal

import msgspec
import pytest

from services.receivers.exchanges.hyperliquid import rest, traders
from services.receivers.frames import FrameError
from shared.events import EquityPoint, TraderEquity, TraderFill, TraderPosition, TraderState
from tests.fixtures import frame
from tests.receivers.frame_checks import RECV_TS, assert_event

ADDRESS = "0x9B54264D7502F80163EA949038AAD771EAE67E38"  # as a person may type it: events say it lower case


def test_clearinghouse_state_is_the_whole_perp_state_at_the_venue_time() -> None:
    state = traders.parse_clearinghouse_state(frame("hyperliquid", "clearinghouseState"), ADDRESS, RECV_TS)
    eth = TraderPosition(
        symbol="ETH-USD-PERP", size=Decimal("0.0335"), entry_price=Decimal("2986.3"),
        position_value=Decimal("100.02765"), unrealized_pnl=Decimal("-0.0134"), leverage=Decimal(20),
        liquidation_price=Decimal("2866.26936529"),
    )
    assert_event(
        state, TraderState, address=ADDRESS.lower(), exchange="hyperliquid",
        account_value=Decimal("13109.482328"), notional=Decimal("100.02765"), positions=(eth,),
        fills_complete=None, ts=1_708_622_398_623_000, recv_ts=RECV_TS,
    )
    assert str(state.positions[0].size) == "0.0335" and str(state.positions[0].leverage) == "20"


def test_a_short_without_liquidation_price_and_an_empty_account() -> None:
    raw = (b'{"assetPositions":[{"type":"oneWay","position":{"coin":"BTC","szi":"-1.5","entryPx":"60000.0",'
           b'"positionValue":"90000.0","unrealizedPnl":"-12.5","leverage":{"type":"cross","value":3},'
           b'"liquidationPx":null}}],"marginSummary":{"accountValue":"50000.0","totalNtlPos":"90000.0"},'
           b'"time":1700000000000}')
    [short] = traders.parse_clearinghouse_state(raw, ADDRESS, RECV_TS).positions
    assert short.size == Decimal("-1.5") and short.liquidation_price is None and short.leverage == 3
    empty = (b'{"assetPositions":[],"marginSummary":{"accountValue":"0.0","totalNtlPos":"0.0"},'
             b'"crossMarginSummary":{"accountValue":"0.0"},"withdrawable":"0.0","time":1}')
    assert traders.parse_clearinghouse_state(empty, ADDRESS, RECV_TS).positions == ()


@pytest.mark.parametrize("raw", [
    b'{"assetPositions":[],"time":1}',  # no marginSummary
    b'{"assetPositions":[],"marginSummary":{"accountValue":"NaN","totalNtlPos":"0"},"time":1}',
    b'[]',
])
def test_bad_states_are_frame_errors(raw: bytes) -> None:
    with pytest.raises(FrameError):
        traders.parse_clearinghouse_state(raw, ADDRESS, RECV_TS)


def test_fills_by_time_perp_fill_and_spot_fill_by_index_left_out() -> None:
    perp, spot = traders.decode_fills(frame("hyperliquid", "userFillsByTime"))
    assert traders.trader_fill(spot, ADDRESS, RECV_TS) is None  # "@107" needs spotMeta
    fill = traders.trader_fill(perp, ADDRESS, RECV_TS)
    assert fill is not None
    assert_event(
        fill, TraderFill, address=ADDRESS.lower(), exchange="hyperliquid", symbol="AVAX-USD-PERP",
        tid="118906512037719", order_id="90542681", side="buy", price=Decimal("18.435"),
        size=Decimal("93.53"), start_position=Decimal("26.86"), direction="Open Long",
        closed_pnl=Decimal("0.0"), fee=Decimal("0.01"), fee_asset="USDC", liquidation=False,
        ts=1_681_222_254_710_000, recv_ts=RECV_TS,
    )


def liquidation_fill(user: str | None, side: str = "A") -> bytes:
    block = {"markPx": "58000.0", "method": "market"} | ({"liquidatedUser": user} if user else {})
    return msgspec.json.encode([{
        "coin": "BTC", "px": "57990.0", "sz": "0.5", "side": side, "time": 1700000000000,
        "startPosition": "0.5", "dir": "Close Long", "closedPnl": "-1005.0", "hash": "0x00", "oid": 7,
        "crossed": True, "fee": "8.7", "tid": 9, "feeToken": "USDC", "liquidation": block,
    }])


def test_a_fill_is_a_liquidation_of_the_trader_only_when_it_names_the_trader() -> None:
    [own] = traders.decode_fills(liquidation_fill(ADDRESS.lower()))
    [liquidator] = traders.decode_fills(liquidation_fill("0x706bb519b05b7dc01d048af9a5e29d1ef5d6d9e3", "B"))
    [unnamed] = traders.decode_fills(liquidation_fill(None))
    parsed = [traders.trader_fill(f, ADDRESS, RECV_TS) for f in (own, liquidator, unnamed)]
    assert [f.liquidation if f else None for f in parsed] == [True, False, True]
    assert parsed[0] is not None and parsed[0].side == "sell" and parsed[0].closed_pnl == Decimal("-1005.0")


def test_portfolio_all_time_account_value_beside_pnl_by_time() -> None:
    raw = msgspec.json.encode([
        ["day", {"accountValueHistory": [[5, "9.0"]], "pnlHistory": [[5, "0.0"]], "vlm": "0.0"}],
        ["allTime", {"accountValueHistory": [[3000, "1200.5"], [1000, "1000.0"], [2000, "900.25"]],
                     "pnlHistory": [[1000, "0.0"], [2000, "-99.75"], [3000, "200.5"], [4000, "1.0"]],
                     "vlm": "5000.0"}],
    ])
    equity = traders.parse_portfolio(raw, ADDRESS, RECV_TS)
    assert_event(
        equity, TraderEquity, address=ADDRESS.lower(), exchange="hyperliquid",
        points=(EquityPoint(1_000_000, Decimal("1000.0"), Decimal("0.0")),
                EquityPoint(2_000_000, Decimal("900.25"), Decimal("-99.75")),
                EquityPoint(3_000_000, Decimal("1200.5"), Decimal("200.5"))),
        ts=3_000_000, recv_ts=RECV_TS,
    )


def test_the_documented_portfolio() -> None:
    equity = traders.parse_portfolio(frame("hyperliquid", "portfolio"), ADDRESS, RECV_TS)
    assert [p.ts for p in equity.points] == [1_741_886_630_493_000, 1_741_895_270_493_000]
    assert all(p.account_value == 0 and p.pnl == 0 for p in equity.points)
    empty = b'[["allTime",{"accountValueHistory":[],"pnlHistory":[],"vlm":"0.0"}]]'
    assert traders.parse_portfolio(empty, ADDRESS, RECV_TS).ts == RECV_TS
    with pytest.raises(FrameError, match="allTime"):
        traders.parse_portfolio(b'[["day",{"accountValueHistory":[],"pnlHistory":[]}]]', ADDRESS, RECV_TS)


def test_meta_lists_the_perpetuals_still_listed() -> None:
    assert rest.parse_perp_coins(frame("hyperliquid", "meta")) == ["BTC", "ETH", "HPOS"]  # LOOM is delisted
    with pytest.raises(FrameError):
        rest.parse_perp_coins(b'{"universe":[{"szDecimals":1}]}')


@pytest.mark.parametrize(("n", "extra"), [(0, 0), (1, 1), (20, 1), (21, 2), (2000, 100)])
def test_the_extra_weight_of_a_fills_answer(n: int, extra: int) -> None:
    assert traders.fills_extra_weight(msgspec.json.encode([{}] * n)) == extra
    assert traders.fills_extra_weight(b"not json") == traders.FILLS_ANSWER.most == 100
