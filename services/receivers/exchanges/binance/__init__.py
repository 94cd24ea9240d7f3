"""Binance: USD-M futures ("binance") and spot ("binance_spot"), two records of one venue.

Websocket market streams: binance/market.py; REST market data: binance/rest.py; names and
symbols: binance/symbols.py; the user's accounts (user data stream, signed REST):
binance/account.py and binance/account_rest.py. Both socket endpoints close a connection after
24 hours. The futures server pings every 3 minutes (pong within 10), the spot server every 20 s
(pong within a minute); the websocket client (aiohttp, autoping) answers pings itself, so neither
needs a ping of ours.
"""

from __future__ import annotations

from services.receivers.exchanges.binance import market, rest
from services.receivers.exchanges.binance.account import ACCOUNT, PRIVATE_WS_URL, URL_KEY
from services.receivers.exchanges.binance.symbols import NAME, SPOT_NAME
from services.receivers.venue import FactTable, Limits, RestApi, Venue, facts_free

WS_URL = "wss://fstream.binance.com"
# The connect page once said 200 streams a connection and now says 1024: 200 is safe under both.
MAX_STREAMS_PER_CONNECTION = 200
MAX_CONNECTION_AGE_S = 24 * 3600  # "A single connection is only valid for 24 hours"
MAX_INCOMING_MESSAGES_PER_S = 10  # subscribe/ping frames we send; more -> disconnected
REST_URL = "https://fapi.binance.com"
REST_WEIGHT_PER_MINUTE = 2400  # USD-M REQUEST_WEIGHT per minute per IP (exchangeInfo rateLimits)

SPOT_WS_URL = "wss://stream.binance.com:9443"
SPOT_MAX_STREAMS_PER_CONNECTION = 1024  # "A single connection can listen to a maximum of 1024 streams."
SPOT_MAX_CONNECTION_AGE_S = 24 * 3600
SPOT_MAX_INCOMING_MESSAGES_PER_S = 5
SPOT_REST_URL = "https://api.binance.com"
SPOT_REST_WEIGHT_PER_MINUTE = 6000  # spot REQUEST_WEIGHT per minute per IP (exchangeInfo rateLimits)

VENUE = Venue(
    name=NAME,
    exchange=NAME,
    ws_urls={NAME: WS_URL, URL_KEY: PRIVATE_WS_URL},
    limits=Limits(
        streams_per_socket=MAX_STREAMS_PER_CONNECTION,
        max_connection_age_s=MAX_CONNECTION_AGE_S,
        messages_per_minute=60 * MAX_INCOMING_MESSAGES_PER_S,
    ),
    plan=market.futures_sockets,
    parser=market.futures_parser,
    rest=RestApi(REST_URL, REST_WEIGHT_PER_MINUTE),
    fetchers={"funding": rest.fetch_funding, "oi": rest.fetch_open_interest},
    facts=FactTable("binance funding intervals", rest.fetch_funding_intervals),
    account=ACCOUNT,
)
SPOT_VENUE = Venue(
    name=SPOT_NAME,
    exchange=NAME,
    market="spot",
    ws_urls={SPOT_NAME: SPOT_WS_URL},
    limits=Limits(
        streams_per_socket=SPOT_MAX_STREAMS_PER_CONNECTION,
        max_connection_age_s=SPOT_MAX_CONNECTION_AGE_S,
        messages_per_minute=60 * SPOT_MAX_INCOMING_MESSAGES_PER_S,
    ),
    plan=market.spot_sockets,
    parser=facts_free(market.parse_frame_spot),
    rest=RestApi(SPOT_REST_URL, SPOT_REST_WEIGHT_PER_MINUTE),
    fetchers={"spot": rest.fetch_spot},
)
