"""The simulated LP pools the hedge monitor reads: Jupiter's `jlp-info` in its documented shape
(/jupiter/perps/v1/jlp-info) and a Solana JSON-RPC answering getMultipleAccounts and getTokenSupply
for Adrena's custody accounts (/adrena/rpc), laid out as Adrena's program writes them.

# https://jupiter-feat-perps-api.mintlify.app/api-reference/perps/get-jlp-info
# https://solana.com/docs/rpc/http/getmultipleaccounts, .../gettokensupply
The numbers are fixed, so a demo's required hedge is the same every run (docs/hedges.md works it out).
"""
from __future__ import annotations

import base64
import struct
from typing import Any

from aiohttp import web

# (symbol, name, mint, owned, locked, guaranteedUsd, globalShortSizes, globalShortAveragePrice), raw units
JLP_CUSTODIES = [
    ("SOL", "Wrapped SOL", "So11111111111111111111111111111111111111112",
     "12000000000000000", "2000000000000000", "900000000000000", "300000000000000", "150000000"),
    ("ETH", "Ether (Portal)", "7vfCXTUXx5WJV5JADk17DUJ4ksgau7utNKj4b963voxs",
     "20000000000000", "5000000000000", "500000000000000", "64000000000000", "3200000000"),
    ("BTC", "Wrapped BTC (Portal)", "3NZ9JMVBmGAqocybic2c7LQCJScmgsAZ6vQqTDzcqmJh",
     "300000000000", "100000000000", "700000000000000", "130000000000000", "65000000000"),
    ("USDC", "USD Coin", "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v",
     "500000000000000", "100000000000000", "0", "0", "0"),
]
JLP_SUPPLY = "1000000000000000"  # 1,000,000,000 JLP (6 decimals)

ADRENA_PROGRAM = "AdrenaSimProgram111111111111111111111111111"
ADRENA_MINT = "ALPsimMint1111111111111111111111111111111111"
ADRENA_SUPPLY = ("20000000000000", 6)  # 20,000,000 ALP
# custody account -> (decimals, is_stable, owned, locked, short size_usd (6 dp), short price (10 dp),
#                     short quantity); weighted_price = price x quantity, as the program accumulates it
ADRENA_CUSTODIES = {
    "AdrenaSimCustodyJito1111111111111111111111": (9, 0, 400_000_000_000_000, 100_000_000_000_000,
                                                   1_500_000_000_000, 1_500_000_000_000, 100_000_000),
    "AdrenaSimCustodyWbtc1111111111111111111111": (8, 0, 5_000_000_000, 1_000_000_000,
                                                   6_500_000_000_000, 650_000_000_000_000, 1_000_000),
    "AdrenaSimCustodyUsdc1111111111111111111111": (6, 1, 9_000_000_000_000, 1_000_000_000_000, 0, 0, 0),
}
CUSTODY_LEN = 824  # Adrena: Custody::LEN


def jlp_info() -> dict[str, Any]:
    """The documented jlp-info answer with the fixed pool above."""
    custodies = [{
        "pubkey": f"{symbol}Custody111111111111111111111111111", "symbol": symbol, "name": name, "mint": mint,
        "aumUsd": "0", "aumUsdFormatted": "0", "aumTokenAmount": owned, "aumTokenAmountFormatted": "0",
        "currentWeightagePct": "0.00", "targetWeightagePct": "0.00", "utilizationPct": "0.00",
        "owned": owned, "locked": locked, "guaranteedUsd": guaranteed, "globalShortSizes": shorts,
        "globalShortAveragePrice": average, "shortPnlDelta": "0", "shortTradersHasProfit": False,
        "totalStakedAmountLamports": "0", "totalStakedAmountUsd": "0", "totalStakedAmountUsdFormatted": "0",
    } for symbol, name, mint, owned, locked, guaranteed, shorts, average in JLP_CUSTODIES]
    return {
        "aumUsd": "4000000000000000", "aumUsdFormatted": "4,000,000,000.00", "aumLimitUsd": "0",
        "aumLimitUsdFormatted": "0", "jlpPriceUsd": "4000000", "jlpPriceUsdFormatted": "4.0000",
        "jlpTotalSupply": JLP_SUPPLY, "jlpTotalSupplyFormatted": "1,000,000,000", "jlpAprBps": "0",
        "jlpAprPct": "0.00", "jlpApyBps": "0", "jlpApyPct": "0.00", "jlpAprLastUpdatedTimestamp": "0",
        "jlpRealizedFeeUsd": "0", "custodies": custodies,
    }


def custody_bytes(decimals: int, stable: int, owned: int, locked: int, size_usd: int, price: int,
                  quantity: int) -> bytes:
    """A Custody account as Adrena's program lays it out (repr(C), 8-byte discriminator first)."""
    data = bytearray(CUSTODY_LEN)
    data[12], data[13] = decimals, stable
    struct.pack_into("<QQ", data, 376, owned, locked)  # assets.owned, assets.locked
    struct.pack_into("<QQ", data, 592, 1 if size_usd else 0, size_usd)  # short open_positions, size_usd
    weighted = price * quantity
    struct.pack_into("<QQQQ", data, 624, weighted >> 64, weighted & (2**64 - 1), quantity >> 64,
                     quantity & (2**64 - 1))  # weighted_price, total_quantity: U128Split {high, low}
    return bytes(data)


def account(key: str) -> dict[str, Any]:
    data = base64.b64encode(custody_bytes(*ADRENA_CUSTODIES[key])).decode()
    return {"data": [data, "base64"], "executable": False, "lamports": 6_626_160, "owner": ADRENA_PROGRAM,
            "rentEpoch": 0, "space": CUSTODY_LEN}


def adrena_rpc_result(method: str, params: list[Any]) -> Any:
    """getMultipleAccounts (base64) and getTokenSupply, as a Solana RPC node answers them."""
    context = {"slot": 300_000_000}
    if method == "getMultipleAccounts":
        keys = params[0] if params else []
        value = [account(k) if k in ADRENA_CUSTODIES else None for k in keys]
        return {"context": context, "value": value}
    if method == "getTokenSupply" and params and params[0] == ADRENA_MINT:
        amount, decimals = ADRENA_SUPPLY
        ui = str(int(amount) // 10**decimals)
        return {"context": context, "value": {"amount": amount, "decimals": decimals, "uiAmount": int(ui),
                                              "uiAmountString": ui}}
    return None


async def answer_jlp_info(request: web.Request, sim: object) -> Any:
    return jlp_info()


async def answer_adrena_rpc(request: web.Request, sim: object) -> Any:
    body = await request.json()
    result = adrena_rpc_result(str(body.get("method", "")), list(body.get("params") or []))
    if result is None:
        error = {"code": -32602, "message": "Invalid params"}  # JSON-RPC 2.0: invalid method parameters
        return {"jsonrpc": "2.0", "id": body.get("id"), "error": error}
    return {"jsonrpc": "2.0", "id": body.get("id"), "result": result}
