"""The words of a venue's private side (exchanges/<venue>/account.py): how a socket opens for one
account (`Login`), how its frames read, what the venue's REST says of the account
(`AccountSnapshot`), and the two ways a venue ends a session (`AuthRejected`, `SessionExpired`).

Like venue.py it sits below the venues; services/receivers/accounts/ runs one private socket per
account with these, through the same connection class as the public feeds.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from services.receivers.rest import VenueClient
from services.receivers.venue import Keepalive, Message, Parse
from shared.accounts import Account, Credentials
from shared.events import AccountSnapshot


class AuthRejected(Exception):
    """The venue refused the credentials (wrong key or signature, expired or revoked key): the
    socket backs off up to accounts.auth_backoff_max_s, /ready says "auth failed", one alert.
    The message names the venue's error code and text, never a key."""


class SessionExpired(Exception):
    """The venue ended the session's authorization (Binance listenKeyExpired): reconnect at once
    with a fresh login."""


@dataclass(frozen=True)
class Link:
    """What one account's private side works with."""

    account: Account
    credentials: Credentials | None  # None: an account read by address (Hyperliquid)
    client: VenueClient  # the venue's one REST client: signed calls spend from its weight budget


@dataclass(frozen=True)
class Login:
    """How one connection opens: its url, then the messages sent in order (auth, subscriptions).
    `token` is what renew() keeps alive (Binance's listenKey, Deribit's refresh token)."""

    url: str
    messages: Sequence[Message] = ()
    token: str = ""


@dataclass(frozen=True)
class AccountApi:
    """A venue's private side, declared by its account.py and set on its Venue record (`account`)."""

    url_key: str  # venues.urls key of the private socket; its default url is in the Venue's ws_urls
    # before every connect: (link, the socket's base url) -> this connection's Login; may call REST
    # (Binance creates a listenKey); raises AuthRejected when the venue refuses the key
    login: Callable[[Link, str], Awaitable[Login]]
    # the account's frames -> events; raises AuthRejected on a refused auth answer, SessionExpired
    parser: Callable[[Account], Parse]
    # the venue's REST truth of the account at this moment: open orders, balances, positions, and the
    # fills since (µs); raises AuthRejected when refused
    snapshot: Callable[[Link, int], Awaitable[AccountSnapshot]]
    # every renew_s while connected: keep the login alive (Binance: PUT listenKey; Deribit: refresh
    # the token); the messages it returns are sent on the socket; raises SessionExpired when it can't
    renew: Callable[[Link, Login], Awaitable[Sequence[Message]]] | None = None
    renew_s: float = 1800.0
    keepalive: Keepalive = Keepalive()  # the application ping a quiet private socket needs
    max_age_s: float | None = None  # the venue cuts a connection this old (Binance: 24 h)
    idle_timeout_s: float = 120.0  # no frame at all (pongs count: an account may trade rarely) -> reconnect
    needs_key: bool = True  # False: read by address, no credentials (Hyperliquid)
    users_per_ip: int | None = None  # Hyperliquid: at most 10 users' subscriptions per IP
