"""Hyperliquid's own addresses, pure: the login's two user subscriptions, userFills and userEvents in
the documented shapes (tests/fixtures/hyperliquid_account/), and the info answers of a snapshot."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec
import pytest

from services.receivers.exchanges import hyperliquid
from services.receivers.exchanges.hyperliquid import account as acct
from services.receivers.frames import FrameError
from services.receivers.private import AuthRejected, Link
from shared.accounts import Account
from shared.events import AccountFill, AccountOrder, Balance, Position
from tests.fixtures import frame

ADDRESS = "0x5b5d51203a0f9079f8aeb098a6523a13f298c060"
ACCOUNT = Account(id="hl-main", exchange="hyperliquid", address="0x5B5D51203A0F9079F8AEB098A6523A13F298C060")
RECV = 1_700_000_000_000_000


def fixture(name: str) -> bytes:
    return frame("hyperliquid_account", name)


def parse(name: str) -> list[Any]:
    return acct.parser(ACCOUNT)(fixture(name), RECV)


def link(client: Any = None, account: Account = ACCOUNT) -> Link:
    return Link(account=account, credentials=None, client=client)


async def test_login_subscribes_the_address_fills_and_events_without_a_key() -> None:
    login = await acct.login(link(), "wss://api.hyperliquid.xyz/ws")
    assert login.url == "wss://api.hyperliquid.xyz/ws"
    assert [msgspec.json.decode(bytes(m)) for m in login.messages] == [  # type: ignore[arg-type]
        {"method": "subscribe", "subscription": {"type": "userFills", "user": ADDRESS}},
        {"method": "subscribe", "subscription": {"type": "userEvents", "user": ADDRESS}},
    ]


async def test_an_account_without_an_address_cannot_be_read() -> None:
    with pytest.raises(AuthRejected):
        await acct.login(link(account=Account(id="x", exchange="hyperliquid")), "wss://x")


def test_the_snapshot_batch_of_user_fills_is_kept_and_spot_pairs_by_index_left_out() -> None:
    [fill] = parse("userFills_snapshot")  # the second one is "@107", a spot pair named by index
    assert fill == AccountFill(
        account="hl-main", exchange="hyperliquid", symbol="AVAX-USD-PERP", order_id="90542681",
        fill_id="118906512037719", side="buy", price=Decimal("18.435"), size=Decimal("93.53"),
        fee=Decimal("0.01"), fee_asset="USDC", realized_pnl=Decimal("0.0"), closing="",
        ts=1681222254710000, recv_ts=RECV)


def test_a_fill_of_our_own_liquidation_is_closing_liquidation() -> None:
    ours, liquidators = parse("userFills_liquidation")
    assert ours.closing == "liquidation" and ours.side == "sell" and ours.realized_pnl == Decimal("-4.01")
    assert liquidators.closing == ""  # the block names someone else: we took over their position


def test_user_events_fills_are_the_same_fills() -> None:
    assert parse("userEvents_fills") == parse("userFills_snapshot")


@pytest.mark.parametrize("name", ["userEvents_funding", "userEvents_liquidation", "userEvents_nonUserCancel",
                                  "subscriptionResponse"])
def test_events_without_a_fill_and_acks_are_no_data(name: str) -> None:
    assert parse(name) == []


def test_pongs_and_the_greeting_are_no_data_and_errors_are_bad_frames() -> None:
    parse_frame = acct.parser(ACCOUNT)
    assert parse_frame(b"Websocket connection established.", RECV) == []
    assert parse_frame(frame("hyperliquid", "pong"), RECV) == []
    with pytest.raises(FrameError):
        parse_frame(b'{"channel":"error","data":"Invalid subscription"}', RECV)


def test_open_orders_with_and_without_their_original_size() -> None:
    documented, live = acct.parse_open_orders(fixture("openOrders"), "hl-main", RECV)
    assert documented == AccountOrder(
        account="hl-main", exchange="hyperliquid", symbol="BTC-USD-PERP", order_id="91490942", side="sell",
        price=Decimal("29792.0"), size=Decimal("0.0"), filled=Decimal(0), status="new", order_type="limit",
        ts=1681247412573000, recv_ts=RECV)
    assert live.size == Decimal("2.0") and live.filled == Decimal("0.6082")
    assert live.status == "partially_filled"
    assert live.client_id == "0x00158af8259c01000000000000000000" and live.side == "buy"


def test_the_clearinghouse_state_gives_positions_and_the_usdc_balance() -> None:
    positions, balances = acct.parse_state(fixture("clearinghouseState"), "hl-main", RECV)
    assert positions == [Position(
        account="hl-main", exchange="hyperliquid", symbol="ETH-USD-PERP", size=Decimal("0.0335"),
        entry_price=Decimal("2986.3"), mark_price=Decimal("100.02765") / Decimal("0.0335"),
        unrealized_pnl=Decimal("-0.0134"), leverage=Decimal(20), ts=1708622398623000, recv_ts=RECV)]
    assert balances == [Balance(account="hl-main", exchange="hyperliquid", asset="USDC",
                                total=Decimal("13109.482328"), available=Decimal("13104.514502"),
                                ts=1708622398623000, recv_ts=RECV)]


class FakeInfo:
    """The venue's REST client: POST /info answered from the documented answers, weights recorded."""

    def __init__(self) -> None:
        self.calls: list[tuple[dict[str, Any], float, Any]] = []

    async def post(self, path: str, body: dict[str, Any], weight: float = 1, *, budget: Any = None,
                   answer: Any = None) -> bytes:
        assert path == "/info" and budget is None  # the client's own budget: the venue's window
        self.calls.append((body, weight, answer))
        if body["type"] == "userFillsByTime":
            return frame("hyperliquid", "userFillsByTime")
        return fixture(body["type"])


async def test_the_snapshot_spends_the_documented_weights() -> None:
    client = FakeInfo()
    snap = await acct.snapshot(link(client), 1_681_000_000_000_000)
    assert [(body["type"], weight) for body, weight, _ in client.calls] == [
        ("clearinghouseState", 2), ("openOrders", 20), ("userFillsByTime", 20)]
    assert all(body["user"] == ADDRESS for body, _, _ in client.calls)
    fills_body, _, answer = client.calls[2]
    assert fills_body["startTime"] == 1_681_000_000_000 and answer is not None  # + per 20 fills served
    assert [f.fill_id for f in snap.fills] == ["118906512037719"]
    assert [p.symbol for p in snap.positions] == ["ETH-USD-PERP"] and len(snap.open_orders) == 2
    assert snap.balances[0].asset == "USDC" and snap.account == "hl-main" and snap.exchange == "hyperliquid"


def test_the_record_declares_reading_by_address_for_at_most_ten_users() -> None:
    api = hyperliquid.ACCOUNT
    assert hyperliquid.VENUE.account is api and not api.needs_key and api.users_per_ip == 10
    assert api.url_key == "hyperliquid_private" and hyperliquid.VENUE.ws_urls[api.url_key].endswith("/ws")
    assert api.keepalive.message == b'{"method":"ping"}' and api.renew is None
