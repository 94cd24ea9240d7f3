"""Binance USD-M private side, pure: the documentation's signing examples, and the user data
stream and signed REST answers parsed from frames written from the documentation."""

from __future__ import annotations

from decimal import Decimal

import msgspec
import pytest
from hypothesis import given

from services.receivers.exchanges import binance
from services.receivers.exchanges.binance import account, account_rest
from services.receivers.private import AuthRejected, SessionExpired
from services.receivers.rest import BadResponse
from shared.accounts import Account
from shared.events import AccountFill, AccountOrder, Balance, Position
from tests.fixtures import frame
from tests.receivers.frame_checks import FUZZ, RECV_TS, assert_event, broken_frames, only_frame_errors

ACCOUNT_ID = "main"
STREAM = [
    "order_new",
    "order_trade",
    "order_liquidation",
    "order_adl",
    "order_market_canceled",
    "account_update",
    "account_update_oneway",
    "trade_lite",
]


def parse(name: str) -> list[object]:
    return list(
        account.parser(Account(id=ACCOUNT_ID, exchange="binance"))(frame("binance_account", name), RECV_TS)
    )


# --- signing: General Info, "SIGNED Endpoint Examples for POST /fapi/v1/order" ---


def test_signature_of_the_usd_m_documentation_example() -> None:
    """USD-M General Info page: HMAC SHA256 of the query string (Example 1) with its example secret."""
    secret = "2b5eb11e18796d12d88f13dc27dbbd02c2cc51ff7059765ed9821957d82bb4d9"
    query = (
        "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=9000&timeInForce=GTC"
        "&recvWindow=5000&timestamp=1591702613943"
    )
    documented = "3c661234138461fcc7a7d8746c6558c9842d4e10870d2ecbedf7777cad694af9"
    assert account_rest.signature(secret, query) == documented


def test_signature_of_the_spot_documentation_example() -> None:
    """The same HMAC on Binance's spot page (the NhqPt... secret), which the futures example follows."""
    secret = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
    query = (
        "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1"
        "&recvWindow=5000&timestamp=1499827319559"
    )
    documented = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
    assert account_rest.signature(secret, query) == documented


def test_signed_query_appends_window_timestamp_then_the_signature_of_what_precedes() -> None:
    secret = "2b5eb11e18796d12d88f13dc27dbbd02c2cc51ff7059765ed9821957d82bb4d9"
    params = [
        ("symbol", "BTCUSDT"),
        ("side", "BUY"),
        ("type", "LIMIT"),
        ("quantity", "1"),
        ("price", "9000"),
        ("timeInForce", "GTC"),
    ]
    pairs = account_rest.signed_query(params, secret, 1591702613943)
    assert pairs[-3:-1] == [("recvWindow", "5000"), ("timestamp", "1591702613943")]
    assert pairs[-1] == ("signature", "3c661234138461fcc7a7d8746c6558c9842d4e10870d2ecbedf7777cad694af9")


@pytest.mark.parametrize(
    ("status", "body", "kind", "text"),
    [
        (
            401,
            b'{"code":-2015,"msg":"Invalid API-key, IP, or permissions for action."}',
            AuthRejected,
            "binance -2015 Invalid API-key, IP, or permissions for action.",
        ),
        (
            401,
            b'{"code":-2014,"msg":"API-key format invalid."}',
            AuthRejected,
            "binance -2014 API-key format invalid.",
        ),
        (
            400,
            b'{"code":-1022,"msg":"Signature for this request is not valid."}',
            AuthRejected,
            "binance -1022 Signature for this request is not valid.",
        ),
        (401, b"<html>nope</html>", AuthRejected, "binance HTTP 401"),
        (
            400,
            b'{"code":-1125,"msg":"This listenKey does not exist."}',
            SessionExpired,
            "binance -1125 This listenKey does not exist.",
        ),
    ],
)
def test_refusals_name_the_venue_code_and_text(status: int, body: bytes, kind: type, text: str) -> None:
    refused = account_rest.refusal(BadResponse("refused", status, body))
    assert type(refused) is kind and str(refused) == text


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (403, b"WAF"),  # Binance's web application firewall, not a refused key
        (400, b'{"code":-1021,"msg":"Timestamp for this request is outside of the recvWindow."}'),
        (400, b'{"code":-1102,"msg":"Mandatory parameter \'symbol\' was not sent."}'),
    ],
)
def test_other_client_errors_are_not_refusals(status: int, body: bytes) -> None:
    assert account_rest.refusal(BadResponse("bad", status, body)) is None


def test_record_declares_the_private_side() -> None:
    venue = binance.VENUE
    assert venue.account is account.ACCOUNT and venue.account.url_key == "binance_private"
    assert venue.ws_urls["binance_private"] == "wss://fstream.binance.com/private/ws"
    assert venue.account.renew_s <= 1800 < 3600 and venue.account.max_age_s == 86400
    assert account.private_url("wss://fstream.binance.com/private/ws", "k1") == (
        "wss://fstream.binance.com/private/ws?listenKey=k1&events=ORDER_TRADE_UPDATE/ACCOUNT_UPDATE/listenKeyExpired"
    )


