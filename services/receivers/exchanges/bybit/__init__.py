"""Bybit v5: USDT/USDC perpetuals (category "linear", record VENUE "bybit") and spot (SPOT_VENUE
"bybit_spot"); events of both say exchange="bybit", the symbol tells spot from perpetual.

Public websockets and REST market data: bybit/market.py; the user's accounts (private socket and
signed REST): bybit/account.py. One REST client ("bybit") answers for both markets.
"""
from __future__ import annotations

from services.receivers.exchanges.bybit import account
from services.receivers.exchanges.bybit.market import (
    CHANNELS,
    MAX_ARGS_CHARS,
    NAME,
    PING,
    PING_INTERVAL_S,
    REST_URL,
    REST_WEIGHT_PER_MINUTE,
    SPOT_NAME,
    SPOT_WS_URL,
    WS_URL,
    connections,
    fetch_funding,
    fetch_funding_intervals,
    fetch_open_interest,
    fetch_spot,
    linear_parser,
    linear_sockets,
    parse_all_liquidation,
    parse_frame,
    parse_frame_linear,
    parse_frame_spot,
    parse_funding_intervals,
    parse_kline,
    parse_public_trade,
    parse_rest_funding,
    parse_rest_open_interest,
    parse_rest_spot,
    parse_tickers,
    spot_sockets,
    subscribe_requests,
    subscriptions,
    symbol_of,
    topics,
)
from services.receivers.venue import FactTable, Keepalive, Limits, RestApi, Venue, facts_free

__all__ = [
    "CHANNELS", "MAX_ARGS_CHARS", "NAME", "PING", "SPOT_NAME", "SPOT_VENUE", "VENUE", "connections",
    "fetch_funding", "fetch_funding_intervals", "fetch_open_interest", "fetch_spot", "linear_parser",
    "parse_all_liquidation", "parse_frame", "parse_frame_linear", "parse_frame_spot",
    "parse_funding_intervals", "parse_kline", "parse_public_trade", "parse_rest_funding",
    "parse_rest_open_interest", "parse_rest_spot", "parse_tickers", "subscribe_requests",
    "subscriptions", "symbol_of", "topics",
]

VENUE = Venue(
    name=NAME,
    exchange=NAME,
    ws_urls={NAME: WS_URL, account.URL_KEY: account.PRIVATE_WS_URL},
    limits=Limits(),  # no count limit: connections() splits by the args' characters (MAX_ARGS_CHARS)
    keepalive=Keepalive(PING, PING_INTERVAL_S),  # "send the ping heartbeat packet every 20 seconds"
    plan=linear_sockets,
    parser=linear_parser,
    rest=RestApi(REST_URL, REST_WEIGHT_PER_MINUTE),
    fetchers={"funding": fetch_funding, "spot": fetch_spot, "oi": fetch_open_interest},  # one client for both
    facts=FactTable("bybit funding intervals", fetch_funding_intervals),
    account=account.ACCOUNT,  # the user's accounts: private socket and signed REST (linear and spot)
)
SPOT_VENUE = Venue(
    name=SPOT_NAME,
    exchange=NAME,
    market="spot",
    ws_urls={SPOT_NAME: SPOT_WS_URL},
    keepalive=Keepalive(PING, PING_INTERVAL_S),
    plan=spot_sockets,
    parser=facts_free(parse_frame_spot),
)
