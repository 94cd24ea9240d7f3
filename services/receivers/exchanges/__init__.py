"""The exchanges tradehub speaks to, one module each, and what each can do."""
from __future__ import annotations

from types import ModuleType

from services.receivers.exchanges import binance, deribit, hyperliquid
from services.receivers.exchanges import bybit, okx

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


def exchange_of(name: str) -> str:
    """The exchange named by the events, gap records and feed states of registry entry `name`.

    Always the venue: a second market's feed (binance_spot, bybit_spot) declares its venue as
    EXCHANGE, and the normalized symbol tells the market (BTC-USDT spot, BTC-USDT-PERP perpetual).
    An entry without one is its venue's only feed, named after the venue.
    """
    entry = EXCHANGES.get(name)
    return str(getattr(entry, "EXCHANGE", name))
