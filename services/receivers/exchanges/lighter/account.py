"""The user's own Lighter accounts: read by account index or L1 address, no key (Lighter's account
endpoint and its account_all channel are public; trading keys never reach tradehub).

REST (https://apidocs.lighter.xyz/reference/account-1, https://apidocs.lighter.xyz/docs/account-data):
`GET /api/v1/account?by=index&value=N` (or `by=l1_address&value=0x…`) answers
{code, total, accounts: [DetailedAccount]}: collateral, available_balance, positions[] (every market
the account ever touched, flat ones with position "0"), assets[] (the spot wallet). An L1 address is
turned into its account index through the same endpoint before the socket subscribes.
NOT CONFIRMED: the answer to an unknown account; we read a 4xx, a code other than 200 or no
account as "no such account" (AuthRejected: /ready says "auth failed", backoff, one alert). A
third-party note says the address must be EIP-55 checksummed: it is sent as the user gave it.

Socket (https://apidocs.lighter.xyz/docs/websocket-reference, Account All):
wss://mainnet.zklighter.elliot.ai/stream greets {"type":"connected"}; we send
{"type":"subscribe","channel":"account_all/N"} (no auth), answered by the whole account as
`subscribed/account_all` and then `update/account_all` frames holding only what changed, both on
channel "account_all:N": positions {market_id: Position}, assets, trades, funding_histories.
Keepalive as the official SDK does it (lighter-python ws_client.py): our {"type":"ping"} every 30 s
(answered {"type":"pong"}), and a {"type":"ping"} from the venue answered {"type":"pong"}. The venue
drops connections after 24 h and allows 10 unique accounts per IP.

Position (websocket reference, Position JSON): sign 1 long / -1 short, position unsigned, avg_entry_price,
position_value, unrealized_pnl, realized_pnl, liquidation_price, total_funding_paid_out,
initial_margin_fraction (percent: 2.63 is 38x). Mark = position_value / position.
Balances: "USDC" is the perps collateral (collateral, available_balance) from the account endpoint,
the only one that says it; every other asset of the spot wallet is a Balance of its own symbol
(balance, available balance - locked_balance), from both. Orders and fills need Lighter's auth
token and are not read: the snapshot lists none.
"""
from __future__ import annotations

import re
from decimal import Decimal

import msgspec

from services.receivers.exchanges.lighter.rest import NAME
from services.receivers.frames import FrameError, decode, divide, finite, normalized
from services.receivers.private import AuthRejected, Link, Login
from services.receivers.rest import BadResponse, VenueClient
from services.receivers.venue import Keepalive, Parse
from shared.accounts import Account
from shared.events import AccountSnapshot, AnyEvent, Balance, Position, now_us

URL_KEY = "lighter_private"
WS_URL = "wss://mainnet.zklighter.elliot.ai/stream"
ACCOUNT_PATH = "/api/v1/account"
PING = b'{"type":"ping"}'
PONG = b'{"type":"pong"}'
PING_INTERVAL_S = 30.0  # lighter-python WsClient's ping_interval
MAX_AGE_S = 24 * 3600.0  # "Connections are dropped after 24 h"
USERS_PER_IP = 10  # websocket limits: "Unique Accounts: 10" per IP
COLLATERAL = "USDC"  # perpetuals are margined in USDC
OK = 200
INDEX = re.compile(r"[0-9]{1,18}")
L1_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
ADDRESS_FORM = "an account index (digits) or an L1 address (0x and 40 hex digits)"


def stored_address(text: str) -> str | None:
    """What `accounts add --exchange lighter --address` stores: an index as digits, an L1 address
    as given (its EIP-55 case kept); None when it is neither."""
    text = text.strip()
    if INDEX.fullmatch(text):
        return str(int(text))
    return text if L1_ADDRESS.fullmatch(text) else None


def answer_ping(raw: bytes | str) -> bytes | None:
    """The venue's {"type":"ping"} -> our pong; anything else is no ping."""
    if len(raw) > 40:  # a ping is a few bytes: never decode a data frame here
        return None
    text = raw.encode() if isinstance(raw, str) else raw
    return PONG if text.replace(b" ", b"") == PING else None


