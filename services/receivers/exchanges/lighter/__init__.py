"""Lighter (zkLighter) perpetuals: REST funding rates (lighter/rest.py) and the user's own accounts
read by account index or L1 address, no key (lighter/account.py, docs/lighter.md)."""
from __future__ import annotations

from services.receivers.exchanges.lighter import account
from services.receivers.exchanges.lighter.rest import (
    FUNDING_INTERVAL_HOURS,
    NAME,
    RELAYED_PERIOD_HOURS,
    REST_URL,
    REST_WEIGHT_PER_MINUTE,
    FundingRates,
    RelayedRate,
    fetch_funding,
    parse_funding_rates,
)
from services.receivers.private import AccountApi
from services.receivers.venue import RestApi, Venue

__all__ = [
    "ACCOUNT", "FUNDING_INTERVAL_HOURS", "NAME", "RELAYED_PERIOD_HOURS", "REST_URL", "REST_WEIGHT_PER_MINUTE",
    "VENUE", "FundingRates", "RelayedRate", "fetch_funding", "parse_funding_rates",
]

# the user's own accounts: no key, at most 10 accounts' subscriptions per IP (the framework enforces it)
ACCOUNT = AccountApi(
    url_key=account.URL_KEY,
    login=account.login,
    parser=account.parser,
    snapshot=account.snapshot,
    keepalive=account.KEEPALIVE,
    max_age_s=account.MAX_AGE_S,
    needs_key=False,
    users_per_ip=account.USERS_PER_IP,
)

VENUE = Venue(
    name=NAME,
    exchange=NAME,
    ws_urls={account.URL_KEY: account.WS_URL},
    # one client per venue: the funding poller and every account's reads share the 60 a minute
    rest=RestApi(REST_URL, REST_WEIGHT_PER_MINUTE),
    fetchers={"funding": fetch_funding},
    account=ACCOUNT,
)
