"""Adrena's ALP (Solana): the composition from its custody accounts over Solana JSON-RPC.

Adrena publishes no documented REST answer with the custodies' short open interest (its data API,
datapi.adrena.xyz/custodyinfo, is used by its own app for owned/locked series but has no reference
page), so the custodies are read on chain, decoded with the program's own account layout:
# https://github.com/PaulDotDev/adrena-protocol/blob/18c495799f01a49157c9f2de7e17b13dbbf1b93e/programs/adrena/src/state/custody.rs
#   (a published copy of Adrena's program: Custody, Assets, PositionsAccounting are
#   `#[account(zero_copy)] #[repr(C)]`, so fields sit at fixed offsets; cortex.rs has the decimals)
# https://solana.com/docs/rpc/http/getmultipleaccounts   (encoding "base64": data = [b64, "base64"])
# https://solana.com/docs/rpc/http/gettokensupply         (value.amount raw, value.decimals)

Exposure per custody, as for JLP (docs/hedges.md):
    tokens per ALP = ((owned - locked) / 10^decimals + short size / short average price) / ALP supply
with short size = short_positions.size_usd (USD_DECIMALS 6) and the average price =
weighted_price / total_quantity (PRICE_DECIMALS 10), as Custody::get_collective_position computes it.
"""
from __future__ import annotations

import base64
import struct
from decimal import Decimal

import aiohttp
import msgspec

from services.general.pools import AssetExposure, PoolExposure, PoolSourceError
from shared.settings import HedgePool, VenueSettings

DEFAULT_RPC = "https://api.mainnet-beta.solana.com"  # venue_urls key: adrena_rpc
URL_KEY = "adrena_rpc"
TIMEOUT_S = 10.0
USD_DECIMALS = 6  # Cortex::USD_DECIMALS
PRICE_DECIMALS = 10  # Cortex::PRICE_DECIMALS

# Byte offsets in a Custody account (8-byte Anchor discriminator first; repr(C) sizes: Pubkey 32,
# LimitedString 32 ([u8; 31] + length), PricingParams 24, Fees 32, BorrowRateParams 8, FeesStats 48,
# VolumeStats 48, TradeStats 32, Assets 24, PositionsAccounting 200, BorrowRateState 32).
DECIMALS_AT = 12  # u8, after bump, token_account_bump, allow_trade, allow_swap
IS_STABLE_AT = 13  # u8: 1 = stable
MINT_AT = 48  # Pubkey (the program reads the mint at 48 too: get_custody_mint_from_account_info)
OWNED_AT = 376  # assets.owned u64: after assets.collateral at 368
LOCKED_AT = 384  # assets.locked u64
SHORTS_AT = 592  # short_positions: open_positions u64, size_usd u64, borrow_size_usd u64,
SHORT_SIZE_USD_AT = SHORTS_AT + 8  # locked_amount u64, weighted_price U128Split, total_quantity U128Split
SHORT_WEIGHTED_PRICE_AT = SHORTS_AT + 32
SHORT_TOTAL_QUANTITY_AT = SHORTS_AT + 48
CUSTODY_LEN = 824  # Custody::LEN = 8 + size_of::<Custody>()


class CustodyState(msgspec.Struct, frozen=True):
    """The fields of one Custody account the exposure needs, in raw integer units."""

    decimals: int
    is_stable: bool
    owned: int  # raw token units
    locked: int  # raw token units
    short_size_usd: int  # USD, 6 decimals
    short_weighted_price: int  # sum of price (10 decimals) x quantity
    short_total_quantity: int


def _u128_split(data: bytes, at: int) -> int:
    """U128Split { high: u64, low: u64 }, each little-endian."""
    high, low = struct.unpack_from("<QQ", data, at)
    return int(high) << 64 | int(low)


def parse_custody(data: bytes) -> CustodyState:
    """A Custody account's bytes -> CustodyState. Raises PoolSourceError on a short account."""
    if len(data) < CUSTODY_LEN:
        raise PoolSourceError(f"adrena custody: {len(data)} bytes, expected {CUSTODY_LEN}")
    (owned,) = struct.unpack_from("<Q", data, OWNED_AT)
    (locked,) = struct.unpack_from("<Q", data, LOCKED_AT)
    (size_usd,) = struct.unpack_from("<Q", data, SHORT_SIZE_USD_AT)
    return CustodyState(decimals=data[DECIMALS_AT], is_stable=data[IS_STABLE_AT] == 1, owned=owned,
                        locked=locked, short_size_usd=size_usd,
                        short_weighted_price=_u128_split(data, SHORT_WEIGHTED_PRICE_AT),
                        short_total_quantity=_u128_split(data, SHORT_TOTAL_QUANTITY_AT))