KEEPALIVE = Keepalive(PING, PING_INTERVAL_S, answer_ping)


# --- the wire ---


class WirePosition(msgspec.Struct, frozen=True):
    """A Position JSON: decimal strings, exact."""

    market_id: int
    sign: int  # 1 long, -1 short; a flat position reads either
    position: Decimal  # unsigned
    avg_entry_price: Decimal
    position_value: Decimal
    unrealized_pnl: Decimal
    symbol: str = ""
    realized_pnl: Decimal | None = None
    liquidation_price: Decimal | None = None
    total_funding_paid_out: Decimal | None = None
    initial_margin_fraction: Decimal | None = None


class WireAsset(msgspec.Struct, frozen=True):
    """An AccountAsset: the spot wallet's line of one asset."""

    symbol: str
    asset_id: int
    balance: Decimal
    locked_balance: Decimal = Decimal(0)


class WireAccount(msgspec.Struct, frozen=True):
    """The part of a DetailedAccount read here."""

    account_index: int
    collateral: Decimal
    available_balance: Decimal
    l1_address: str = ""
    positions: list[WirePosition] = []
    assets: list[WireAsset] = []


class Accounts(msgspec.Struct, frozen=True):
    code: int
    accounts: list[WireAccount] = []
    message: str = ""


class Kind(msgspec.Struct, frozen=True):
    type: str = ""


class AccountAll(msgspec.Struct, frozen=True):
    """account_all: positions by market id; assets by asset id (a list in some versions)."""

    type: str
    channel: str = ""
    positions: dict[str, WirePosition] = {}
    assets: dict[str, WireAsset] | list[WireAsset] = {}


Read = tuple[WireAccount, list[Position], list[Balance]]  # the account, its open positions, its balances
_accounts = msgspec.json.Decoder(Accounts)
_kind = msgspec.json.Decoder(Kind)
_account_all = msgspec.json.Decoder(AccountAll)
QUIET = frozenset({"connected", "pong", "ping", "unsubscribed/account_all"})


# --- events ---


def symbol_of(wire: WirePosition) -> str:
    coin = wire.symbol
    if not (coin.isascii() and coin.isalnum()):
        raise FrameError(f"unsupported symbol {coin!r} of market {wire.market_id}")
    return normalized(coin, "USD", perpetual=True)


def optional(value: Decimal | None, what: str) -> Decimal | None:
    return None if value is None else finite(value, what)


def position_of(wire: WirePosition, account: str, ts: int, recv_ts: int) -> Position:
    """Position JSON -> Position: the size signed by `sign`, mark = position_value / size, a
    liquidation price of 0 (none) left out, leverage = 100 / initial_margin_fraction."""
    size = finite(wire.position, "position")
    size = -size if wire.sign < 0 else size
    liquidation = optional(wire.liquidation_price, "liquidation_price")
    fraction = wire.initial_margin_fraction
    return Position(
        account=account, exchange=NAME, symbol=symbol_of(wire), size=size,
        entry_price=finite(wire.avg_entry_price, "avg_entry_price") if size else None,
        mark_price=divide(finite(wire.position_value, "position_value"), abs(size), "mark") if size else None,
        unrealized_pnl=finite(wire.unrealized_pnl, "unrealized_pnl"),
        leverage=divide(Decimal(100), fraction, "leverage") if fraction else None,
        liquidation_price=liquidation if liquidation else None,
        realized_pnl=optional(wire.realized_pnl, "realized_pnl"),
        funding_paid=optional(wire.total_funding_paid_out, "total_funding_paid_out"),
        ts=ts, recv_ts=recv_ts)


def asset_balances(assets: list[WireAsset], account: str, ts: int, recv_ts: int) -> list[Balance]:
    """The spot wallet, but for the collateral's line (USDC is the perps collateral's Balance)."""
    return [Balance(account=account, exchange=NAME, asset=a.symbol, total=finite(a.balance, "balance"),
                    available=finite(a.balance - a.locked_balance, "locked_balance"), ts=ts, recv_ts=recv_ts)
            for a in assets if a.symbol != COLLATERAL]


