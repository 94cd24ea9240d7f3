"""OKX v5 private side, pure: the signatures and the account's frames and REST answers, against the
documented examples in tests/fixtures/okx_account/.

Fixture sources (compact wire form of each example of https://www.okx.com/docs-v5/en/):
- orders: the order channel's push example (SPOT BTC-USDT, filled)
- positions: the positions channel's push example (instType ANY: a FUTURES and an inverse SWAP)
- account: the account channel's push example
- login, login_refused, subscribe, please_log_in: #overview-websocket-login and the channels'
  responses; the refusal codes from the websocket error code page
- rest_orders_pending, rest_fills, rest_positions: the response examples of GET
  /api/v5/trade/orders-pending, /trade/fills, /account/positions (MARGIN, as the page shows it)
- rest_refused: the REST error of code 50111 (HTTP 401)
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
from decimal import Decimal as D

import msgspec
import pytest
from hypothesis import given, settings

from services.receivers.exchanges import VENUES, okx
from services.receivers.exchanges.okx import account
from services.receivers.exchanges.okx.account_parse import (
    FillItem,
    OrderItem,
    PositionItem,
    fill_event,
    login_sign,
    order_event,
    reads_position,
    rest_prehash,
    rest_sign,
)
from services.receivers.frames import FrameError
from services.receivers.private import AuthRejected
from shared.accounts import Account, Credentials
from shared.events import AccountFill, AccountOrder, AnyEvent, Balance, Position
from tests.fixtures import frame
from tests.receivers.frame_checks import (
    FUZZ,
    RECV_TS,
    assert_event,
    broken_frames,
    only_frame_errors,
)

ACC = "main-okx"
CT = {**okx.CT_VAL, "ETH-USDT-SWAP": D("0.1")}
PARSE = account.parser_with(CT)(Account(id=ACC, exchange="okx"))
SECRET = "22582BD0CFF14C41EDBF1AB98506286D"  # the secret key of the login page's example


def fixture(name: str) -> bytes:
    return frame("okx_account", name)


def _b64_hmac(text: str) -> str:
    digest = hmac.new(SECRET.encode(), text.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def test_login_sign_is_the_login_pages_recipe() -> None:
    """sign = Base64(HmacSHA256(timestamp + 'GET' + '/users/self/verify', SecretKey))."""
    assert login_sign(SECRET, "1538054050") == _b64_hmac("1538054050GET/users/self/verify")
    creds = Credentials("985d5b66-57ce-40fb-b714-afc0b9787083", SECRET, "123456")
    message = json.loads(account.login_message(creds, "1538054050"))
    assert message == {"op": "login", "args": [{
        "apiKey": "985d5b66-57ce-40fb-b714-afc0b9787083", "passphrase": "123456",
        "timestamp": "1538054050", "sign": _b64_hmac("1538054050GET/users/self/verify")}]}


def test_rest_sign_is_the_authentication_pages_example() -> None:
    """'sign=...HmacSHA256(timestamp + 'GET' + '/api/v5/account/balance?ccy=BTC', SecretKey)'."""
    stamp = "2020-12-08T09:08:57.715Z"  # the page's timestamp example
    prehash = rest_prehash(stamp, "GET", "/api/v5/account/balance?ccy=BTC")
    assert prehash == "2020-12-08T09:08:57.715ZGET/api/v5/account/balance?ccy=BTC"
    assert rest_sign(SECRET, prehash) == _b64_hmac(prehash)
    creds = Credentials("key", SECRET, "pass")
    headers = account.signed_headers(creds, stamp, "GET", "/api/v5/account/balance?ccy=BTC")
    assert headers == {"OK-ACCESS-KEY": "key", "OK-ACCESS-SIGN": _b64_hmac(prehash),
                       "OK-ACCESS-TIMESTAMP": stamp, "OK-ACCESS-PASSPHRASE": "pass"}
    assert account.iso_timestamp(1_607_418_537_715_999) == stamp


def test_the_subscription_waits_for_the_login_ack() -> None:
    assert account.subscribe_after_login(fixture("login")) == account.SUBSCRIBE
    assert account.subscribe_after_login(fixture("login").decode()) == account.SUBSCRIBE
    for other in ("login_refused", "subscribe", "orders"):
        assert account.subscribe_after_login(fixture(other)) is None
    assert account.subscribe_after_login(b"pong") is None
    assert json.loads(account.SUBSCRIBE)["args"] == [
        {"channel": "orders", "instType": "ANY"}, {"channel": "positions", "instType": "ANY"},
        {"channel": "account"}]


def test_orders_push_carries_the_order_and_its_fill() -> None:
    order, fill = PARSE(fixture("orders"), RECV_TS)
    assert_event(order, AccountOrder, account=ACC, exchange="okx", symbol="BTC-USDT",
                 order_id="452197707845865472", side="sell", price=D("31527.1"), size=D("0.001"),
                 filled=D("0.001"), status="filled", order_type="limit", client_id="",
                 avg_price=D("31527.1"), closing="", ts=1_654_084_353_264_000, recv_ts=RECV_TS)
    assert_event(fill, AccountFill, account=ACC, exchange="okx", symbol="BTC-USDT",
                 order_id="452197707845865472", fill_id="BTC-USDT:242589207", side="sell",
                 price=D("31527.1"), size=D("0.001"), fee=D("0.02522168"), fee_asset="USDT",
                 realized_pnl=D("0.01"), closing="", ts=1_654_084_353_263_000, recv_ts=RECV_TS)


def test_swap_orders_count_contracts_of_ct_val() -> None:
    swap = fixture("orders").replace(b'"instId":"BTC-USDT"', b'"instId":"BTC-USDT-SWAP"').replace(
        b'"instType":"SPOT"', b'"instType":"SWAP"')
    order, fill = PARSE(swap, RECV_TS)
    assert isinstance(order, AccountOrder) and isinstance(fill, AccountFill)
    assert (order.symbol, order.size, fill.size) == ("BTC-USDT-PERP", D("0.00001"), D("0.00001"))
    unknown = swap.replace(b"BTC-USDT-SWAP", b"DOGE-USDT-SWAP")
    with pytest.raises(FrameError, match="no ctVal for DOGE-USDT-SWAP"):
        PARSE(unknown, RECV_TS)


def test_liquidation_orders_close_and_leave_their_fill_to_rest() -> None:
    raw = fixture("orders").replace(b'"category":"normal"', b'"category":"full_liquidation"').replace(
        b'"tradeId":"242589207"', b'"tradeId":"0"')
    [order] = PARSE(raw, RECV_TS)
    assert isinstance(order, AccountOrder) and order.closing == "liquidation"
    adl = fixture("orders").replace(b'"category":"normal"', b'"category":"adl"')
    assert [e.closing for e in PARSE(adl, RECV_TS)] == ["adl", "adl"]  # type: ignore[union-attr]


@pytest.mark.parametrize(("state", "ours"), [("live", "new"), ("partially_filled", "partially_filled"),
                                             ("canceled", "canceled"), ("mmp_canceled", "canceled")])
def test_order_states(state: str, ours: str) -> None:
    raw = fixture("orders").replace(b'"state":"filled"', f'"state":"{state}"'.encode())
    assert [e.status for e in PARSE(raw, RECV_TS) if isinstance(e, AccountOrder)] == [ours]


def test_positions_push_reads_linear_swaps_only() -> None:
    """The page's example holds a FUTURES and an inverse SWAP: tradehub reads neither."""
    assert PARSE(fixture("positions"), RECV_TS) == []
    linear = fixture("positions").replace(b'"ETH-USD-SWAP"', b'"ETH-USDT-SWAP"')
    [position] = PARSE(linear, RECV_TS)
    assert_event(position, Position, account=ACC, exchange="okx", symbol="ETH-USDT-PERP",
                 size=D("0.1"), entry_price=D("2566.31"), mark_price=D("2353.849"),
                 unrealized_pnl=D("-0.0000009932766034"), leverage=D("10"),
                 liquidation_price=D("2352.8496681818233"), realized_pnl=None, funding_paid=None,
                 ts=1_619_507_761_462_000, recv_ts=RECV_TS)
    short = linear.replace(b'"posSide":"long"', b'"posSide":"short"')
    assert [p.size for p in PARSE(short, RECV_TS) if isinstance(p, Position)] == [D("-0.1")]
    net = linear.replace(b'"posSide":"long"', b'"posSide":"net"').replace(b'"pos":"1"', b'"pos":"-3"')
    assert [p.size for p in PARSE(net, RECV_TS) if isinstance(p, Position)] == [D("-0.3"), ]