def custody_tokens(custody: CustodyState) -> Decimal:
    """The pool's delta in whole tokens: available tokens plus the shorts' size at their average price."""
    available = Decimal(custody.owned - custody.locked).scaleb(-custody.decimals)
    if not custody.short_weighted_price or not custody.short_total_quantity:
        return available
    average = (Decimal(custody.short_weighted_price) / Decimal(custody.short_total_quantity)).scaleb(
        -PRICE_DECIMALS)
    return available + Decimal(custody.short_size_usd).scaleb(-USD_DECIMALS) / average


def exposure_of(custodies: dict[str, CustodyState], supply: Decimal) -> PoolExposure:
    """Pool asset -> custody state, and the ALP supply (whole tokens) -> tokens per ALP."""
    if supply <= 0:
        raise PoolSourceError(f"adrena: ALP supply {supply} is not positive")
    assets = [AssetExposure(asset=asset, per_unit=custody_tokens(state) / supply)
              for asset, state in custodies.items() if not state.is_stable]
    return PoolExposure(assets=assets, supply=supply)


class _Account(msgspec.Struct, frozen=True):
    data: tuple[str, str]  # [base64, "base64"]


class _Accounts(msgspec.Struct, frozen=True):
    value: list[_Account | None]


class _Supply(msgspec.Struct, frozen=True):
    amount: str  # raw
    decimals: int


class _SupplyValue(msgspec.Struct, frozen=True):
    value: _Supply


class _RpcError(msgspec.Struct, frozen=True):
    code: int
    message: str


NULL = msgspec.Raw(b"null")


class _Reply(msgspec.Struct, frozen=True):
    result: msgspec.Raw = NULL  # kept raw: its type depends on the method
    error: _RpcError | None = None


async def _call(session: aiohttp.ClientSession, url: str, method: str, params: list[object]) -> msgspec.Raw:
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    try:
        async with session.post(url, json=body, timeout=aiohttp.ClientTimeout(total=TIMEOUT_S)) as response:
            raw = await response.read()
            if response.status != 200:
                raise PoolSourceError(f"adrena {method}: HTTP {response.status}: {raw[:200]!r}")
        reply = msgspec.json.decode(raw, type=_Reply)
    except (aiohttp.ClientError, TimeoutError, msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise PoolSourceError(f"adrena {method}: {type(exc).__name__}: {exc}") from exc
    if reply.error is not None or bytes(reply.result) == b"null":
        raise PoolSourceError(f"adrena {method}: {reply.error.message if reply.error else 'no result'}")
    return reply.result


def parse_accounts(result: bytes, assets: list[str]) -> dict[str, CustodyState]:
    """getMultipleAccounts' result (base64 data), in the order asked, -> asset -> custody state."""
    try:
        accounts = msgspec.json.decode(result, type=_Accounts).value
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise PoolSourceError(f"adrena getMultipleAccounts: {exc}") from exc
    if len(accounts) != len(assets):
        raise PoolSourceError(f"adrena: {len(accounts)} accounts for {len(assets)} custodies")
    states = {}
    for asset, account in zip(assets, accounts, strict=True):
        if account is None:
            raise PoolSourceError(f"adrena: custody account of {asset} not found")
        states[asset] = parse_custody(base64.b64decode(account.data[0]))
    return states


def parse_supply(result: bytes) -> Decimal:
    try:
        supply = msgspec.json.decode(result, type=_SupplyValue).value
        return Decimal(supply.amount).scaleb(-supply.decimals)
    except (msgspec.DecodeError, msgspec.ValidationError, ArithmeticError) as exc:
        raise PoolSourceError(f"adrena getTokenSupply: {exc}") from exc


async def read_exposure(session: aiohttp.ClientSession, venues: VenueSettings,
                        pool: HedgePool) -> PoolExposure:
    """The pool's custodies (getMultipleAccounts) and the ALP supply (getTokenSupply)."""
    if not pool.custodies or not pool.mint:
        raise PoolSourceError("adrena: the pool needs `custodies` (asset -> custody account) and `mint`")
    url = venues.urls.get(URL_KEY, DEFAULT_RPC)
    assets = list(pool.custodies)
    accounts = await _call(session, url, "getMultipleAccounts",
                           [[pool.custodies[a] for a in assets], {"encoding": "base64"}])
    supply = await _call(session, url, "getTokenSupply", [pool.mint])
    return exposure_of(parse_accounts(bytes(accounts), assets), parse_supply(bytes(supply)))