def parser(account: Account) -> Parse:
    """account_all frames -> Positions and Balances; the greeting, pings, pongs -> []. The whole
    account sent on subscribe leaves out flat markets (every market ever touched is listed); an
    update's flat position is a close (size 0 deletes the stored row)."""

    def parse(raw: bytes | str, recv_ts: int) -> list[AnyEvent]:
        kind = decode(_kind, raw).type
        if kind in QUIET:
            return []
        if kind not in ("subscribed/account_all", "update/account_all"):
            raise FrameError(f"unhandled frame {kind!r}: {raw[:200]!r}")  # includes refusals ({"error":…})
        frame = decode(_account_all, raw)
        whole = kind.startswith("subscribed/")
        events: list[AnyEvent] = []
        for wire in frame.positions.values():
            if whole and not wire.position:
                continue
            events.append(position_of(wire, account.id, recv_ts, recv_ts))
        assets = list(frame.assets.values()) if isinstance(frame.assets, dict) else frame.assets
        events.extend(asset_balances(assets, account.id, recv_ts, recv_ts))
        return events

    return parse


def parse_account(raw: bytes, account: str, recv_ts: int) -> Read:
    """The account endpoint's answer -> (the account, its open positions, its balances)."""
    answer = decode(_accounts, raw)
    if answer.code != OK or not answer.accounts:
        raise AuthRejected(f"lighter: no such account (code {answer.code}: {answer.message[:100]})")
    found = answer.accounts[0]
    positions = [position_of(p, account, recv_ts, recv_ts) for p in found.positions if p.position]
    collateral = Balance(account=account, exchange=NAME, asset=COLLATERAL,
                         total=finite(found.collateral, "collateral"),
                         available=finite(found.available_balance, "available_balance"), ts=recv_ts,
                         recv_ts=recv_ts)
    return found, positions, [collateral, *asset_balances(found.assets, account, recv_ts, recv_ts)]


# --- REST and login ---


def lookup_of(account: Account) -> tuple[str, str]:
    """The account endpoint's (by, value) for the account's stored address: an index or an L1 address."""
    given = account.address
    if INDEX.fullmatch(given):
        return "index", given
    if L1_ADDRESS.fullmatch(given):
        return "l1_address", given
    raise AuthRejected(f"lighter: account {account.id} has no index or L1 address to read")


async def read_account(client: VenueClient, account: Account) -> Read:
    """One call of the account endpoint (weight 1 of the standard tier's 60 a minute)."""
    by, value = lookup_of(account)
    try:
        raw = await client.get(ACCOUNT_PATH, {"by": by, "value": value})
    except BadResponse as exc:
        if exc.status in (400, 404):
            raise AuthRejected(f"lighter: no account {by}={value} (HTTP {exc.status})") from None
        raise
    try:
        return parse_account(raw, account.id, now_us())
    except FrameError as exc:  # a reconciliation reads a RestError as "failed, try again"
        raise BadResponse(f"lighter account answer unreadable: {exc}") from None


def subscription(index: int) -> str:
    """A text frame whoever sends it (a bytes message may go out as a binary frame)."""
    return msgspec.json.encode({"type": "subscribe", "channel": f"account_all/{index}"}).decode()


async def login(link: Link, base_url: str) -> Login:
    """The account_all subscription of the account's index (an L1 address asks the account
    endpoint for it first); nothing to sign."""
    by, value = lookup_of(link.account)
    index = int(value) if by == "index" else (await read_account(link.client, link.account))[0].account_index
    return Login(url=base_url, messages=[subscription(index)])


async def snapshot(link: Link, fills_since_us: int) -> AccountSnapshot:
    """The account endpoint's positions, collateral and spot wallet; no orders or fills (token-only)."""
    _, positions, balances = await read_account(link.client, link.account)
    now = now_us()
    return AccountSnapshot(account=link.account.id, exchange=NAME, reason="connect", open_orders=[],
                           balances=balances, positions=positions, fills=[], fills_since=fills_since_us,
                           ts=now, recv_ts=now)
