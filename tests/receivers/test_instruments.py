"""OKX contract values from the venue's instrument list: the pure parse against the documented
answer (https://www.okx.com/docs-v5/en/#public-data-rest-api-get-instruments, instType=SWAP:
BTC-USDT-SWAP and ETH-USDT-SWAP linear, BTC-USD-SWAP inverse, whose ctVal is 100 USD), then the
receivers' loader against the simulator's REST venue, answering and failing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from services.receivers.exchanges import okx
from services.receivers.feeds import build_feeds, okx_contract_values
from services.receivers.frames import FrameError
from services.receivers.instruments import keep_okx_contract_values
from services.simulator.app import create_app
from shared.config import Settings
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


@pytest.fixture
async def simulator(make_settings: SettingsFactory) -> AsyncIterator[TestServer]:
    server = TestServer(create_app(make_settings()))
    await server.start_server()
    yield server
    await server.close()


async def keep(settings: Settings, table: dict[str, Decimal]) -> tuple[asyncio.Event, asyncio.Event, Any]:
    first_done, stop = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(keep_okx_contract_values(settings, table, first_done, stop))
    await asyncio.wait_for(first_done.wait(), 20)
    return first_done, stop, task


async def test_the_loaded_table_converts_swaps_outside_the_built_in_one(
    simulator: TestServer, make_settings: SettingsFactory
) -> None:
    settings = against(simulator, make_settings, feeds=["okx"], okx_instruments=["SOL-USDT-SWAP"],
                       poll_spot_assets=["SOL", "DOGE"], okx_contract_values={"DOGE-USDT-SWAP": "10"})
    table = okx_contract_values(settings)
    [public] = [f for f in build_feeds(settings, table) if f.name == "okx:public:0"]
    trade = frame("okx", "trades").replace(b'"BTC-USDT"', b'"SOL-USDT-SWAP"')  # sz "0.12060306" contracts
    with pytest.raises(FrameError, match="no ctVal for SOL-USDT-SWAP"):
        public.parse(trade, RECV_TS)
    _, stop, task = await keep(settings, table)
    # the simulator's swaps: BTC 0.01 and ETH 0.1 as OKX's, 1 coin for the others
    assert table["SOL-USDT-SWAP"] == Decimal(1) and table["BTC-USDT-SWAP"] == Decimal("0.01")
    assert table["DOGE-USDT-SWAP"] == Decimal(10)  # okx_contract_values wins over the venue
    assert "BTC-USD-SWAP" not in table
    [event] = public.parse(trade, RECV_TS)  # the feed reads the table it was built with
    assert (event.size, event.raw_size) == (Decimal("0.12060306"), Decimal("0.12060306"))
    [doge] = public.parse(trade.replace(b"SOL-", b"DOGE-"), RECV_TS)
    assert (doge.size, doge.raw_size) == (Decimal("1.2060306"), Decimal("0.12060306"))
    stop.set()
    await asyncio.wait_for(task, 5)


async def test_a_failing_venue_leaves_the_built_in_table_and_frees_the_feeds(
    simulator: TestServer, make_settings: SettingsFactory
) -> None:
    settings = against(simulator, make_settings, feeds=["okx"], poll_retries=0)
    await script(simulator, "okx", "500", count=0)
    table = okx_contract_values(settings)
    before = dict(table)
    _, stop, task = await keep(settings, table)  # the first attempt failed: the feeds may start
    assert table == before and not task.done()  # and the loader keeps trying
    await script(simulator, "okx", "normal")
    stop.set()
    await asyncio.wait_for(task, 5)
