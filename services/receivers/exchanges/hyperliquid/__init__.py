"""Hyperliquid perpetuals: websocket market data, the REST info endpoint, and the traders' state,
fills and equity read from it (services/receivers/traders/ runs the tracker).

Websocket market data: hyperliquid/market.py; REST market data and the weight of every info
request: hyperliquid/rest.py; what one trader's address answers: hyperliquid/traders.py; names and
symbols: hyperliquid/symbols.py; the user's own addresses (private side, read by address):
hyperliquid/account.py.
"""
from __future__ import annotations

from services.receivers.exchanges.hyperliquid import account, market, rest
from services.receivers.exchanges.hyperliquid.symbols import NAME, symbol_of
from services.receivers.private import AccountApi
from services.receivers.venue import Keepalive, Limits, RestApi, Venue, facts_free

__all__ = ["ACCOUNT", "NAME", "VENUE", "symbol_of"]

WS_URL = "wss://api.hyperliquid.xyz/ws"
IDLE_TIMEOUT_S = 60  # "close any connection if it hasn't sent a message to it in the last 60 seconds"
PING_INTERVAL_S = 30  # a ping when we have been quiet this long keeps us inside the 60 s
PING = b'{"method":"ping"}'
# Per IP (api/rate-limits page): connections, subscriptions, messages we send per minute.
MAX_CONNECTIONS = 100
MAX_SUBSCRIPTIONS = 1000
MAX_MESSAGES_PER_MINUTE = 2000
MESSAGE_SPACING_S = 0.035  # between our subscribe messages: about 1700 a minute, under 2000
REST_URL = "https://api.hyperliquid.xyz"
KEEPALIVE = Keepalive(PING, PING_INTERVAL_S)  # closed after 60 s without a message from us

# the user's own addresses: no key, at most 10 users' subscriptions per IP (the framework enforces it)
ACCOUNT = AccountApi(
    url_key=account.URL_KEY,
    login=account.login,
    parser=account.parser,
    snapshot=account.snapshot,
    keepalive=KEEPALIVE,
    needs_key=False,
    users_per_ip=account.USERS_PER_IP,
)

VENUE = Venue(
    name=NAME,
    exchange=NAME,
    ws_urls={NAME: WS_URL, account.URL_KEY: WS_URL},  # the user subscriptions use the same socket url
    limits=Limits(
        streams_per_socket=MAX_SUBSCRIPTIONS,
        messages_per_minute=MAX_MESSAGES_PER_MINUTE,
        message_spacing_s=MESSAGE_SPACING_S,
    ),
    keepalive=KEEPALIVE,
    plan=market.sockets,
    parser=facts_free(market.parse_frame),
    # one budget per IP over a rolling minute, shared by the pollers and the trader tracker
    rest=RestApi(REST_URL, rest.WEIGHT_PER_MINUTE, window_s=rest.WINDOW_S),
    fetchers={"funding": rest.fetch_funding, "oi": rest.fetch_open_interest},
    account=ACCOUNT,
)
