"""The exchanges tradehub speaks to, one module each, and what each can do."""
from __future__ import annotations

from types import ModuleType

from services.receivers.exchanges import binance

# name -> module with parse_frame(raw, recv_ts) -> list[event]
EXCHANGES: dict[str, ModuleType] = {
    "binance": binance,
    "binance_spot": binance.spot,  # a second feed in binance.py, with its own parse_frame
}
