"""The registry of venue records and the tables that are views of it."""

from __future__ import annotations

from functools import partial

import pytest

from services.receivers.capabilities import CAPABILITIES, FUNCTIONS, REST_VENUES, fetcher
from services.receivers.exchanges import FEEDS, REGISTRY, VENUES, binance, bybit, jupiter
from services.receivers.feeds import BUILDERS, build_feeds, venue_facts
from services.receivers.instruments import facts_to_load
from services.receivers.venue import Venue
from shared.config import ConfigError, load_settings


def test_names_are_unique_and_every_feed_has_a_settings_section() -> None:
    assert len(VENUES) == len(REGISTRY)
    settings = load_settings({})
    for venue in FEEDS.values():
        assert venue.parser is not None and venue.name in venue.ws_urls, venue.name
        assert hasattr(settings.venues, venue.name), venue.name  # symbols and channels of its own


@pytest.mark.parametrize("venue", REGISTRY, ids=lambda v: v.name)
def test_the_pace_we_keep_is_inside_the_venues_limits(venue: Venue) -> None:
    limits = venue.limits
    if limits.connects_per_s is not None:
        assert limits.connect_spacing_s >= 1 / limits.connects_per_s
    if limits.messages_per_minute is not None and limits.message_spacing_s:
        assert limits.message_spacing_s >= 60 / limits.messages_per_minute


def test_a_second_market_keeps_its_venues_label() -> None:
    assert (binance.SPOT_VENUE.name, binance.SPOT_VENUE.exchange) == ("binance_spot", "binance")
    assert (bybit.SPOT_VENUE.name, bybit.SPOT_VENUE.exchange) == ("bybit_spot", "bybit")
    assert binance.SPOT_VENUE.label == "binance (spot)" and binance.VENUE.label == "binance"


def test_the_tables_are_views_of_the_records() -> None:
    assert set(BUILDERS) == set(FEEDS) == {v.name for v in REGISTRY if v.plan is not None}
    assert set(REST_VENUES) == {v.name for v in REGISTRY if v.rest is not None}
    for function in FUNCTIONS:
        able = {v.name: v.fetchers[function] for v in REGISTRY if function in v.fetchers}
        assert CAPABILITIES[function] == able
    assert set(venue_facts(load_settings({}))) == {v.name for v in REGISTRY if v.facts is not None}


def test_settings_reach_a_fetcher_bound_in_not_through_the_client() -> None:
    settings = load_settings({}, jupiter_mints={"JUP": "jup-mint"})
    bound = fetcher(settings, "spot", "jupiter")
    assert isinstance(bound, partial) and bound.func is jupiter.fetch_price
    assert bound.keywords == {"mints": {"JUP": "jup-mint"}}
    assert fetcher(settings, "funding", "bybit") is bybit.fetch_funding


def test_facts_are_loaded_for_the_running_venues_only() -> None:
    settings = load_settings({}, feeds=["okx", "binance_spot"], okx_contract_values={"SOL-USDT-SWAP": "1"})
    facts = venue_facts(settings)
    [okx] = facts_to_load(settings, facts, build_feeds(settings, facts))
    assert okx.venue == "okx" and okx.table is facts["okx"] and dict(okx.pinned) == {"SOL-USDT-SWAP": 1}
    assert list(okx.expected) == ["BTC-USDT-SWAP", "ETH-USDT-SWAP"]


def test_an_unknown_feed_names_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="TRADEHUB_FEEDS: unknown feeds kraken; known: binance, "):
        build_feeds(load_settings({}, feeds=["kraken"]))
