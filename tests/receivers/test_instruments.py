"""Venue facts from REST: OKX contract values and Bybit funding intervals parsed from the documented
answers (OKX https://www.okx.com/docs-v5/en/#public-data-rest-api-get-instruments, instType=SWAP:
BTC-USDT-SWAP and ETH-USDT-SWAP linear, BTC-USD-SWAP inverse, whose ctVal is 100 USD; Bybit
/docs/v5/market/instrument, the linear example), then the receivers' loader against the
simulator's REST venues, answering and failing, and the feeds reading what it loaded."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from services.receivers.capabilities import client_for
from services.receivers.exchanges import bybit, okx
from services.receivers.feeds import build_feeds, venue_facts
from services.receivers.frames import FrameError
from services.receivers.instruments import Fact, facts_to_load, keep
from shared.config import Settings
from shared.events import FundingRate
from tests.fixtures import frame
from tests.receivers.frame_checks import RECV_TS
from tests.receivers.test_pollers import against, script

SettingsFactory = Callable[..., Settings]


def test_linear_swaps_counted_in_their_base_coin_only() -> None:
    table = okx.parse_contract_values(frame("okx", "rest_instruments_swap"))
    assert table == {"BTC-USDT-SWAP": Decimal("0.01"), "ETH-USDT-SWAP": Decimal("0.1")}  # no inverse


@pytest.mark.parametrize(
    "raw, why",
    [
        (b'{"code":"50011","msg":"Rate limit reached","data":[]}', "50011"),
        (b'{"code":"0","data":[{"instId":"X-USDT-SWAP","ctVal":"","ctValCcy":"X","ctType":"linear"}]}',
         "ctVal of X-USDT-SWAP"),
        (b'{"code":"0","data":[{"instId":"X-USDT-SWAP","ctVal":"0","ctValCcy":"X","ctType":"linear"}]}',
         "ctVal of X-USDT-SWAP is 0"),
        (b'{"code":"0","data":{}}', "Expected `array`"),
    ],
)
def test_unusable_answers_are_frame_errors(raw: bytes, why: str) -> None:
    with pytest.raises(FrameError, match=why):
        okx.parse_contract_values(raw)


def test_bybit_funding_intervals_of_perpetuals_in_hours() -> None:
    hours, cursor = bybit.parse_funding_intervals(frame("bybit", "rest_instruments_linear"))
    assert (hours, cursor) == ({"BTCUSDT": Decimal(8)}, "")  # fundingInterval 480 minutes
    dated = frame("bybit", "rest_instruments_linear").replace(b"LinearPerpetual", b"LinearFutures")
    assert bybit.parse_funding_intervals(dated) == ({}, "")
    with pytest.raises(FrameError, match="0 minutes for BTCUSDT"):
        bybit.parse_funding_intervals(frame("bybit", "rest_instruments_linear").replace(b":480", b":0"))


async def keeping(settings: Settings, fact: Fact) -> tuple[asyncio.Event, Any]:
    first_done, stop = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(keep(settings, fact, first_done, stop))
    await asyncio.wait_for(first_done.wait(), 20)
    return stop, task


def fact_of(settings: Settings, venue: str, facts: Any) -> Fact:
    [fact] = [f for f in facts_to_load(settings, facts, build_feeds(settings, facts)) if f.venue == venue]
    return fact


async def test_bybit_pages_through_every_perpetual(
    simulator: TestServer, make_settings: SettingsFactory
) -> None:
    settings = against(simulator, make_settings)
    async with client_for(settings, "bybit") as client:
        hours = await bybit.fetch_funding_intervals(client, page=1)  # one symbol a page: 3 pages
    assert hours == {"BTCUSDT": 8, "ETHUSDT": 4, "SOLUSDT": 8}  # the simulated market's assets


async def test_only_the_running_feeds_tables_are_loaded(make_settings: SettingsFactory) -> None:
    settings = make_settings(feeds=["binance_spot", "bybit", "hyperliquid"])
    facts = venue_facts(settings)
    assert [f.what for f in facts_to_load(settings, facts, build_feeds(settings, facts))] == [
        "bybit funding intervals"
    ]


async def test_the_loaded_tables_reach_the_feeds(
    simulator: TestServer, make_settings: SettingsFactory
) -> None:
    settings = against(simulator, make_settings, feeds=["okx", "binance", "bybit"],
                       okx_instruments=["SOL-USDT-SWAP"],
                       okx_contract_values={"DOGE-USDT-SWAP": "10"})
    facts = venue_facts(settings)
    feeds = {f.name: f for f in build_feeds(settings, facts)}
    trade = frame("okx", "trades").replace(b'"BTC-USDT"', b'"SOL-USDT-SWAP"')  # sz "0.12060306" contracts
    with pytest.raises(FrameError, match="no ctVal for SOL-USDT-SWAP"):
        feeds["okx:public:0"].parse(trade, RECV_TS)
    running = [await keeping(settings, fact_of(settings, v, facts)) for v in ("okx", "binance", "bybit")]
    # OKX: the simulator's swaps (BTC 0.01 and ETH 0.1 as OKX's, 1 coin for the others)
    okx_table = facts["okx"]
    assert okx_table["SOL-USDT-SWAP"] == Decimal(1) and okx_table["BTC-USDT-SWAP"] == Decimal("0.01")
    assert okx_table["DOGE-USDT-SWAP"] == Decimal(10)  # okx_contract_values wins over the venue
    assert "BTC-USD-SWAP" not in okx_table
    [event] = feeds["okx:public:0"].parse(trade, RECV_TS)  # the feed reads the table it was built with
    assert (event.size, event.raw_size) == (Decimal("0.12060306"), Decimal("0.12060306"))
    [doge] = feeds["okx:public:0"].parse(trade.replace(b"SOL-", b"DOGE-"), RECV_TS)
    assert (doge.size, doge.raw_size) == (Decimal("1.2060306"), Decimal("0.12060306"))
    # Binance: fundingInfo lists ETHUSDT at 4 h; the markPrice stream says nothing of intervals
    assert facts["binance"] == {"ETHUSDT": Decimal(4)}
    eth = frame("binance", "markPrice").replace(b"btcusdt", b"ethusdt").replace(b'"BTCUSDT"', b'"ETHUSDT"')
    funding = [e for e in feeds["binance:0"].parse(eth, RECV_TS) if isinstance(e, FundingRate)]
    assert [(f.interval_hours, f.annualized) for f in funding] == [(Decimal(4), Decimal("0.83585730"))]
    # Bybit: a ticker delta without fundingIntervalHour reads the instruments-info interval
    assert facts["bybit"]["ETHUSDT"] == Decimal(4)
    delta = frame("bybit", "tickers_delta").replace(b"XRPUSDT", b"ETHUSDT")
    assert b"fundingIntervalHour" not in delta
    rates = [e for e in feeds["bybit:0"].parse(delta, RECV_TS) if isinstance(e, FundingRate)]
    assert rates and {r.interval_hours for r in rates} == {Decimal(4)}
    for stop, task in running:
        stop.set()
        await asyncio.wait_for(task, 5)


async def test_a_failing_venue_leaves_the_defaults_and_frees_the_feeds(
    simulator: TestServer, make_settings: SettingsFactory
) -> None:
    settings = against(simulator, make_settings, feeds=["okx"], poll_retries=0)
    await script(simulator, "okx", "500", count=0)
    facts = venue_facts(settings)
    before = dict(facts["okx"])
    stop, task = await keeping(settings, fact_of(settings, "okx", facts))  # first attempt failed
    assert facts["okx"] == before and not task.done()  # the defaults; still trying
    await script(simulator, "okx", "normal")
    stop.set()
    await asyncio.wait_for(task, 5)
