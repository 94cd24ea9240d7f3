"""The exchanges tradehub speaks to, one module each, and what each can do."""
from __future__ import annotations

from types import ModuleType

from services.receivers.exchanges import binance, bybit, deribit, hyperliquid, okx

# name -> module with parse_frame(raw, recv_ts) -> list[event]
EXCHANGES: dict[str, ModuleType] = {
    "binance": binance,
    "binance_spot": binance.spot,  # a second feed in binance.py, with its own parse_frame
    "hyperliquid": hyperliquid,
    "deribit": deribit,
    "bybit": bybit,  # linear (USDT/USDC perpetuals)
    "bybit_spot": bybit.spot,  # the second feed in bybit.py
    "okx": okx,
}
