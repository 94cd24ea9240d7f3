"""Deribit perpetuals: JSON-RPC 2.0 over websocket (API v2) for public market data
(deribit/market.py) and for the user's own accounts (deribit/account.py, their REST truth in
deribit/account_rest.py).

Every name the single-file module had is still importable from here
(`from services.receivers.exchanges import deribit; deribit.parse_frame`).
"""
from __future__ import annotations

from services.receivers.exchanges.deribit import account, account_rest
from services.receivers.exchanges.deribit.market import (
    CHANNELS,
    CHANNELS_PER_CONNECTION,
    FUNDING_INTERVAL_HOURS,
    HEARTBEAT_INTERVAL_S,
    NAME,
    PUBLIC_INTERVAL,
    RESOLUTIONS,
    TEST_REPLY_ID,
    WS_URL,
    ChannelParse,
    ChartBar,
    DeribitTrade,
    Envelope,
    Notification,
    Params,
    PeekParams,
    RpcError,
    Ticker,
    channel_kind,
    channel_name,
    chart_trades_channel,
    heartbeat_reply,
    parse_chart_trades,
    parse_frame,
    parse_ticker,
    parse_trades,
    rpc,
    set_heartbeat_message,
    sockets,
    subscribe_message,
    symbol_of,
    ticker_channel,
    trades_channel,
)
from services.receivers.private import AccountApi
from services.receivers.venue import Keepalive, Limits, RestApi, Venue, facts_free

__all__ = [
    "ACCOUNT", "CHANNELS", "CHANNELS_PER_CONNECTION", "FUNDING_INTERVAL_HOURS", "HEARTBEAT_INTERVAL_S",
    "NAME", "PUBLIC_INTERVAL", "RESOLUTIONS", "TEST_REPLY_ID", "VENUE", "WS_URL", "ChannelParse",
    "ChartBar", "DeribitTrade", "Envelope", "Notification", "Params", "PeekParams", "RpcError", "Ticker",
    "channel_kind", "channel_name", "chart_trades_channel", "heartbeat_reply", "parse_chart_trades",
    "parse_frame", "parse_ticker", "parse_trades", "rpc", "set_heartbeat_message", "sockets",
    "subscribe_message", "symbol_of", "ticker_channel", "trades_channel",
]

KEEPALIVE = Keepalive(interval_s=HEARTBEAT_INTERVAL_S, reply=heartbeat_reply)  # test_request -> public/test

ACCOUNT = AccountApi(
    url_key=account.URL_KEY,
    login=account.login,
    parser=account.parser,
    snapshot=account_rest.snapshot,
    renew=account.renew,
    renew_s=account.RENEW_S,
    keepalive=KEEPALIVE,
)

VENUE = Venue(
    name=NAME,
    exchange=NAME,
    # the private socket is the same endpoint, authorized by public/auth
    ws_urls={NAME: WS_URL, account.URL_KEY: WS_URL},
    limits=Limits(streams_per_socket=CHANNELS_PER_CONNECTION),
    keepalive=KEEPALIVE,
    plan=sockets,
    parser=facts_free(parse_frame),
    # no public REST poller: the account snapshot's calls (deribit_rest overrides the url)
    rest=RestApi(account_rest.REST_URL, account_rest.WEIGHT_PER_MINUTE),
    account=ACCOUNT,
)