# --- the user data stream ---


def test_new_order_is_an_open_order_without_fill() -> None:
    [order] = parse("order_new")
    assert_event(
        order,
        AccountOrder,
        account=ACCOUNT_ID,
        exchange="binance",
        symbol="BTC-USDT-PERP",
        order_id="8886774",
        side="sell",
        price=Decimal("9910"),
        size=Decimal("0.001"),
        filled=Decimal("0"),
        status="new",
        order_type="limit",
        client_id="TEST",
        avg_price=None,
        closing="",
        ts=1568879465651000,
        recv_ts=RECV_TS,
    )


def test_trade_is_the_order_and_its_fill_with_fee_and_realized_pnl() -> None:
    order, fill = parse("order_trade")
    assert_event(
        order,
        AccountOrder,
        account=ACCOUNT_ID,
        exchange="binance",
        symbol="BTC-USDT-PERP",
        order_id="482255808281",
        side="buy",
        price=Decimal("91739.90"),
        size=Decimal("0.002"),
        filled=Decimal("0.002"),
        status="filled",
        order_type="limit",
        client_id="android_MLA5BSDBdSD12WPlEyMh",
        avg_price=Decimal("91739.90000"),
        closing="",
        ts=1731954087446000,
        recv_ts=RECV_TS,
    )
    assert_event(
        fill,
        AccountFill,
        account=ACCOUNT_ID,
        exchange="binance",
        symbol="BTC-USDT-PERP",
        order_id="482255808281",
        fill_id="5612428004",
        side="buy",
        price=Decimal("91739.90"),
        size=Decimal("0.002"),
        fee=Decimal("0.09173990"),
        fee_asset="USDT",
        realized_pnl=Decimal("0"),
        closing="",
        ts=1731954087444000,
        recv_ts=RECV_TS,
    )


def test_liquidation_order_autoclose_and_its_calculated_execution() -> None:
    order, fill = parse("order_liquidation")
    assert isinstance(order, AccountOrder) and isinstance(fill, AccountFill)
    assert (order.closing, order.client_id, order.order_type, order.status) == (
        "liquidation",
        "autoclose-1596107620040000020",
        "liquidation",
        "filled",
    )
    assert_event(
        fill,
        AccountFill,
        account=ACCOUNT_ID,
        exchange="binance",
        symbol="ETH-USDT-PERP",
        order_id="6071832819",
        fill_id="90813752",
        side="sell",
        price=Decimal("2873.21"),
        size=Decimal("0.500"),
        fee=Decimal("0.71830250"),
        fee_asset="USDT",
        realized_pnl=Decimal("-61.39500000"),
        closing="liquidation",
        ts=1596107620087000,
        recv_ts=RECV_TS,
    )


def test_adl_order_is_marked_adl() -> None:
    order, fill = parse("order_adl")
    assert isinstance(order, AccountOrder) and isinstance(fill, AccountFill)
    assert order.closing == fill.closing == "adl"
    assert (fill.side, fill.size, fill.fee, fill.realized_pnl) == (
        "buy",
        Decimal("0.001"),
        Decimal("0"),
        Decimal("0.43180000"),
    )


def test_market_order_expired_in_match_has_no_price_and_no_fill() -> None:
    [order] = parse("order_market_canceled")
    assert isinstance(order, AccountOrder)
    assert (order.price, order.avg_price, order.status, order.order_type) == (None, None, "expired", "market")


def test_account_update_one_way_is_a_balance_and_a_position() -> None:
    balance, position = parse("account_update_oneway")
    ts = 1731954087444000
    assert_event(
        balance,
        Balance,
        account=ACCOUNT_ID,
        exchange="binance",
        asset="USDT",
        total=Decimal("642.76097079"),
        available=Decimal("642.76097079"),
        ts=ts,
        recv_ts=RECV_TS,
    )
    assert_event(
        position,
        Position,
        account=ACCOUNT_ID,
        exchange="binance",
        symbol="BTC-USDT-PERP",
        size=Decimal("0.002"),
        entry_price=Decimal("91739.9"),
        mark_price=None,
        unrealized_pnl=Decimal("-0.03508665"),
        leverage=None,
        liquidation_price=None,  # not in this frame
        realized_pnl=None,
        funding_paid=None,
        ts=ts,
        recv_ts=RECV_TS,
    )


def test_account_update_hedge_legs_are_netted_per_symbol() -> None:
    """The documentation's example: two assets, and BTCUSDT's BOTH, LONG 20 and SHORT -10 rows."""
    usdt, busd, position = parse("account_update")
    assert isinstance(usdt, Balance) and isinstance(busd, Balance) and isinstance(position, Position)
    assert (usdt.asset, usdt.total, usdt.available) == (
        "USDT",
        Decimal("122624.12345678"),
        Decimal("100.12345678"),
    )
    assert (busd.asset, busd.total, busd.available) == ("BUSD", Decimal("1.00000000"), Decimal("0.00000000"))
    assert (position.symbol, position.size, position.entry_price, position.unrealized_pnl) == (
        "BTC-USDT-PERP",
        Decimal("10"),
        None,
        Decimal("1427.05600"),
    )


