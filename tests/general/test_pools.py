"""Pool sources: JLP's tokens per JLP from a jlp-info document in the documented shape, checked
against hand-computed values; Adrena's custody layout decoded from the bytes the simulator builds
independently; both read over HTTP from the simulator's REST."""
from __future__ import annotations

from decimal import Decimal

import aiohttp
import msgspec
import pytest
from aiohttp import web
from pytest_aiohttp.plugin import AiohttpServer

from services.general.pools import PoolSourceError, adrena, jlp
from services.simulator import pools as sim_pools
from services.simulator.rest_venues import add_rest_venues
from shared.config import Settings, load_settings
from shared.settings import HedgePool
from tests.fixtures import frame

D = Decimal


def test_jlp_exposure_equals_the_hand_computed_fixture() -> None:
    """tests/fixtures/jlp/jlp-info.json, supply 400,000,000 JLP (raw 6 decimals):
    SOL: (10,000,000 - 2,500,000) + 180,000,000 USD / 120 = 9,000,000 SOL -> 0.0225 per JLP
    ETH: (150,000 - 30,000) + 100,000,000 / 2,500 = 160,000 ETH (8 decimals) -> 0.0004
    BTC: (5,000 - 1,400) + 240,000,000 / 60,000 = 7,600 BTC (8 decimals) -> 0.000019
    guaranteedUsd adds nothing; USDC is a stable: no line."""
    exposure = jlp.parse_jlp_info(frame("jlp", "jlp-info"))
    assert exposure.supply == D(400_000_000)
    assert {a.asset: a.per_unit for a in exposure.assets} == {
        "SOL": D("0.0225"), "ETH": D("0.0004"), "BTC": D("0.000019")}


def test_jlp_guaranteed_usd_adds_no_exposure() -> None:
    body = frame("jlp", "jlp-info").replace(b'"guaranteedUsd": "650000000000000"', b'"guaranteedUsd": "1"')
    assert jlp.parse_jlp_info(body) == jlp.parse_jlp_info(frame("jlp", "jlp-info"))


def test_jlp_decimals_can_be_set_per_pool_and_unknown_ones_are_an_error() -> None:
    [sol, *_] = jlp.parse_jlp_info(frame("jlp", "jlp-info"), {"SOL": 8}).assets
    assert sol.per_unit == D("0.19125")  # (75,000,000 + 1,500,000) / 400,000,000
    renamed = frame("jlp", "jlp-info").replace(b'"symbol": "SOL"', b'"symbol": "JUP"')
    with pytest.raises(PoolSourceError, match="no decimals known for custody JUP"):
        jlp.parse_jlp_info(renamed)
    with pytest.raises(PoolSourceError):
        jlp.parse_jlp_info(b'{"custodies": []}')


def test_adrena_custody_layout_round_trips_the_simulated_accounts() -> None:
    """JitoSOL custody: (400,000 - 100,000) + 1,500,000 USD / 150 = 310,000 -> 0.0155 per ALP
    (20,000,000 ALP); WBTC: (50 - 10) + 6,500,000 / 65,000 = 140 -> 0.000007; USDC is stable."""
    keys = list(sim_pools.ADRENA_CUSTODIES)
    rpc = sim_pools.adrena_rpc_result("getMultipleAccounts", [keys, {"encoding": "base64"}])
    states = adrena.parse_accounts(msgspec.json.encode(rpc), ["JITOSOL", "WBTC", "USDC"])
    assert states["WBTC"].decimals == 8 and states["USDC"].is_stable
    supply = adrena.parse_supply(msgspec.json.encode(sim_pools.adrena_rpc_result(
        "getTokenSupply", [sim_pools.ADRENA_MINT])))
    exposure = adrena.exposure_of(states, supply)
    assert {a.asset: a.per_unit for a in exposure.assets} == {"JITOSOL": D("0.0155"), "WBTC": D("0.000007")}


def test_adrena_short_account_is_refused() -> None:
    with pytest.raises(PoolSourceError, match="expected 824"):
        adrena.parse_custody(b"\0" * 100)


async def test_both_sources_read_the_simulator_over_http(aiohttp_server: AiohttpServer,
                                                         settings: Settings) -> None:
    app = web.Application()
    add_rest_venues(app, settings)
    server = await aiohttp_server(app)
    base = str(server.make_url(""))
    venues = load_settings({}, venue_urls={"jupiter_perps_rest": f"{base}/jupiter/perps/v1",
                                           "adrena_rpc": f"{base}/adrena/rpc"}).venues
    jlp_pool = HedgePool(source="jlp", held=D(1))
    keys = list(sim_pools.ADRENA_CUSTODIES)
    alp_pool = HedgePool(source="adrena", held=D(1), mint=sim_pools.ADRENA_MINT,
                         custodies={"JITOSOL": keys[0], "WBTC": keys[1], "USDC": keys[2]})
    async with aiohttp.ClientSession() as session:
        jlp_exposure = await jlp.read_exposure(session, venues, jlp_pool)
        alp_exposure = await adrena.read_exposure(session, venues, alp_pool)
        bad = HedgePool(source="adrena", held=D(1), mint="nope", custodies={"X": "missing"})
        with pytest.raises(PoolSourceError):
            await adrena.read_exposure(session, venues, bad)
    # simulator's fixed pool: SOL 12,000,000 / 1e9 JLP; ETH 170,000; BTC 4,000 (services/simulator/pools.py)
    assert {a.asset: a.per_unit for a in jlp_exposure.assets} == {
        "SOL": D("0.012"), "ETH": D("0.00017"), "BTC": D("0.000004")}
    alp = {a.asset: a.per_unit for a in alp_exposure.assets}
    assert alp == {"JITOSOL": D("0.0155"), "WBTC": D("0.000007")}
