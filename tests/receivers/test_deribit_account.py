"""Deribit's private side, pure: the login and refresh messages, the user.* notifications and the REST
answers in the documentation's shapes (tests/fixtures/deribit_account/), the refusals."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec
import pytest

from services.receivers.exchanges import deribit
from services.receivers.exchanges.deribit import account as acct
from services.receivers.exchanges.deribit import account_rest
from services.receivers.frames import FrameError, divide
from services.receivers.private import AuthRejected, Link, SessionExpired
from services.receivers.rest import BadResponse
from shared.accounts import Account, Credentials
from shared.events import AccountFill, AccountOrder, Balance
from tests.fixtures import frame

ACCOUNT = Account(id="main-deribit", exchange="deribit")
CREDENTIALS = Credentials(key="fo7WAPRm4P", secret="W0H6FJW4IRPZ1MOQ8FP6KMC5RZDUUKXS")
REFRESH = ("1582628593469.1GP4rQd0.A9Wa78o5kFRIUP49mScaD1CqHgiK50HOl2VA6kCtWa8BQZU5Dr03BhcbXPNvEh3I_"
           "MVixKZXnyoBeKJwLl8LXnfo180ckAiPj3zOclcUu4zkXuF3NNP3sTPcDf1B3C1CwMKkJ1NOcf1yPmRbsrd7hbgQ-hLa40tf"
           "x6Oa-85ymm_3Z65LZcnCeLrqlj_A9jM")
RECV = 1_700_000_000_000_000


def fixture(name: str) -> bytes:
    return frame("deribit_account", name)


def parse(name: str) -> list[Any]:
    return acct.parser(ACCOUNT)(fixture(name), RECV)


def usd(amount: str, price: str) -> Decimal:
    """An inverse amount in the base currency, as the market parser converts it."""
    return divide(Decimal(amount), Decimal(price), "size")


def link(client: Any = None, credentials: Credentials | None = CREDENTIALS) -> Link:
    return Link(account=ACCOUNT, credentials=credentials, client=client)


def rpc(message: bytes) -> dict[str, Any]:
    decoded: dict[str, Any] = msgspec.json.decode(message)
    return decoded


async def test_login_authorizes_then_asks_for_heartbeats_then_subscribes_the_account() -> None:
    login = await acct.login(link(), "wss://www.deribit.com/ws/api/v2")
    assert login.url == "wss://www.deribit.com/ws/api/v2"
    auth, heartbeat, subscribe = (rpc(bytes(m)) for m in login.messages)  # type: ignore[arg-type]
    assert auth == {"jsonrpc": "2.0", "id": 1, "method": "public/auth", "params": {
        "grant_type": "client_credentials", "client_id": "fo7WAPRm4P",
        "client_secret": "W0H6FJW4IRPZ1MOQ8FP6KMC5RZDUUKXS"}}
    assert heartbeat["method"] == "public/set_heartbeat" and heartbeat["params"] == {"interval": 30}
    assert subscribe["method"] == "private/subscribe"
    assert subscribe["params"]["channels"] == [
        "user.orders.future.any.raw", "user.trades.future.any.raw", "user.portfolio.any"]


async def test_an_account_without_a_key_cannot_log_in() -> None:
    with pytest.raises(AuthRejected):
        await acct.login(link(credentials=None), "wss://x")


async def test_renew_spends_the_refresh_token_of_the_last_auth_answer() -> None:
    login = await acct.login(link(), "wss://x")  # a new connection forgets the old tokens
    early = rpc(bytes((await acct.renew(link(), login))[0]))  # no auth answer yet: the credentials again
    assert early["params"]["grant_type"] == "client_credentials" and early["id"] == acct.REFRESH_ID
    assert parse("auth_result") == []  # the answer is read for its refresh token, nothing reported
    renewed = rpc(bytes((await acct.renew(link(), login))[0]))
    assert renewed == {"jsonrpc": "2.0", "id": acct.REFRESH_ID, "method": "public/auth",
                       "params": {"grant_type": "refresh_token", "refresh_token": REFRESH}}
    assert deribit.ACCOUNT.renew_s < 900  # inside the ~15 minutes an access token lives


def test_a_refused_key_is_auth_rejected_without_the_secret() -> None:
    with pytest.raises(AuthRejected) as refused:
        parse("auth_error")
    assert str(refused.value) == "deribit 13004 invalid_credentials"
    assert CREDENTIALS.secret not in str(refused.value) and CREDENTIALS.key not in str(refused.value)


def test_an_unauthorized_session_is_expired() -> None:
    with pytest.raises(SessionExpired):
        parse("unauthorized")


def test_replies_and_heartbeats_are_not_data() -> None:
    assert parse("subscribe_result") == []
    assert acct.parser(ACCOUNT)(frame("deribit", "heartbeat_test_request"), RECV) == []
    assert acct.parser(ACCOUNT)(frame("deribit", "set_heartbeat_result"), RECV) == []
    assert deribit.ACCOUNT.keepalive.reply is not None
    assert deribit.ACCOUNT.keepalive.reply(frame("deribit", "heartbeat_test_request")) is not None


def test_a_raw_order_update_in_usd_becomes_an_order_in_btc() -> None:
    [order] = parse("user_orders_raw")
    assert isinstance(order, AccountOrder)
    assert order == AccountOrder(
        account="main-deribit", exchange="deribit", symbol="BTC-USD-PERP", order_id="6", side="buy",
        price=Decimal("10542.68"), size=usd("200", "10542.68"), filled=Decimal(0), status="new",
        order_type="limit", client_id="", avg_price=None, ts=1581507583024000, recv_ts=RECV)


def test_aggregated_order_updates_are_a_list() -> None:
    [order] = parse("user_orders_100ms")
    assert order.order_id == "476137" and order.size == usd("120", "3928.5") and order.status == "new"


def test_a_filled_inverse_order_is_as_large_as_its_filled_part() -> None:
    [order] = parse("user_changes_order_filled")
    assert order.status == "filled" and order.side == "sell" and order.order_type == "market"
    assert order.filled == order.size == usd("10", "17391") and order.avg_price == Decimal(17391)


def test_user_trades_become_fills_in_the_base_currency() -> None:
    fills = parse("user_trades")
    assert [f.fill_id for f in fills] == ["48079254", "48079255"]
    assert fills[0] == AccountFill(
        account="main-deribit", exchange="deribit", symbol="BTC-USD-PERP", order_id="4008965646",
        fill_id="48079254", side="sell", price=Decimal(8954), size=usd("20", "8954"),
        fee=Decimal("0.00000168"), fee_asset="BTC", realized_pnl=None, closing="", ts=1590484156350000,
        recv_ts=RECV)


def test_a_fill_of_our_liquidation_says_so_and_options_are_left_out() -> None:
    ours, theirs = parse("user_trades_liquidation")  # the third, an option, is not a perpetual
    assert ours.closing == "liquidation" and ours.realized_pnl == Decimal("0.00004898")
    assert ours.fee == Decimal("1.6e-7") and ours.size == usd("10", "17391")
    assert theirs.closing == "" and theirs.symbol == "ETH-USDC-PERP" and theirs.size == Decimal("0.5")
    assert theirs.fee == Decimal("-0.0102") and theirs.fee_asset == "USDC"  # a maker rebate


def test_the_portfolio_is_a_balance() -> None:
    assert parse("user_portfolio") == [Balance(account="main-deribit", exchange="deribit", asset="BTC",
                                               total=Decimal("0.1"), available=Decimal("0.1"), ts=RECV,
                                               recv_ts=RECV)]


def test_prices_may_be_market_price() -> None:
    assert acct.price_of(msgspec.Raw(b'"market_price"')) is None
    assert acct.price_of(msgspec.Raw(b"10542.68")) == Decimal("10542.68")
    with pytest.raises(FrameError):
        acct.price_of(msgspec.Raw(b"{}"))


def test_an_unknown_channel_is_a_bad_frame() -> None:
    raw = b'{"jsonrpc":"2.0","method":"subscription","params":{"channel":"user.mmp_trigger.any","data":{}}}'
    with pytest.raises(FrameError):
        acct.parser(ACCOUNT)(raw, RECV)


class FakeClient:
    """The venue's REST client, answering each method with a documented answer."""

    def __init__(self, answers: dict[str, bytes]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, dict[str, str], dict[str, str], bytes | None]] = []

    async def request(self, method: str, path: str, *, params: Any = None, body: bytes | None = None,
                      weight: float = 1, headers: Any = None, **_: Any) -> bytes:
        assert method == "GET" and weight == 1
        self.calls.append((path, dict(params or {}), dict(headers or {}), body))
        name = path.removeprefix("/api/v2/").split("/")[1]
        if name == "get_account_summary" and params["currency"] != "BTC":
            empty = {"currency": params["currency"], "balance": 0, "available_funds": 0, "equity": 0}
            return msgspec.json.encode({"jsonrpc": "2.0", "result": empty})
        if name in ("get_open_orders_by_currency", "get_user_trades_by_currency_and_time") and \
                params["currency"] != "BTC":
            return (b'{"jsonrpc":"2.0","result":[]}' if name.startswith("get_open")
                    else b'{"jsonrpc":"2.0","result":{"trades":[],"has_more":false}}')
        return self.answers[name]