def test_closed_position_is_size_zero() -> None:
    raw = frame("binance_account", "account_update_oneway").replace(b'"pa":"0.002"', b'"pa":"0"')
    _, position = account.parse_frame(raw, RECV_TS, ACCOUNT_ID)
    assert isinstance(position, Position) and position.size == 0


def test_listen_key_expired_ends_the_session_without_naming_the_key() -> None:
    with pytest.raises(SessionExpired) as caught:
        parse("listen_key_expired")
    assert "WsCMN0a4" not in str(caught.value)


def test_events_not_asked_for_are_skipped() -> None:
    assert parse("trade_lite") == []
    assert account.parse_frame(b'{"e":"MARGIN_CALL","E":1}', RECV_TS, ACCOUNT_ID) == []


@FUZZ
@given(broken_frames([frame("binance_account", name) for name in STREAM]))
def test_broken_frames_are_frame_errors(frames: list[bytes | str]) -> None:
    parse_one = account.parser(Account(id=ACCOUNT_ID, exchange="binance"))
    only_frame_errors(parse_one, frames)


# --- the signed REST answers the snapshot is made of ---


def test_open_orders() -> None:
    items = msgspec.json.decode(frame("binance_account", "open_orders"), type=list[account_rest.OpenOrder])
    first, second = account_rest.open_order_events(items, ACCOUNT_ID, RECV_TS)
    assert_event(
        first,
        AccountOrder,
        account=ACCOUNT_ID,
        exchange="binance",
        symbol="BTC-USDT-PERP",
        order_id="1917641",
        side="buy",
        price=Decimal("9300"),
        size=Decimal("0.40"),
        filled=Decimal("0"),
        status="new",
        order_type="limit",
        client_id="abc",
        avg_price=None,
        closing="",
        ts=1579276756075000,
        recv_ts=RECV_TS,
    )
    assert (second.status, second.filled, second.avg_price) == (
        "partially_filled",
        Decimal("0.100"),
        Decimal("3010.50000"),
    )


def test_account_balances_skip_empty_assets() -> None:
    info = msgspec.json.decode(frame("binance_account", "account_v3"), type=account_rest.AccountInfo)
    [usdt] = account_rest.balance_events(info, ACCOUNT_ID, 5, RECV_TS)
    assert_event(
        usdt,
        Balance,
        account=ACCOUNT_ID,
        exchange="binance",
        asset="USDT",
        total=Decimal("23.72469206"),
        available=Decimal("23.72469206"),
        ts=5,
        recv_ts=RECV_TS,
    )


def test_position_risk_keeps_open_positions_only() -> None:
    items = msgspec.json.decode(
        frame("binance_account", "position_risk_v3"), type=list[account_rest.PositionRisk]
    )
    [ada] = account_rest.position_events(items, ACCOUNT_ID, 5, RECV_TS)
    assert_event(
        ada,
        Position,
        account=ACCOUNT_ID,
        exchange="binance",
        symbol="ADA-USDT-PERP",
        size=Decimal("30"),
        entry_price=Decimal("0.385"),
        mark_price=Decimal("0.41047590"),
        unrealized_pnl=Decimal("0.76427700"),
        leverage=None,
        liquidation_price=None,  # not in this frame
        realized_pnl=None,
        funding_paid=None,
        ts=5,
        recv_ts=RECV_TS,
    )


def test_user_trades_closing_from_force_orders() -> None:
    trades = msgspec.json.decode(frame("binance_account", "user_trades"), type=list[account_rest.UserTrade])
    forced = msgspec.json.decode(frame("binance_account", "force_orders"), type=list[account_rest.ForceOrder])
    closings = {f.orderId: account_rest.closing_of(f.clientOrderId) for f in forced}
    assert closings == {6071832819: "liquidation", 6072734303: "adl"}
    plain, liquidated = account_rest.fill_events(trades, closings, ACCOUNT_ID, RECV_TS)
    assert_event(
        plain,
        AccountFill,
        account=ACCOUNT_ID,
        exchange="binance",
        symbol="BTC-USDT-PERP",
        order_id="25851813",
        fill_id="698759",
        side="sell",
        price=Decimal("7819.01"),
        size=Decimal("0.002"),
        fee=Decimal("0.07819010"),
        fee_asset="USDT",
        realized_pnl=Decimal("-0.91539999"),
        closing="",
        ts=1569514978020000,
        recv_ts=RECV_TS,
    )
    assert liquidated.closing == "liquidation"


@pytest.mark.parametrize(
    ("client_id", "closing"),
    [
        ("autoclose-1596107620040000020", "liquidation"),
        ("adl_autoclose", "adl"),
        ("settlement_autoclose-1596107620", ""),
        ("my-autoclose-1", ""),
        ("", ""),
    ],
)
def test_closing_from_the_client_order_id(client_id: str, closing: str) -> None:
    assert account_rest.closing_of(client_id) == closing
