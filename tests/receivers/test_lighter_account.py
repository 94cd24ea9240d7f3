"""Lighter's account endpoint and account_all channel read from frames in the documented shapes
(apidocs.lighter.xyz: account, websocket reference Position JSON; tests/fixtures/lighter_account/):
signed sizes, mark = position_value / position, a liquidation price of 0 as none, leverage from the
initial margin fraction, USDC as the perps collateral and the spot wallet's other assets."""
from __future__ import annotations

from decimal import Decimal

import pytest

from services.receivers.exchanges import REGISTRY, lighter
from services.receivers.exchanges.lighter import account as acct
from services.receivers.frames import FrameError
from services.receivers.private import AuthRejected
from shared.accounts import Account
from shared.events import Balance, Position
from tests.fixtures import frame

ACCOUNT = Account(id="lt-main", exchange="lighter", address="281")
TS = 1_790_000_000_000_000

ETH = Position(account="lt-main", exchange="lighter", symbol="ETH-USD-PERP", size=Decimal("2.5"),
               entry_price=Decimal("3010.25"), mark_price=Decimal(3080), unrealized_pnl=Decimal("74.375"),
               leverage=Decimal(10), liquidation_price=Decimal("2741.30"), realized_pnl=Decimal("-12.5"),
               funding_paid=Decimal("1.2045"), ts=TS, recv_ts=TS)
BTC = Position(account="lt-main", exchange="lighter", symbol="BTC-USD-PERP", size=Decimal("-0.1"),
               entry_price=Decimal(80000), mark_price=Decimal(79500), unrealized_pnl=Decimal(50),
               leverage=Decimal(20), liquidation_price=Decimal("88120.5"), realized_pnl=Decimal(0),
               funding_paid=Decimal("-0.31"), ts=TS, recv_ts=TS)
SPOT_ETH = Balance(account="lt-main", exchange="lighter", asset="ETH", total=Decimal("0.5"),
                   available=Decimal("0.4"), ts=TS, recv_ts=TS)


def test_the_account_endpoint_gives_open_positions_collateral_and_the_spot_wallet() -> None:
    found, positions, balances = acct.parse_account(frame("lighter_account", "account"), "lt-main", TS)
    assert found.account_index == 281
    assert positions == [ETH, BTC]  # SOL is flat: listed by the venue, not a position
    usdc = Balance(account="lt-main", exchange="lighter", asset="USDC", total=Decimal(3000),
                   available=Decimal("1520.4421"), ts=TS, recv_ts=TS)
    assert balances == [usdc, SPOT_ETH]  # the USDC wallet line is the collateral's


def test_the_subscribe_snapshot_leaves_flat_markets_out() -> None:
    events = acct.parser(ACCOUNT)(frame("lighter_account", "account_all_subscribed"), TS)
    assert events == [ETH, SPOT_ETH]


def test_an_update_closes_a_flat_position_and_moves_the_others() -> None:
    events = acct.parser(ACCOUNT)(frame("lighter_account", "account_all_update"), TS)
    closed = Position(account="lt-main", exchange="lighter", symbol="ETH-USD-PERP", size=Decimal(0),
                      entry_price=None, mark_price=None, unrealized_pnl=Decimal(0), leverage=Decimal(10),
                      liquidation_price=None, realized_pnl=Decimal("61.875"), funding_paid=Decimal("1.2045"),
                      ts=TS, recv_ts=TS)
    moved = Position(account="lt-main", exchange="lighter", symbol="BTC-USD-PERP", size=Decimal("-0.1"),
                     entry_price=Decimal(80000), mark_price=Decimal(87000), unrealized_pnl=Decimal(-700),
                     leverage=Decimal(20), liquidation_price=Decimal("88120.5"), realized_pnl=Decimal(0),
                     funding_paid=Decimal("-0.31"), ts=TS, recv_ts=TS)
    assert events == [closed, moved]


@pytest.mark.parametrize("raw", [b'{"session_id":"abc","type":"connected"}', b'{"type":"pong"}',
                                 b'{"type":"ping"}'])
def test_the_greeting_pings_and_pongs_are_no_events(raw: bytes) -> None:
    assert acct.parser(ACCOUNT)(raw, TS) == []


@pytest.mark.parametrize("raw", [b'{"error":{"code":30005,"message":"Invalid Channel"}}', b"not json",
                                 b'{"type":"update/account_all","positions":{"0":{"market_id":0,"symbol":"E/T",'
                                 b'"sign":1,"position":"1","avg_entry_price":"1","position_value":"1",'
                                 b'"unrealized_pnl":"0"}}}'])
def test_refusals_and_bad_frames_are_frame_errors(raw: bytes) -> None:
    with pytest.raises(FrameError):
        acct.parser(ACCOUNT)(raw, TS)


def test_the_venues_ping_is_answered_and_ours_is_the_sdks() -> None:
    keepalive = lighter.ACCOUNT.keepalive
    assert keepalive.message == b'{"type":"ping"}' and keepalive.interval_s == 30
    assert keepalive.reply is not None
    assert keepalive.reply(b'{"type":"ping"}') == b'{"type":"pong"}'
    assert keepalive.reply('{"type": "ping"}') == b'{"type":"pong"}'
    assert keepalive.reply(b'{"type":"pong"}') is None
    assert keepalive.reply(frame("lighter_account", "account_all_update")) is None


def test_the_venue_record_declares_a_keyless_private_side() -> None:
    assert lighter.VENUE in REGISTRY and lighter.VENUE.account is lighter.ACCOUNT
    api = lighter.ACCOUNT
    assert (api.needs_key, api.users_per_ip, api.max_age_s) == (False, 10, 24 * 3600.0)
    assert lighter.VENUE.ws_urls == {"lighter_private": "wss://mainnet.zklighter.elliot.ai/stream"}
    assert lighter.VENUE.rest is not None and lighter.VENUE.rest.weight_per_minute == 60


def test_an_account_is_read_by_index_or_l1_address() -> None:
    assert acct.lookup_of(ACCOUNT) == ("index", "281")
    address = "0x478686468057D9873e8718083D40D2927b12F91A"
    assert acct.lookup_of(Account(id="a", exchange="lighter", address=address)) == ("l1_address", address)
    with pytest.raises(AuthRejected):
        acct.lookup_of(Account(id="a", exchange="lighter", address="nobody"))
    assert acct.stored_address(" 00281 ") == "281" and acct.stored_address(address) == address
    assert acct.stored_address("0x12") is None and acct.stored_address("-1") is None
    assert acct.subscription(281) == '{"type":"subscribe","channel":"account_all/281"}'


@pytest.mark.parametrize("raw", [b'{"code":21100,"message":"account not found"}',
                                 b'{"code":200,"accounts":[]}'])
def test_no_such_account_is_refused(raw: bytes) -> None:
    with pytest.raises(AuthRejected):
        acct.parse_account(raw, "lt-main", TS)
