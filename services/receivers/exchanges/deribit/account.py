"""Deribit's private side on the websocket: public/auth with the API key's client credentials, the
user.* channels of one account, the token refresh, and each notification beside its parse.

Docs: https://docs.deribit.com/api-reference/authentication/public-auth ("client_credentials",
"refresh_token"), https://docs.deribit.com/articles/authentication (WebSocket: the connection is
authorized by public/auth; HTTP: "Authorization: Bearer <Token>"), the Subscription Channels pages
user.orders.(kind).(currency).raw, user.trades.(kind).(currency).(interval), user.portfolio.(currency),
and https://docs.deribit.com/articles/errors.

Sizes: Deribit's inverse perpetuals (BTC-PERPETUAL) count amounts in USD, its linear ones
(BTC_USDC-PERPETUAL) in the coin. Events carry the base currency, as the market parser does: USD /
price with Decimal (a trade at its price; an order's filled part at its average price and the rest
at its limit price; a position at its average entry, so its size does not move with the mark).
Instruments other than perpetuals (dated futures, options) are left out: tradehub names perpetuals
and spot only.
"""
from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any, Generic, Literal, TypeVar

import msgspec

from services.receivers.exchanges.deribit.market import NAME, rpc, set_heartbeat_message, symbol_of
from services.receivers.frames import FrameError, decode, divide, finite, ms_to_us
from services.receivers.private import AuthRejected, Link, Login, SessionExpired
from services.receivers.venue import Message, Parse
from shared.accounts import Account, Credentials
from shared.events import AccountFill, AccountOrder, AnyEvent, Balance, Closing, OrderStatus, Position

T = TypeVar("T")
URL_KEY = "deribit_private"
# Our request ids on the private socket (replies carry them back); public/test answers use the
# market module's TEST_REPLY_ID.
AUTH_ID, HEARTBEAT_ID, SUBSCRIBE_ID, REFRESH_ID = 1, 2, 3, 4
# kind "future" holds the perpetuals; "any" every currency; raw: "only available to authorized users"
CHANNELS = ("user.orders.future.any.raw", "user.trades.future.any.raw", "user.portfolio.any")
# Access tokens last about 15 minutes (expires_in 900 for session tokens): refresh well inside it.
RENEW_S = 600.0
# Error codes (articles/errors): the key is refused -> AuthRejected; the token is no longer good ->
# SessionExpired (a fresh login on a new connection).
REFUSED = {10000: "authorization_required", 13004: "invalid_credentials", 13021: "forbidden"}
EXPIRED = {13009: "unauthorized"}


# --- messages ---


def auth_message(credentials: Credentials, request_id: int = AUTH_ID) -> bytes:
    """public/auth with the key's client credentials: authorizes this connection."""
    return rpc("public/auth", {"grant_type": "client_credentials", "client_id": credentials.key,
                               "client_secret": credentials.secret}, request_id)


def refresh_message(refresh_token: str, request_id: int = REFRESH_ID) -> bytes:
    """public/auth with the refresh token of the last auth answer: a new token, same connection."""
    return rpc("public/auth", {"grant_type": "refresh_token", "refresh_token": refresh_token}, request_id)


def private_subscribe_message(channels: Sequence[str] = CHANNELS, request_id: int = SUBSCRIBE_ID) -> bytes:
    return rpc("private/subscribe", {"channels": list(channels)}, request_id)


class RefreshTokens:
    """The newest refresh token of each account's socket, read from its auth answers by the parser
    and spent by renew(); held in memory only, never logged."""

    def __init__(self) -> None:
        self._tokens: dict[str, str] = {}

    def remember(self, account_id: str, token: str) -> None:
        self._tokens[account_id] = token

    def forget(self, account_id: str) -> None:
        self._tokens.pop(account_id, None)

    def get(self, account_id: str) -> str:
        return self._tokens.get(account_id, "")


TOKENS = RefreshTokens()


def _credentials(link: Link) -> Credentials:
    if link.credentials is None:
        raise AuthRejected("deribit: the account has no API key")
    return link.credentials


async def login(link: Link, base_url: str) -> Login:
    """Auth first, then the heartbeat and the account's channels; Deribit answers in order, so the
    subscription finds the connection authorized."""
    credentials = _credentials(link)
    TOKENS.forget(link.account.id)  # a new connection gets new tokens
    return Login(url=base_url, messages=[auth_message(credentials), set_heartbeat_message(HEARTBEAT_ID),
                                         private_subscribe_message()])


async def renew(link: Link, current: Login) -> Sequence[Message]:
    """A fresh token before this one expires: by the refresh token the last auth answer gave, or by
    the credentials again when no answer has come yet."""
    token = TOKENS.get(link.account.id)
    if token:
        return [refresh_message(token)]
    return [auth_message(_credentials(link), REFRESH_ID)]


# --- wire shapes ---


NO_PRICE = msgspec.Raw(b"null")


