"""Jupiter's JLP: the composition from the Perps API's `jlp-info`, turned into tokens per JLP.

GET https://lite-api.jup.ag/perps/v1/jlp-info (no key)
# https://jupiter-feat-perps-api.mintlify.app/api-reference/perps/get-jlp-info

Per non-stable custody (JLP economics: nav = (owned - locked) * price + guaranteedUsd, and the
shorts' PnL moves AUM by globalShortSizes * (price - avg) / avg;
# https://station.jup.ag/guides/jlp/JLP-Economics
the derivative of the custody's AUM by its price is its delta in tokens):

    tokens per JLP = ((owned - locked) / 10^decimals + globalShortSizes / globalShortAveragePrice)
                     / (jlpTotalSupply / 10^6)

- `owned`, `locked`: raw token amounts, in the custody mint's decimals (the custody account keeps
  them in the mint's units; # https://dev.jup.ag/docs/perps/custody-account). `locked` is owed to
  longs, so it is no exposure of the pool.
- `globalShortSizes` (USD) and `globalShortAveragePrice` (USD per token) are both raw with 6 decimals,
  so their ratio is whole tokens: the shorts make the pool synthetically long that many tokens.
- `guaranteedUsd` is a fixed dollar claim of the longs: no exposure, so it is not read.
- `jlpTotalSupply`: raw JLP, 6 decimals (the documented example: "100000000000" is "100,000").
- USDC and USDT are the pool's stables: no hedge.
"""
from __future__ import annotations

from decimal import Decimal

import aiohttp
import msgspec

from services.general.pools import AssetExposure, PoolExposure, PoolSourceError
from shared.settings import HedgePool, VenueSettings

DEFAULT_URL = "https://lite-api.jup.ag/perps/v1"  # venue_urls key: jupiter_perps_rest
URL_KEY = "jupiter_perps_rest"
JLP_DECIMALS = 6  # JLP mint 27G8MtK7VtTcCHkpASjSDdkWWYfoqT6ggEuKidVJidD4
STABLES = frozenset({"USDC", "USDT"})
# Custody mints' decimals (jlp-info names the mint, not its decimals): SOL is native SOL (9); ETH and
# BTC are Wormhole-bridged wETH 7vfCXTUXx5WJV5JADk17DUJ4ksgau7utNKj4b963voxs and WBTC
# 3NZ9JMVBmGAqocybic2c7LQCJScmgsAZ6vQqTDzcqmJh (8 each). A pool's `decimals` setting overrides.
DECIMALS = {"SOL": 9, "ETH": 8, "BTC": 8, "WBTC": 8, "USDC": 6, "USDT": 6}
TIMEOUT_S = 10.0


class Custody(msgspec.Struct, frozen=True):
    """One `custodies[]` item of jlp-info; only the fields the exposure needs are read."""

    symbol: str  # SOL, ETH, BTC, USDC, USDT
    mint: str
    owned: str  # raw token amount, mint decimals
    locked: str  # raw token amount, mint decimals: reserved for longs' payoff
    globalShortSizes: str  # USD, raw 6 decimals
    globalShortAveragePrice: str  # USD per token, raw 6 decimals
    guaranteedUsd: str = "0"  # USD, raw 6 decimals: a fixed claim, no exposure


class JlpInfo(msgspec.Struct, frozen=True):
    jlpTotalSupply: str  # raw JLP, 6 decimals
    custodies: list[Custody]
    jlpPriceUsd: str = "0"  # raw, 6 decimals


_decoder = msgspec.json.Decoder(JlpInfo)


def custody_tokens(custody: Custody, decimals: int) -> Decimal:
    """The pool's delta in whole tokens of one custody: available tokens plus the shorts' synthetic long."""
    available = (Decimal(custody.owned) - Decimal(custody.locked)).scaleb(-decimals)
    average = Decimal(custody.globalShortAveragePrice)
    shorts = Decimal(custody.globalShortSizes) / average if average else Decimal(0)
    return available + shorts


def parse_jlp_info(body: bytes, decimals: dict[str, int] | None = None) -> PoolExposure:
    """jlp-info bytes -> tokens per JLP of each non-stable custody. Raises PoolSourceError."""
    try:
        info = _decoder.decode(body)
        supply = Decimal(info.jlpTotalSupply).scaleb(-JLP_DECIMALS)
    except (msgspec.DecodeError, msgspec.ValidationError, ArithmeticError) as exc:
        raise PoolSourceError(f"jlp-info: {exc}") from exc
    if supply <= 0:
        raise PoolSourceError(f"jlp-info: jlpTotalSupply {info.jlpTotalSupply} is not positive")
    known = {**DECIMALS, **(decimals or {})}
    assets = []
    for custody in info.custodies:
        if custody.symbol in STABLES:
            continue
        if custody.symbol not in known:
            raise PoolSourceError(f"jlp-info: no decimals known for custody {custody.symbol} "
                                  f"({custody.mint}); set them in the pool's `decimals`")
        try:
            tokens = custody_tokens(custody, known[custody.symbol])
        except ArithmeticError as exc:
            raise PoolSourceError(f"jlp-info: custody {custody.symbol}: {exc}") from exc
        assets.append(AssetExposure(asset=custody.symbol, per_unit=tokens / supply))
    return PoolExposure(assets=assets, supply=supply)


async def read_exposure(session: aiohttp.ClientSession, venues: VenueSettings,
                        pool: HedgePool) -> PoolExposure:
    """GET <jupiter_perps_rest>/jlp-info and parse it."""
    url = venues.urls.get(URL_KEY, DEFAULT_URL).rstrip("/") + "/jlp-info"
    try:
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=TIMEOUT_S)) as response:
            body = await response.read()
            if response.status != 200:
                raise PoolSourceError(f"jlp-info: HTTP {response.status}: {body[:200]!r}")
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise PoolSourceError(f"jlp-info: {type(exc).__name__}: {exc}") from exc
    return parse_jlp_info(body, pool.decimals)
