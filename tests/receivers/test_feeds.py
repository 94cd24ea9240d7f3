"""Feeds from settings: channels per venue, per-connection limits, keepalive, idle timeouts; and
every venue's feeds against the simulator: every channel parses, no frame is bad."""

from __future__ import annotations

import asyncio
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest

from services.receivers.connection import FeedConnection
from services.receivers.exchanges import VENUES, bybit, deribit, okx
from services.receivers.feeds import BUILDERS, build_feeds, feeds_of, venue_facts
from shared.config import ConfigError, Settings, load_settings
from tests.fixtures import frame
from tests.receivers.sim import FakeProducer, SettingsFactory, running, simulator

ROOT = Path(__file__).resolve().parents[2]
ALL = ["binance", "binance_spot", "bybit", "bybit_spot", "okx", "hyperliquid", "deribit"]


def settings(**overrides: Any) -> Settings:
    return load_settings({}, **overrides)


def streams_of(url: str) -> list[str]:
    return url.partition("?streams=")[2].split("/")


def test_only_the_configured_venues_are_opened() -> None:
    assert {f.exchange for f in build_feeds(settings())} == {"binance"}
    assert {f.exchange for f in build_feeds(settings(feeds=["okx", "deribit"]))} == {"okx", "deribit"}
    assert build_feeds(settings(binance_symbols=[])) == []


def test_binance_streams_split_at_the_per_connection_limit_and_reconnect_before_24h() -> None:
    symbols = [f"S{n}USDT" for n in range(250)]
    feeds = build_feeds(settings(binance_symbols=symbols))
    names = [s for f in feeds for s in streams_of(f.url)]
    assert len(names) == 1000 and len(set(names)) == 1000  # 4 channels x 250 symbols, each once
    assert [len(streams_of(f.url)) for f in feeds] == [200] * 5
    assert all(f.max_age_s is not None and f.max_age_s < 24 * 3600 for f in feeds)
    assert {"s0usdt@aggTrade", "s0usdt@kline_1m", "s0usdt@markPrice@1s", "s0usdt@forceOrder"} <= set(names)


def test_binance_all_market_replaces_per_symbol_funding_and_liquidations() -> None:
    [feed] = build_feeds(settings(binance_all_market=True))
    names = streams_of(feed.url)
    assert "!markPrice@arr@1s" in names and "!forceOrder@arr" in names
    assert not [n for n in names if n.endswith("@forceOrder") or "@markPrice" in n and not n.startswith("!")]


def test_bybit_topics_split_by_characters_and_spot_subscribes_ten_args_at_a_time() -> None:
    symbols = [f"COIN{n:04d}USDT" for n in range(1500)]
    feeds = build_feeds(
        settings(feeds=["bybit", "bybit_spot"], bybit_symbols=symbols, bybit_spot_symbols=symbols)
    )
    linear = [f for f in feeds if f.exchange == "bybit"]
    assert len(linear) > 1
    for feed in linear:
        args = [a for message in feed.subscribe for a in msgspec.json.decode(message)["args"]]
        assert len(msgspec.json.encode(args)) <= bybit.MAX_ARGS_CHARS
        assert feed.ping_message == bybit.PING and feed.ping_interval_s == 20
    spot = [f for f in feeds if f.exchange == "bybit_spot"]
    assert all(len(msgspec.json.decode(m)["args"]) <= 10 for f in spot for m in f.subscribe)
    assert sum(len(msgspec.json.decode(m)["args"]) for f in spot for m in f.subscribe) == 1500 * 3


