"""cryptofeed's own parsing of the frames tradehub's bench parses, run inside var/bench-venv
(cryptofeed is not a tradehub dependency). Prints one JSON object on stdout.

usage: var/bench-venv/bin/python bench/cryptofeed_bench.py FRAMES_DIR REDIS_HOST REDIS_PORT KEY_PREFIX

FRAMES_DIR holds binance.jsonl and bybit.jsonl (one websocket frame a line). For each venue,
each the best of three runs:
  parse: `await feed.message_handler(raw, conn, timestamp)` with a counting TRADES callback, the
         feed built offline: its symbol table is set with Symbols.set() instead of a REST call
         (Exchange.__init__ applies it when Symbols.populated(id)); BinanceFutures accepts
         conn=None, Bybit reads conn.address to tell linear from spot, so it gets a stand-in.
  redis: the same with cryptofeed.backends.redis.TradeStream (RedisStreamCallback, one XADD per
         trade) as the callback, overflow='block' so nothing is dropped, timed until its writer
         has written every trade.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from cryptofeed.backends.redis import TradeStream
from cryptofeed.defines import TRADES
from cryptofeed.exchanges import BinanceFutures, Bybit
from cryptofeed.symbols import Symbols

SYMBOLS = {"BTC-USDT-PERP": "BTCUSDT", "ETH-USDT-PERP": "ETHUSDT"}
RUNS = 3  # best of three, as tradehub's side of the bench


# cryptofeed is not installed beside tradehub, so its classes are unknown to the type checker: Any here
Result = dict[str, Any]


def best(runs: list[Result]) -> Result:
    return max(runs, key=lambda run: run["frames_per_s"])


class BybitLinearConn:
    """What Bybit.message_handler reads of its connection: the url (its last part is the market)."""

    address = "wss://stream.bybit.com/v5/public/linear"
    uuid = "bench"


VENUES = {"binance": (BinanceFutures, None), "bybit": (Bybit, BybitLinearConn())}


def offline_feed(cls: Any, callback: Any) -> Any:
    """A feed with its symbol table set by hand: no exchangeInfo / instruments-info request."""
    Symbols.set(cls.id, dict(SYMBOLS), {"instrument_type": {}, "tick_size": {}})
    return cls(symbols=list(SYMBOLS), channels=[TRADES], callbacks={TRADES: callback})


async def parse_rate(cls: Any, conn: Any, frames: list[bytes]) -> Result:
    count = 0

    async def counted(trade: Any, receipt_timestamp: float) -> None:
        nonlocal count
        count += 1

    feed = offline_feed(cls, counted)
    started = time.perf_counter()
    for raw in frames:
        await feed.message_handler(raw, conn, time.time())
    elapsed = time.perf_counter() - started
    return {
        "frames": len(frames),
        "trades": count,
        "seconds": round(elapsed, 4),
        "frames_per_s": round(len(frames) / elapsed),
    }


async def redis_rate(cls: Any, conn: Any, frames: list[bytes], host: str, port: int, key: str) -> Result:
    stream = TradeStream(host=host, port=port, key=key, overflow="block")
    feed = offline_feed(cls, stream)
    started = time.perf_counter()
    async with asyncio.TaskGroup() as tg:
        stream.start_writer(tg, f"bench-{cls.id}", owner=feed)
        for raw in frames:
            await feed.message_handler(raw, conn, time.time())
        await stream.stop()  # the writer drains the queue, then exits
    elapsed = time.perf_counter() - started
    stats = stream.stats
    keys = [f"{key}-{cls.id}-{symbol}" for symbol in SYMBOLS]
    await stream.connect()
    await stream.conn.delete(*keys)
    await stream.close()
    return {
        "frames": len(frames),
        "written": stats.written,
        "dropped": stats.dropped_overflow + stats.dropped_failed,
        "seconds": round(elapsed, 4),
        "frames_per_s": round(len(frames) / elapsed),
    }


async def main(frames_dir: Path, host: str, port: int, prefix: str) -> Result:
    from importlib.metadata import version

    import cryptofeed  # noqa: F401  (the version is read from its metadata below)

    result: Result = {"version": version("cryptofeed"), "python": sys.version.split()[0]}
    for venue, (cls, conn) in VENUES.items():
        frames = (frames_dir / f"{venue}.jsonl").read_bytes().split(b"\n")
        result[venue] = {
            "parse": best([await parse_rate(cls, conn, frames) for _ in range(RUNS)]),
            "parse_redis": best(
                [await redis_rate(cls, conn, frames, host, port, f"{prefix}-trades") for _ in range(RUNS)]
            ),
        }
    return result


if __name__ == "__main__":
    directory, redis_host, redis_port, key_prefix = sys.argv[1:5]
    print(json.dumps(asyncio.run(main(Path(directory), redis_host, int(redis_port), key_prefix))))