def test_account_push() -> None:
    [balance] = PARSE(fixture("account"), RECV_TS)
    assert_event(balance, Balance, account=ACC, exchange="okx", asset="USDT",
                 total=D("4750.426970691436"), available=D("4734.371190691436"),
                 ts=1_705_564_213_903_000, recv_ts=RECV_TS)


@pytest.mark.parametrize("name", ["login", "subscribe"])
def test_acks_and_pongs_are_no_data(name: str) -> None:
    assert PARSE(fixture(name), RECV_TS) == []
    assert PARSE(b"pong", RECV_TS) == PARSE("pong", RECV_TS) == []


def test_a_refused_login_raises_auth_rejected() -> None:
    with pytest.raises(AuthRejected, match="okx 60009 Login failed."):
        PARSE(fixture("login_refused"), RECV_TS)
    with pytest.raises(FrameError, match="60011"):  # a subscription too early: not the key's fault
        PARSE(fixture("please_log_in"), RECV_TS)


def _data(name: str, item: type) -> list:  # type: ignore[type-arg]
    answer = msgspec.json.decode(fixture(name), type=account.Answer[item])  # type: ignore[valid-type]
    assert answer.code == "0"
    return answer.data


def test_rest_orders_pending() -> None:
    [item] = _data("rest_orders_pending", OrderItem)
    assert_event(order_event(ACC, item, CT, RECV_TS), AccountOrder, account=ACC, exchange="okx",
                 symbol="BTC-USDT", order_id="1752588852617379840", side="buy", price=D("13013.5"),
                 size=D("0.001"), filled=D("0"), status="new", order_type="post_only", client_id="",
                 avg_price=None, closing="", ts=1_724_733_617_998_000, recv_ts=RECV_TS)


