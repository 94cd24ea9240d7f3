"""Bybit v5 private side, pure: the signatures and the account's frames and REST answers, against the
documented examples in tests/fixtures/bybit_account/.

Fixture sources (compact wire form of each example):
- execution, wallet: https://bybit-exchange.github.io/docs/v5/websocket/private/{execution,wallet}
- order: the order page's stream example with category "linear" and symbol BTCUSDT (the page's
  own is an option, ETH-30DEC22-1400-C, which tradehub does not name)
- position: the position page's stream example (BTCUSDT, Sell 0.01)
- auth, subscribe, pong: https://bybit-exchange.github.io/docs/v5/ws/connect; auth_refused: a
  refusal as Bybit sends it (bybit-exchange/api-usage-examples issue 70)
- rest_*: the response examples of /v5/order/realtime, /v5/execution/list, /v5/position/list
  (inverse, as the page shows it), /v5/account/wallet-balance; rest_refused: retCode 10003 (v5/error)
"""

from __future__ import annotations

import hashlib
import hmac
import json
from decimal import Decimal as D

import msgspec
import pytest
from hypothesis import given, settings

from services.receivers.exchanges import VENUES, bybit
from services.receivers.exchanges.bybit import account
from services.receivers.exchanges.bybit.account_parse import (
    ExecutionItem,
    OrderItem,
    PositionItem,
    WalletItem,
    auth_signature,
    balance_events,
    fill_event,
    order_event,
    position_event,
    read,
    rest_prehash,
    rest_signature,
)
from services.receivers.frames import FrameError
from services.receivers.private import AuthRejected
from shared.accounts import Account, Credentials
from shared.events import AccountFill, AccountOrder, AnyEvent, Balance, Position
from tests.fixtures import frame
from tests.receivers.frame_checks import FUZZ, RECV_TS, assert_event, broken_frames, only_frame_errors

ACCOUNT = Account(id="main-bybit", exchange="bybit")
PARSE = account.parser(ACCOUNT)
KEY, SECRET = "XXXXXXXXXX", "a-secret-of-the-test"


def fixture(name: str) -> bytes:
    return frame("bybit_account", name)


def test_rest_prehash_is_the_guides_example() -> None:
    """The guide's GET example: timestamp + api_key + recv_window + queryString."""
    prehash = rest_prehash(1658384314791, KEY, 5000, "category=option&symbol=BTC-29JUL22-25000-C")
    assert prehash == "1658384314791XXXXXXXXXX5000category=option&symbol=BTC-29JUL22-25000-C"
    documented = hmac.new(SECRET.encode(), prehash.encode(), hashlib.sha256).hexdigest()  # hex HMAC_SHA256
    assert rest_signature(SECRET, prehash) == documented


def test_signed_headers_sign_the_query_as_sent() -> None:
    query = account.query_string({"category": "linear", "settleCoin": "USDT", "limit": "50"})
    assert query == "category=linear&settleCoin=USDT&limit=50"  # in the given order, not sorted
    headers = account.signed_headers(Credentials(KEY, SECRET), 1658384314791, query, 5000)
    assert headers == {
        "X-BAPI-API-KEY": KEY,
        "X-BAPI-TIMESTAMP": "1658384314791",
        "X-BAPI-RECV-WINDOW": "5000",
        "X-BAPI-SIGN": rest_signature(SECRET, f"1658384314791{KEY}5000{query}"),
    }


def test_auth_is_the_connect_pages_recipe() -> None:
    """The connect page's Python: hmac.new(secret, f"GET/realtime{expires}", sha256).hexdigest()."""
    expires = 1662350400000  # the page's example expires
    documented = str(
        hmac.new(
            bytes(SECRET, "utf-8"), bytes(f"GET/realtime{expires}", "utf-8"), digestmod="sha256"
        ).hexdigest()
    )
    assert auth_signature(SECRET, expires) == documented
    message = json.loads(account.auth_message(Credentials(KEY, SECRET), expires))
    assert message == {"req_id": "auth", "op": "auth", "args": [KEY, expires, documented]}
    assert json.loads(account.SUBSCRIBE) == {
        "op": "subscribe",
        "args": ["order", "execution", "position", "wallet"],
    }


def test_order_push() -> None:
    [order] = PARSE(fixture("order"), RECV_TS)
    assert_event(
        order,
        AccountOrder,
        account="main-bybit",
        exchange="bybit",
        symbol="BTC-USDT-PERP",
        order_id="5cf98598-39a7-459e-97bf-76ca765ee020",
        side="sell",
        price=None,
        size=D("1"),
        filled=D("1"),
        status="filled",
        order_type="market",
        client_id="",
        avg_price=D("75"),
        closing="",
        ts=1_672_364_262_457_000,
        recv_ts=RECV_TS,
    )


@pytest.mark.parametrize(
    ("status", "ours"),
    [
        ("New", "new"),
        ("PartiallyFilled", "partially_filled"),
        ("Untriggered", "new"),
        ("Cancelled", "canceled"),
        ("PartiallyFilledCanceled", "canceled"),
        ("Rejected", "rejected"),
    ],
)
def test_order_statuses(status: str, ours: str) -> None:
    raw = fixture("order").replace(b'"orderStatus":"Filled"', f'"orderStatus":"{status}"'.encode())
    assert [o.status for o in PARSE(raw, RECV_TS) if isinstance(o, AccountOrder)] == [ours]


