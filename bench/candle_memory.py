"""The candle builder's memory: fold a tape into 1m bars as the analytics sink does (fold, write,
clean, batch by batch) and print, per id shape, the bytes the bars hold (tracemalloc) per bar and
per trade. Prints one JSON document.

    python bench/candle_memory.py [--trades 600000] [--symbols 3] [--rate 333] [--shape uuid ...]

`rate` is trades a second per symbol: the defaults are 10 minutes of tape, the builder's memory
(`candle_memory_minutes`), so every bar folded is still held at the end. Id shapes: consecutive
(Binance aggTrade `a` and spot `t`), sparse numbers (OKX, Hyperliquid `tid`) and UUIDs (Bybit
`execId`)."""
from __future__ import annotations

import argparse
import json
import sys
import tracemalloc
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from services.processor.candles import CandleBuilder  # noqa: E402
from shared.events import Trade  # noqa: E402

BATCH = 500
IDS: dict[str, Callable[[int], str]] = {
    "consecutive": lambda n: str(5_000_000_000 + n),
    "sparse": lambda n: str(900_000_000_000 + n * 7 + n % 5),
    "uuid": lambda n: f"{n:08x}-{n % 65536:04x}-5b31-9112-{n:012x}",
}
PRICES = [Decimal(60_000 + k) for k in range(50)]
SIZES = [Decimal("0.001") * (k + 1) for k in range(9)]


def measure(shape: str, trades: int, symbols: int, rate: float) -> dict[str, float]:
    ids = IDS[shape]
    step_us = int(1_000_000 / rate)
    names = [f"S{k}-USDT-PERP" for k in range(symbols)]
    builder = CandleBuilder()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    batch: list[Trade] = []
    for n in range(trades):
        k, i = n % symbols, n // symbols
        ts = 1_704_067_200_000_000 + i * step_us
        batch.append(Trade(exchange="sim", symbol=names[k], raw_symbol=names[k], trade_id=ids(i),
                           price=PRICES[i % 50], size=SIZES[i % 9], side="buy" if i % 2 else "sell", ts=ts,
                           recv_ts=ts))
        if len(batch) == BATCH:
            builder.fold(batch)
            builder.clean(builder.dirty())
            batch = []
    builder.fold(batch)
    builder.clean(builder.dirty())
    del batch
    held = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    bars = builder.bars_held
    return {"bars": bars, "bytes": held,
            "bytes_per_bar": round(held / max(bars, 1)), "bytes_per_trade": round(held / max(trades, 1), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trades", type=int, default=600_000)
    parser.add_argument("--symbols", type=int, default=3)
    parser.add_argument("--rate", type=float, default=333.0, help="trades a second per symbol")
    parser.add_argument("--shape", choices=sorted(IDS), action="append", help="id shapes (default: all)")
    args = parser.parse_args()
    out = {shape: measure(shape, args.trades, args.symbols, args.rate) for shape in args.shape or IDS}
    print(json.dumps({"trades": args.trades, "symbols": args.symbols, "rate_per_symbol": args.rate,
                      "memory": out}, indent=2))


if __name__ == "__main__":
    main()