def test_okx_channels_endpoints_and_contract_values() -> None:
    s = settings(
        feeds=["okx"],
        okx_instruments=["BTC-USDT-SWAP", "BTC-USDT"],
        okx_contract_values={"SOL-USDT-SWAP": "1"},
    )
    public, business = feeds_of(VENUES["okx"], s)
    args = [a for m in public.subscribe for a in msgspec.json.decode(m)["args"]]
    assert {"channel": "funding-rate", "instId": "BTC-USDT"} not in args  # spot has no funding
    assert {"channel": "liquidation-orders", "instType": "SWAP"} in args
    assert business.url.endswith("/business") and business.channels == ("candles",)
    assert business.start_delay_s > public.start_delay_s  # 3 connections a second per IP
    assert public.ping_message == okx.PING and public.ping_interval_s < 30
    raw = frame("okx", "trades").replace(b"BTC-USDT", b"SOL-USDT-SWAP")
    [trade] = public.parse(raw, 1)
    assert trade.size == Decimal("0.12060306") and trade.raw_size == Decimal("0.12060306")  # ctVal 1
    with pytest.raises(ConfigError, match="okx_contract_values"):
        feeds_of(VENUES["okx"], settings(okx_contract_values={"X-USDT-SWAP": "-1"}))


def test_hyperliquid_and_deribit_keepalive() -> None:
    hl, db = (BUILDERS[v](settings(), venue_facts(settings()))[0] for v in ("hyperliquid", "deribit"))
    assert len(hl.subscribe) == 2 * 3 and hl.ping_message is not None and hl.subscribe_pause_s > 0
    assert b"public/set_heartbeat" in db.subscribe[0]
    assert db.reply is not None and db.reply(frame("deribit", "heartbeat_test_request")) is not None
    assert db.reply(frame("deribit", "trades")) is None
    assert (
        deribit.trades_channel("BTC-PERPETUAL") in msgspec.json.decode(db.subscribe[1])["params"]["channels"]
    )


def test_a_socket_idle_timeout_is_its_quickest_channels() -> None:
    quiet = {"liquidations": 900.0, "funding": 120.0}
    [mixed] = build_feeds(settings(ws_idle_timeout_s=30.0, ws_idle_timeout_by_channel=quiet))
    assert mixed.idle_timeout_s == 30.0
    [liq] = build_feeds(settings(binance_channels=["liquidations"], ws_idle_timeout_by_channel=quiet))
    assert liq.idle_timeout_s == 900.0
    [funding] = build_feeds(
        settings(binance_channels=["funding", "liquidations"], ws_idle_timeout_by_channel=quiet)
    )
    assert funding.idle_timeout_s == 120.0


KINDS = {
    "trades": {"Trade"},
    "candles": {"Candle"},
    "funding": {"FundingRate"},
    "liquidations": {"Liquidation"},
    "prices": {"SpotPrice"},
}


async def test_every_venue_and_channel_against_the_simulator(make_settings: SettingsFactory) -> None:
    async with simulator(make_settings, simulator_rate=20.0) as sim:
        s = sim.settings(
            feeds=ALL,
            okx_instruments=["BTC-USDT-SWAP", "ETH-USDT"],
            binance_all_market=True,
            bybit_symbols=["BTCUSDT"],
            hyperliquid_coins=["BTC"],
            deribit_instruments=["BTC-PERPETUAL", "ETH_USDC-PERPETUAL"],
        )
        producers = {f.name: FakeProducer() for f in build_feeds(s)}
        conns = [FeedConnection(f, producers[f.name]) for f in build_feeds(s)]
        async with running(*conns):
            await asyncio.sleep(2.5)  # liquidations come every 2 s
    for conn in conns:
        kinds = Counter(type(e).__name__ for e in producers[conn.feed.name].events)
        assert conn.bad_frames == 0 and conn.reconnects == 0, conn.feed.name
        for channel in conn.feed.channels:
            assert KINDS[channel] <= set(kinds), (conn.feed.name, channel, kinds)


def test_all_feeds_have_unique_names() -> None:
    names = [f.name for f in build_feeds(settings(feeds=ALL))]
    assert len(names) == len(set(names))


def test_the_demo_points_every_feed_at_the_simulator() -> None:
    from services.simulator.app import venue_urls
    from shared.config import load_settings as load

    demo = load({"TRADEHUB_CONFIG": str(ROOT / "deploy" / "demo.toml")})
    assert set(demo.websockets.feeds) == set(ALL)
    assert {k: demo.venues.urls[k] for k in venue_urls("")} == venue_urls("ws://127.0.0.1:8765")