def test_rest_fills_fee_turned_round() -> None:
    [item] = _data("rest_fills", FillItem)
    assert_event(fill_event(ACC, item, CT, RECV_TS), AccountFill, account=ACC, exchange="okx",
                 symbol="BTC-USDT", order_id="680800019749904384", fill_id="BTC-USDT:744876980",
                 side="buy", price=D("51858"), size=D("0.00192834"), fee=D("0.00000192834"),
                 fee_asset="BTC", realized_pnl=D("0"), closing="", ts=1_708_587_373_361_000,
                 recv_ts=RECV_TS)
    liquidated = msgspec.structs.replace(item, subType="105", tradeId="-744876980")
    fill = fill_event(ACC, liquidated, CT, RECV_TS)
    assert (fill.closing, fill.fill_id) == ("liquidation", "BTC-USDT:-744876980")
    assert fill_event(ACC, msgspec.structs.replace(item, subType="126"), CT, RECV_TS).closing == "adl"


def test_rest_positions_margin_left_out() -> None:
    [item] = _data("rest_positions", PositionItem)
    assert item.instType == "MARGIN" and not reads_position(item)


def test_rest_refusal_is_the_venues() -> None:
    assert account._refusal_text(fixture("rest_refused")) == "okx 50111 Invalid OK-ACCESS-KEY"
    assert account._refusal_text(b"<html>") == "okx HTTP 401"


def test_the_record_declares_the_private_side() -> None:
    assert okx.VENUE.account is account.ACCOUNT and VENUES["okx"].account is account.ACCOUNT
    assert okx.VENUE.ws_urls["okx_private"] == "wss://ws.okx.com/ws/v5/private"
    keepalive = account.ACCOUNT.keepalive
    assert (keepalive.message, keepalive.interval_s) == ("ping", 20)
    assert keepalive.reply is account.subscribe_after_login


FIXTURES = [fixture(n) for n in ("orders", "positions", "account", "login", "subscribe", "login_refused")]


def _parse_or_refuse(raw: bytes | str, recv_ts: int) -> list[AnyEvent]:
    try:
        return PARSE(raw, recv_ts)
    except AuthRejected:  # a broken error event may keep a refusal code: a venue's answer, not a bug
        return []


@settings(FUZZ)
@given(raw=broken_frames([*FIXTURES, fixture("positions").replace(b"ETH-USD-SWAP", b"ETH-USDT-SWAP")]))
def test_only_frame_errors_escape(raw: list[bytes | str]) -> None:
    only_frame_errors(_parse_or_refuse, raw)
    for frame_ in raw:
        account.subscribe_after_login(frame_)  # never raises