def price_of(raw: msgspec.Raw) -> Decimal | None:
    """An order's price: a JSON number, or "market_price" (an open trigger market order) or null ->
    None."""
    text = bytes(raw).decode()
    if text == "null" or text.startswith('"'):
        return None
    try:
        return finite(Decimal(text), "price")
    except ArithmeticError as exc:
        raise FrameError(f"price is not a number: {text[:40]!r}") from exc


class WireOrder(msgspec.Struct, frozen=True):
    """An order as user.orders and get_open_orders_by_currency send it."""

    order_id: str
    instrument_name: str
    direction: Literal["buy", "sell"]
    amount: Decimal  # USD for inverse perpetuals, the coin for linear ones
    order_state: str  # open, filled, rejected, cancelled, untriggered
    order_type: str  # limit, market, stop_limit, stop_market, ...
    last_update_timestamp: int  # ms
    filled_amount: Decimal = Decimal(0)
    price: msgspec.Raw = NO_PRICE  # a number, or "market_price"
    average_price: Decimal | None = None
    label: str = ""  # the user's own id for the order
    is_liquidation: bool = False


class WireTrade(msgspec.Struct, frozen=True):
    """One of the user's trades (user.trades, get_user_trades_by_currency_and_time)."""

    trade_id: str
    order_id: str
    instrument_name: str
    direction: Literal["buy", "sell"]
    price: Decimal
    amount: Decimal  # USD for inverse perpetuals, the coin for linear ones
    fee: Decimal  # paid; negative: a rebate
    fee_currency: str
    timestamp: int  # ms
    liquidity: str = ""  # "M" maker, "T" taker
    liquidation: str | None = None  # "M", "T", "MT": which side was under liquidation
    profit_loss: Decimal | None = None


class Funds(msgspec.Struct, frozen=True):
    """user.portfolio data and get_account_summary: one currency's balance."""

    currency: str
    balance: Decimal
    available_funds: Decimal
    equity: Decimal | None = None


class WirePosition(msgspec.Struct, frozen=True):
    """An element of get_positions."""

    instrument_name: str
    size: Decimal  # signed; USD for inverse perpetuals, the coin for linear ones
    average_price: Decimal
    mark_price: Decimal | None = None
    floating_profit_loss: Decimal | None = None  # in the settlement currency
    leverage: Decimal | None = None


# --- wire -> events ---


def perpetual(instrument: str) -> tuple[str, bool] | None:
    """(symbol, inverse) of a perpetual; None for every other instrument."""
    try:
        return symbol_of(instrument)
    except FrameError:
        return None


def _base(amount: Decimal, price: Decimal | None, inverse: bool, what: str) -> Decimal:
    if not inverse:
        return finite(amount, what)
    if not amount:
        return Decimal(0)
    if price is None or not price:
        raise FrameError(f"{what}: an inverse amount without a price")
    return divide(amount, price, what)


ORDER_STATES: dict[str, OrderStatus] = {"filled": "filled", "cancelled": "canceled", "rejected": "rejected"}


def order_status(order: WireOrder) -> OrderStatus:
    """open/untriggered/triggered -> new or partially_filled; the rest by name."""
    if order.order_state in ("open", "untriggered", "triggered"):
        return "partially_filled" if order.filled_amount else "new"
    status = ORDER_STATES.get(order.order_state)
    if status is None:
        raise FrameError(f"unknown order_state {order.order_state!r}")
    return status


def account_order(order: WireOrder, account: str, recv_ts: int) -> AccountOrder | None:
    market = perpetual(order.instrument_name)
    if market is None:
        return None
    symbol, inverse = market
    price, average = price_of(order.price), order.average_price or None
    # inverse: the filled USD at the average price, the rest at the limit price, so a filled order's
    # size is its filled size
    filled = _base(order.filled_amount, average or price, inverse, "filled size")
    rest = _base(order.amount - order.filled_amount, price or average, inverse, "order size")
    return AccountOrder(
        account=account, exchange=NAME, symbol=symbol, order_id=order.order_id, side=order.direction,
        price=price, size=filled + rest, filled=filled,
        status=order_status(order), order_type=order.order_type, client_id=order.label,
        avg_price=average, closing="liquidation" if order.is_liquidation else "",
        ts=ms_to_us(order.last_update_timestamp), recv_ts=recv_ts)


def account_fill(trade: WireTrade, account: str, recv_ts: int) -> AccountFill | None:
    """`liquidation` names the side under liquidation; ours is `liquidity` (M/T)."""
    market = perpetual(trade.instrument_name)
    if market is None:
        return None
    symbol, inverse = market
    price = finite(trade.price, "price")
    ours = bool(trade.liquidity) and trade.liquidity in (trade.liquidation or "")
    closing: Closing = "liquidation" if ours else ""
    return AccountFill(
        account=account, exchange=NAME, symbol=symbol, order_id=trade.order_id, fill_id=trade.trade_id,
        side=trade.direction, price=price, size=_base(trade.amount, price, inverse, "fill size"),
        fee=finite(trade.fee, "fee"), fee_asset=trade.fee_currency.upper(), realized_pnl=trade.profit_loss,
        closing=closing, ts=ms_to_us(trade.timestamp), recv_ts=recv_ts)


