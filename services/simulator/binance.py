"""Simulated Binance USD-M futures market streams: aggTrade frames exactly as Binance
documents them, from a seeded random walk (the same seed gives the same frames)."""
from __future__ import annotations

import random
import time
import zlib
from decimal import Decimal

import msgspec

TICK = Decimal("0.1")
LOT = Decimal("0.001")
_encoder = msgspec.json.Encoder()


class SymbolTape:
    """The trade tape of one symbol: ids, prices and times continue across connections."""

    def __init__(self, symbol: str, seed: int) -> None:
        self.symbol = symbol
        self.rng = random.Random(seed * 1_000_003 + zlib.crc32(symbol.encode()))
        self.price = Decimal(self.rng.randint(1_000, 90_000))
        self.agg_id = self.rng.randint(1, 10**9)
        self.first_id = self.agg_id * 3
        self.time_ms = 0
        self.sent = 0

    def next_payload(self) -> dict[str, object]:
        rng = self.rng
        self.price = max(TICK, self.price + TICK * rng.randint(-5, 5))
        qty = LOT * rng.randint(1, 5000)
        fills = rng.randint(1, 4)
        self.agg_id += 1
        # exchange time follows the wall clock (so rows land in today's partition), never backwards
        self.time_ms = max(self.time_ms + rng.randint(0, 1), time.time_ns() // 1_000_000)
        payload = {
            "e": "aggTrade", "E": self.time_ms + 3, "s": self.symbol, "a": self.agg_id,
            "p": f"{self.price:.1f}", "q": f"{qty:.3f}", "f": self.first_id, "l": self.first_id + fills - 1,
            "T": self.time_ms, "m": rng.random() < 0.5,
        }
        self.first_id += fills
        return payload


def agg_trade_frame(tape: SymbolTape) -> str:
    """{"stream":"btcusdt@aggTrade","data":{...}}: the combined-stream wrapper."""
    payload = tape.next_payload()
    return _encoder.encode({"stream": f"{tape.symbol.lower()}@aggTrade", "data": payload}).decode()


def parse_streams(query: str) -> list[str]:
    """'btcusdt@aggTrade/ethusdt@aggTrade' -> ['BTCUSDT', 'ETHUSDT'] (aggTrade streams only)."""
    symbols = []
    for name in query.split("/"):
        symbol, _, channel = name.partition("@")
        if channel == "aggTrade" and symbol:
            symbols.append(symbol.upper())
    return symbols
