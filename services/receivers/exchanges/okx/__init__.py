"""OKX v5: swaps and spot on one record (VENUE "okx"); swap sizes arrive in contracts of ctVal coins,
the facts table the receivers keep fresh from public/instruments.

Public websockets and REST market data: okx/market.py; the user's accounts (private socket and
signed REST): okx/account.py.
"""
from __future__ import annotations

from services.receivers.exchanges.okx import account
from services.receivers.exchanges.okx.market import (
    ARGS_PER_CONNECTION,
    BUSINESS_WS_URL,
    CHANNELS,
    CONNECT_SPACING_S,
    CT_VAL,
    ENDPOINT_URL_KEYS,
    MAX_CONNECTS_PER_SECOND,
    MAX_SUBSCRIBE_BYTES,
    NAME,
    PING,
    PING_INTERVAL_S,
    REST_URL,
    REST_WEIGHT_PER_MINUTE,
    WS_URL,
    CtVal,
    base_size,
    business_args,
    configured_contract_values,
    configured_swaps,
    fetch_contract_values,
    fetch_funding,
    fetch_open_interest,
    fetch_spot,
    parse_candles,
    parse_contract_values,
    parse_frame,
    parse_funding_rate,
    parse_liquidation_orders,
    parse_open_interest,
    parse_rest_funding,
    parse_rest_open_interest,
    parse_rest_spot,
    parse_trades,
    parser,
    public_args,
    sockets,
    subscribe_requests,
    subscriptions,
    symbol_of,
)
from services.receivers.venue import FactTable, Keepalive, Limits, RestApi, Venue

__all__ = [
    "CHANNELS", "CT_VAL", "MAX_SUBSCRIBE_BYTES", "NAME", "PING", "VENUE", "CtVal", "base_size",
    "business_args", "configured_contract_values", "configured_swaps", "fetch_contract_values",
    "fetch_funding", "fetch_open_interest", "fetch_spot", "parse_candles", "parse_contract_values",
    "parse_frame", "parse_funding_rate", "parse_liquidation_orders", "parse_open_interest",
    "parse_rest_funding", "parse_rest_open_interest", "parse_rest_spot", "parse_trades", "parser",
    "public_args", "subscribe_requests", "subscriptions", "symbol_of",
]

VENUE = Venue(
    name=NAME,
    exchange=NAME,
    ws_urls={NAME: WS_URL, ENDPOINT_URL_KEYS["business"]: BUSINESS_WS_URL,
             account.URL_KEY: account.PRIVATE_WS_URL},
    limits=Limits(
        streams_per_socket=ARGS_PER_CONNECTION,
        connects_per_s=MAX_CONNECTS_PER_SECOND,
        connect_spacing_s=CONNECT_SPACING_S,
    ),
    keepalive=Keepalive(PING, PING_INTERVAL_S),  # a socket quiet for 30 s is dropped
    plan=sockets,
    parser=parser,
    rest=RestApi(REST_URL, REST_WEIGHT_PER_MINUTE),
    fetchers={"funding": fetch_funding, "spot": fetch_spot, "oi": fetch_open_interest},
    facts=FactTable("okx contract values", fetch_contract_values, defaults=CT_VAL,
                    pinned=configured_contract_values, expected=configured_swaps),
    account=account.ACCOUNT,  # the user's accounts: private socket and signed REST (spot, margin, swaps)
)