def test_liquidation_and_adl_orders_are_closing() -> None:
    for create_type, closing in (
        ("CreateByLiq", "liquidation"),
        ("CreateByTakeOver_PassThrough", "liquidation"),
        ("CreateByAdl_PassThrough", "adl"),
        ("CreateByUser", ""),
    ):
        raw = fixture("order").replace(
            b'"category":"linear"', f'"category":"linear","createType":"{create_type}"'.encode()
        )
        [order] = PARSE(raw, RECV_TS)
        assert isinstance(order, AccountOrder) and order.closing == closing


def test_spot_orders_are_read_options_left_out() -> None:
    spot = fixture("order").replace(b'"category":"linear"', b'"category":"spot"')
    assert [o.symbol for o in PARSE(spot, RECV_TS) if isinstance(o, AccountOrder)] == ["BTC-USDT"]
    option = (
        fixture("order")
        .replace(b'"category":"linear"', b'"category":"option"')
        .replace(b"BTCUSDT", b"ETH-30DEC22-1400-C")
    )
    assert PARSE(option, RECV_TS) == []


def test_execution_push() -> None:
    [fill] = PARSE(fixture("execution"), RECV_TS)
    assert_event(
        fill,
        AccountFill,
        account="main-bybit",
        exchange="bybit",
        symbol="XRP-USDT-PERP",
        order_id="f6e324ff-99c2-4e89-9739-3086e47f9381",
        fill_id="7e2ae69c-4edf-5800-a352-893d52b446aa",
        side="sell",
        price=D("0.3374"),
        size=D("25"),
        fee=D("0.005061"),
        fee_asset="USDT",
        realized_pnl=None,
        closing="",
        ts=1_672_364_174_443_000,
        recv_ts=RECV_TS,
    )


def test_bust_and_adl_trades_close_funding_is_no_fill() -> None:
    def closing(exec_type: str) -> list[str]:
        raw = fixture("execution").replace(b'"execType":"Trade"', f'"execType":"{exec_type}"'.encode())
        return [f.closing for f in PARSE(raw, RECV_TS) if isinstance(f, AccountFill)]

    assert closing("BustTrade") == ["liquidation"] and closing("AdlTrade") == ["adl"]
    assert closing("Funding") == []  # a funding fee rides on the topic; it is no fill


def test_position_push() -> None:
    [position] = PARSE(fixture("position"), RECV_TS)
    assert_event(
        position,
        Position,
        account="main-bybit",
        exchange="bybit",
        symbol="BTC-USDT-PERP",
        size=D("-0.01"),
        entry_price=D("49120.9"),
        mark_price=D("28184.5"),
        unrealized_pnl=D("209.364"),
        leverage=D("10"),
        liquidation_price=None,  # "liqPrice": "" in the example
        realized_pnl=None,
        funding_paid=None,
        ts=1_697_682_317_038_000,
        recv_ts=RECV_TS,
    )


def test_a_closed_position_has_size_zero_and_no_entry() -> None:
    raw = fixture("position").replace(b'"side":"Sell","size":"0.01"', b'"side":"","size":"0"')
    [position] = PARSE(raw, RECV_TS)
    assert isinstance(position, Position) and position.size == 0 and position.entry_price is None


def test_wallet_push() -> None:
    balances = PARSE(fixture("wallet"), RECV_TS)
    assert [(b.asset, b.total, b.available) for b in balances if isinstance(b, Balance)] == [
        ("USDC", D("0"), D("0")),
        ("BTC", D("0"), D("0")),
        ("USDT", D("106.03036732"), D("0")),
    ]
    assert_event(
        balances[2],
        Balance,
        account="main-bybit",
        exchange="bybit",
        asset="USDT",
        total=D("106.03036732"),
        available=D("0"),
        ts=1_690_873_065_683_000,
        recv_ts=RECV_TS,
    )


def test_wallet_without_available_to_withdraw_subtracts_what_is_held() -> None:
    raw = fixture("wallet").replace(
        b'"availableToWithdraw":"0","availableToBorrow":"2500000"',
        b'"availableToWithdraw":"","availableToBorrow":"2500000"',
    )
    usdt = [b for b in PARSE(raw, RECV_TS) if isinstance(b, Balance) and b.asset == "USDT"]
    assert [b.available for b in usdt] == [D("106.03036732") - D("7539.624") - D("1179.1604584")]


@pytest.mark.parametrize("name", ["auth", "subscribe", "pong"])
def test_acks_and_pongs_are_no_data(name: str) -> None:
    assert PARSE(fixture(name), RECV_TS) == []


def test_a_refused_auth_raises_auth_rejected() -> None:
    with pytest.raises(AuthRejected, match="Params Error"):
        PARSE(fixture("auth_refused"), RECV_TS)
    refused = fixture("subscribe").replace(b'"success":true', b'"success":false')
    with pytest.raises(FrameError, match="refused 'subscribe'"):
        PARSE(refused, RECV_TS)