def balance(funds: Funds, account: str, ts: int, recv_ts: int) -> Balance | None:
    """One currency's wallet balance and what is free to trade; a currency never used (all zero)
    is left out."""
    if not (funds.balance or funds.available_funds or funds.equity):
        return None
    return Balance(account=account, exchange=NAME, asset=funds.currency.upper(),
                   total=finite(funds.balance, "balance"),
                   available=finite(funds.available_funds, "available"), ts=ts, recv_ts=recv_ts)


def position(wire: WirePosition, account: str, ts: int, recv_ts: int) -> Position | None:
    """A perpetual's open position (a flat one is left out)."""
    market = perpetual(wire.instrument_name)
    if market is None or not wire.size:
        return None
    symbol, inverse = market
    return Position(
        account=account, exchange=NAME, symbol=symbol,
        size=_base(wire.size, wire.average_price, inverse, "position size"),
        entry_price=wire.average_price or None, mark_price=wire.mark_price,
        unrealized_pnl=wire.floating_profit_loss, leverage=wire.leverage, ts=ts, recv_ts=recv_ts)


# --- frames ---


class Params(msgspec.Struct, Generic[T], frozen=True):
    channel: str
    data: T


class Notification(msgspec.Struct, Generic[T], frozen=True):
    params: Params[T]


class RpcError(msgspec.Struct, frozen=True):
    code: int
    message: str


class Peek(msgspec.Struct, frozen=True):
    channel: str = ""
    type: str = ""


class Envelope(msgspec.Struct, frozen=True):
    """Any frame, data left undecoded: a notification, a heartbeat, or a reply to one of ours."""

    method: str = ""
    params: Peek | None = None
    id: int | str | None = None
    error: RpcError | None = None


class AuthResult(msgspec.Struct, frozen=True):
    refresh_token: str = ""


class AuthReply(msgspec.Struct, frozen=True):
    result: AuthResult


_envelope = msgspec.json.Decoder(Envelope)
_auth_reply = msgspec.json.Decoder(AuthReply)
_orders = msgspec.json.Decoder(Notification[WireOrder | list[WireOrder]])
_trades = msgspec.json.Decoder(Notification[list[WireTrade]])
_portfolio = msgspec.json.Decoder(Notification[Funds])


def refusal(error: RpcError) -> Exception:
    """A refused request -> AuthRejected (the key), SessionExpired (the token) or FrameError."""
    text = f"deribit {error.code} {error.message}"
    if error.code in REFUSED:
        return AuthRejected(text)
    if error.code in EXPIRED:
        return SessionExpired(text)
    return FrameError(text)


def _notification(raw: bytes, channel: str, account: str, recv_ts: int) -> list[AnyEvent]:
    kind = channel.split(".", 2)[1] if channel.count(".") >= 2 else ""
    events: list[AnyEvent | None] = []
    if kind == "orders":
        data = decode(_orders, raw).params.data
        events = [account_order(o, account, recv_ts) for o in (data if isinstance(data, list) else [data])]
    elif kind == "trades":
        events = [account_fill(t, account, recv_ts) for t in decode(_trades, raw).params.data]
    elif kind == "portfolio":
        events = [balance(decode(_portfolio, raw).params.data, account, recv_ts, recv_ts)]
    else:
        raise FrameError(f"unhandled channel {channel!r}")
    return [e for e in events if e is not None]


def parser(account: Account) -> Parse:
    """The account's frames -> events. Its auth answers are read for the refresh token (never
    reported: the message of every error here names the method or channel, not the frame)."""

    def parse(raw: bytes | str, recv_ts: int) -> list[AnyEvent]:
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogatepass")
        env = decode(_envelope, raw)
        if env.method == "subscription" and env.params is not None:
            return _notification(raw, env.params.channel, account.id, recv_ts)
        if env.method == "heartbeat":
            return []
        if env.error is not None:
            raise refusal(env.error)
        if env.id in (AUTH_ID, REFRESH_ID):
            token = decode(_auth_reply, raw).result.refresh_token
            if token:
                TOKENS.remember(account.id, token)
            return []
        if env.id is not None and not env.method:
            return []  # set_heartbeat, subscribe, test
        raise FrameError(f"neither a notification nor a reply: method {env.method!r}")

    return parse


def decode_result(decoder: msgspec.json.Decoder[Any], raw: bytes) -> Any:
    """A REST answer's result (account_rest.py), with the error an answer may carry instead."""
    env = decode(_envelope, raw)
    if env.error is not None:
        raise refusal(env.error)
    return decode(decoder, raw)