METHODS = ("get_open_orders_by_currency", "get_account_summary", "get_positions",
           "get_user_trades_by_currency_and_time")
ANSWERS = {name: fixture(name) for name in METHODS}


async def test_the_snapshot_reads_the_documented_answers_with_a_bearer_token() -> None:
    client = FakeClient({"auth": fixture("auth_result"), **ANSWERS})
    snap = await account_rest.snapshot(link(client), 1_589_000_000_000_000)
    auth_path, _, auth_headers, auth_body = client.calls[0]
    assert auth_path == "/api/v2/public/auth" and auth_headers == {}
    assert auth_body is not None and rpc(auth_body)["params"]["grant_type"] == "client_credentials"
    assert all(headers["Authorization"].startswith("Bearer 1582628593469.1MbQ") for _, _, headers, _ in
               client.calls[1:])
    assert all(CREDENTIALS.secret not in str(params) for _, params, _, _ in client.calls)  # never in a url
    [order] = snap.open_orders  # the option order is left out
    assert order.order_id == "4008999000" and order.client_id == "my-grid-7"
    assert order.status == "partially_filled" and order.filled == usd("45", "9000") == order.size / 2
    assert [(b.asset, b.total, b.available) for b in snap.balances] == [
        ("BTC", Decimal("302.60065765"), Decimal("301.38059622"))]  # the all-zero currencies are left out
    [held] = snap.positions  # the flat ETH-PERPETUAL is left out
    assert held.symbol == "BTC-USD-PERP" and held.size == usd("50", "7440.18")
    assert held.entry_price == Decimal("7440.18") and held.mark_price == Decimal("7476.65")
    assert held.leverage == Decimal(34)
    assert [f.fill_id for f in snap.fills] == ["48079254"]  # the option and the dated future are left out
    trades = [params for path, params, _, _ in client.calls if path.endswith("time")]
    assert trades[0]["start_timestamp"] == "1589000000000" and trades[0]["sorting"] == "asc"
    assert snap.fills_since == 1_589_000_000_000_000 and snap.account == "main-deribit"


async def test_a_refused_key_over_http_is_auth_rejected() -> None:
    class Refusing:
        async def request(self, *args: Any, **kwargs: Any) -> bytes:
            raise BadResponse("HTTP 400 for GET /api/v2/public/auth", 400, fixture("auth_error"))

    with pytest.raises(AuthRejected, match="13004 invalid_credentials"):
        await account_rest.snapshot(link(Refusing()), 0)


def test_other_refusals_stay_what_they_are() -> None:
    body = b'{"jsonrpc":"2.0","error":{"code":-32602,"message":"Invalid params"}}'
    other = BadResponse("HTTP 400", 400, body)
    assert account_rest.refused(other) is other
    assert isinstance(account_rest.refused(BadResponse("HTTP 401", 401, b"")), AuthRejected)


def test_the_record_declares_the_private_side() -> None:
    assert deribit.VENUE.account is deribit.ACCOUNT and deribit.ACCOUNT.url_key == "deribit_private"
    assert deribit.VENUE.ws_urls["deribit_private"] == "wss://www.deribit.com/ws/api/v2"
    assert deribit.ACCOUNT.needs_key and deribit.VENUE.rest is not None