def _answer(name: str, item: type) -> account.Answer:  # type: ignore[type-arg]
    return msgspec.json.decode(fixture(name), type=account.Answer[account.Page[item]])  # type: ignore[valid-type]


def test_rest_open_orders() -> None:
    answer = _answer("rest_order_realtime", OrderItem)
    [order] = read(
        answer.result.items, lambda i, c: order_event("main-bybit", i, c, RECV_TS), answer.result.category
    )
    assert_event(
        order,
        AccountOrder,
        account="main-bybit",
        exchange="bybit",
        symbol="ETH-USDT-PERP",
        order_id="fd4300ae-7847-404e-b947-b46980a4d140",
        side="buy",
        price=D("1600.00"),
        size=D("0.10"),
        filled=D("0.00"),
        status="new",
        order_type="limit",
        client_id="test-000005",
        avg_price=None,
        closing="",
        ts=1_684_738_540_561_000,
        recv_ts=RECV_TS,
    )
    assert answer.result.nextPageCursor.startswith("page_args%3D")  # sent back as it came


def test_rest_executions_of_usdc_perpetuals() -> None:
    answer = _answer("rest_execution_list", ExecutionItem)
    [fill] = read(
        answer.result.items, lambda i, c: fill_event("main-bybit", i, c, RECV_TS), answer.result.category
    )
    assert_event(
        fill,
        AccountFill,
        account="main-bybit",
        exchange="bybit",
        symbol="ETH-USDC-PERP",
        order_id="8c065341-7b52-4ca9-ac2c-37e31ac55c94",
        fill_id="e0cbe81d-0f18-5866-9415-cf319b5dab3b",
        side="buy",
        price=D("1190.15"),
        size=D("0.1"),
        fee=D("0.071409"),
        fee_asset="USDC",
        realized_pnl=None,
        closing="",
        ts=1_672_282_722_429_000,
        recv_ts=RECV_TS,
    )


def test_rest_positions_inverse_left_out_linear_read() -> None:
    def positions(raw: bytes) -> list[Position]:
        answer = msgspec.json.decode(raw, type=account.Answer[account.Page[PositionItem]])
        return read(
            answer.result.items,
            lambda i, c: position_event("main-bybit", i, c, answer.time, RECV_TS),
            answer.result.category,
        )

    assert positions(fixture("rest_position_list")) == []  # the page's example is inverse (BTCUSD)
    linear = (
        fixture("rest_position_list")
        .replace(b'"category":"inverse"', b'"category":"linear"')
        .replace(b'"BTCUSD"', b'"BTCUSDT"')
    )
    [position] = positions(linear)
    assert_event(
        position,
        Position,
        account="main-bybit",
        exchange="bybit",
        symbol="BTC-USDT-PERP",
        size=D("-300"),
        entry_price=D("27464.50441675"),
        mark_price=D("28224.50"),
        unrealized_pnl=D("-0.00029413"),
        leverage=D("10"),
        liquidation_price=None,  # "liqPrice": "" in the example
        realized_pnl=None,
        funding_paid=None,
        ts=1_697_673_600_012_000,
        recv_ts=RECV_TS,
    )


def test_rest_wallet_balance() -> None:
    answer = msgspec.json.decode(
        fixture("rest_wallet_balance"), type=account.Answer[account.Page[WalletItem]]
    )
    [balance] = [
        b for item in answer.result.items for b in balance_events("main-bybit", item, answer.time, RECV_TS)
    ]
    assert_event(
        balance,
        Balance,
        account="main-bybit",
        exchange="bybit",
        asset="BTC",
        total=D("0.805994"),
        available=D("0.805994"),
        ts=1_672_125_441_042_000,
        recv_ts=RECV_TS,
    )


def test_rest_refusal_codes_are_the_venues() -> None:
    refused = msgspec.json.decode(fixture("rest_refused"), type=account.Answer[account.Page[OrderItem]])
    assert refused.retCode in account.AUTH_CODES and refused.result.items == []


def test_the_record_declares_the_private_side() -> None:
    assert bybit.VENUE.account is account.ACCOUNT and VENUES["bybit"].account is account.ACCOUNT
    assert bybit.VENUE.ws_urls["bybit_private"] == "wss://stream.bybit.com/v5/private"
    assert account.ACCOUNT.url_key == "bybit_private" and account.ACCOUNT.keepalive.interval_s == 20
    assert account.ACCOUNT.keepalive.message == '{"op":"ping"}'


FIXTURES = [fixture(n) for n in ("order", "execution", "position", "wallet", "auth", "subscribe", "pong")]


def _parse_or_refuse(raw: bytes | str, recv_ts: int) -> list[AnyEvent]:
    try:
        return PARSE(raw, recv_ts)
    except AuthRejected:  # a broken auth ack may read as a refusal: a venue's answer, not a bug
        return []


@settings(FUZZ)
@given(raw=broken_frames(FIXTURES))
def test_only_frame_errors_escape(raw: list[bytes | str]) -> None:
    only_frame_errors(_parse_or_refuse, raw)
