"""recompute candles|rollups --from --to [--exchange --symbol]: rebuild derived candles of a range
from the stored raw data, e.g. after a backfill healed a gap or a fix changed the derivation.

It reuses the live path's pure code: 1m bars are folded by `CandleBuilder` from the stored trades,
and rollups by `rollup` level by level from the stored finer bars (ROLLUP_CHAIN), so a recomputed
row equals the one the processor made. Rows are upserted on their identity, so a second run
changes nothing. `candles` rewrites the 1m bars of every minute holding stored trades, then the
rollups of the range; `rollups` only the rollups. A minute without stored trades keeps its bar:
retention drops trades long before their 1m candles. `hedges` re-derives each stored snapshot's
required short and drift from the inputs stored with it, by the monitor's `hedge_lines`.
`leaderboard` ranks each stored snapshot of the range again by the live job's code, from the trader
data stored now (services/processor/recompute_leaderboard.py).
"""
from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TextIO

import asyncpg
import msgspec

from services.processor.candles import ROLLUP_CHAIN, CandleBuilder, Pair, rollup
from services.processor.tables_analytics import CANDLES, merge
from shared.candles import INTERVAL_US, MINUTE_US, ZERO, bucket_start, candle_of
from shared.config import Settings, load_settings
from shared.db import DAY_US, create_pool
from shared.events import Candle, Trade
from shared.service import run_command
from shared.settings import TraderSettings

HOUR_US = INTERVAL_US["1h"]
NAMES = ("candles", "rollups", "leaderboard", "hedges")
PER_VENUE = ("candles", "rollups")  # the names --exchange and --symbol apply to
PAIRS_SQL = """
SELECT DISTINCT exchange, symbol FROM trades WHERE ts >= $1 AND ts < $2
  AND ($3::text IS NULL OR exchange = $3) AND ($4::text IS NULL OR symbol = $4)
UNION
SELECT DISTINCT exchange, symbol FROM candles WHERE interval = '1m' AND source = 'derived'
  AND ts >= $1 AND ts < $2 AND ($3::text IS NULL OR exchange = $3) AND ($4::text IS NULL OR symbol = $4)
ORDER BY 1, 2
"""
# The newest time the live builder would have seen: the newest stored trade, or (when retention
# dropped the trades) the end of the newest closed 1m bar. It decides each bar's `closed`.
LATEST_SQL = """
SELECT greatest(
  (SELECT max(ts) FROM trades WHERE exchange = $1 AND symbol = $2),
  (SELECT max(ts) + 60000000 FROM candles WHERE exchange = $1 AND symbol = $2 AND interval = '1m'
     AND source = 'derived' AND closed))
"""
PAIR_TRADES_SQL = """
SELECT exchange, symbol, raw_symbol, trade_id, price, size, side, ts, recv_ts FROM trades
WHERE exchange = $1 AND symbol = $2 AND ts >= $3 AND ts < $4 ORDER BY ts, trade_id
"""
PAIR_BARS_SQL = """
SELECT exchange, symbol, raw_symbol, interval, ts, open, high, low, close, volume, trades, buy_volume,
       closed, recv_ts
FROM candles WHERE exchange = $1 AND symbol = $2 AND interval = $3 AND source = 'derived'
  AND ts >= $4 AND ts < $5
"""

HEDGE_ROWS_SQL = """
SELECT pool, asset, ts, source, pool_asset, held_units, per_unit, hedge, price FROM hedge_snapshots
WHERE ts >= $1 AND ts < $2 ORDER BY ts, pool, asset
"""
HEDGE_UPDATE_SQL = """
UPDATE hedge_snapshots SET required = $4, drift = $5, drift_pct = $6, drift_usd = $7
WHERE pool = $1 AND asset = $2 AND ts = $3
"""
HEDGE_BATCH = 500


class BadRange(ValueError):
    """A range or name the command cannot work on; the message says why."""


def parse_time(text: str) -> int:
    """µs since the epoch: an integer (µs), or an ISO 8601 time (UTC unless it names an offset)."""
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise BadRange(f"{text!r} is neither µs since the epoch nor an ISO 8601 time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp()) * 1_000_000 + moment.microsecond


def minute_range(start: int, end: int) -> tuple[int, int]:
    """[start, end) widened to whole minutes; refuses an empty or reversed range."""
    if end <= start:
        raise BadRange(f"--to ({end}) must be after --from ({start})")
    return bucket_start(start, "1m"), -(-end // MINUTE_US) * MINUTE_US


def pieces_of(start: int, end: int, length: int) -> list[tuple[int, int]]:
    """[start, end) cut on multiples of `length` µs (UTC aligned): a day piece holds whole buckets
    of every interval; an hour piece bounds the trades held in memory at once."""
    pieces = []
    edge = start - start % length
    while edge < end:
        pieces.append((max(start, edge), min(end, edge + length)))
        edge += length
    return pieces


def _clock(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


@dataclass
class ProgressBar:
    """A plain text bar on one line, rewritten in place: done/total, a rate and an ETA."""

    label: str
    total: int
    unit: str
    stream: TextIO = sys.stderr
    width: int = 30
    now: Callable[[], float] = time.monotonic
    done: int = 0

    def __post_init__(self) -> None:
        self.started = self.now()

    def line(self) -> str:
        elapsed = max(self.now() - self.started, 1e-9)
        rate = self.done / elapsed
        left = self.total - self.done
        eta = _clock(left / rate) if rate > 0 else ("0:00:00" if left <= 0 else "?")
        filled = self.width * self.done // self.total if self.total else self.width
        bar = "#" * filled + "." * (self.width - filled)
        return (f"{self.label} [{bar}] {self.done}/{self.total} {self.unit} "
                f"{rate:.1f} {self.unit}/s ETA {eta}")

    def advance(self, step: int = 1) -> None:
        self.done += step
        self.stream.write("\r" + self.line())
        self.stream.flush()

    def finish(self) -> None:
        self.stream.write("\r" + self.line() + "\n")
        self.stream.flush()


@dataclass(frozen=True)
class Scope:
    """What to recompute: [start, end) in µs, on whole minutes, maybe one exchange and/or symbol."""

    start: int
    end: int
    exchange: str | None = None
    symbol: str | None = None


async def pairs_of(conn: asyncpg.Connection, scope: Scope) -> list[Pair]:
    rows = await conn.fetch(PAIRS_SQL, scope.start, scope.end, scope.exchange, scope.symbol)
    return [(row["exchange"], row["symbol"]) for row in rows]


async def latest_of(conn: asyncpg.Connection, pair: Pair) -> int | None:
    value: int | None = await conn.fetchval(LATEST_SQL, *pair)
    return value


def minute_bars(trades: list[Trade], latest: int | None) -> list[Candle]:
    """The live builder's 1m bars of these trades, `closed` as the live path finally stored it."""
    builder = CandleBuilder(memory_minutes=24 * 60)
    builder.fold(trades)
    until = latest if latest is not None else -(2**63)
    return [msgspec.structs.replace(bar, closed=bar.ts + MINUTE_US <= until) for bar in builder.dirty()]


async def recompute_minutes(conn: asyncpg.Connection, pair: Pair, start: int, end: int,
                            latest: int | None) -> int:
    """Rewrite the 1m bars of [start, end) from the stored trades; returns how many bars."""
    rows = await conn.fetch(PAIR_TRADES_SQL, *pair, start, end)
    bars = minute_bars([Trade(**dict(row)) for row in rows], latest)
    async with conn.transaction():
        await merge(conn, CANDLES, bars)
    return len(bars)


async def recompute_rollups(conn: asyncpg.Connection, pair: Pair, start: int, end: int,
                            latest: int | None) -> int:
    """Rewrite every rollup bucket meeting [start, end) (inside one day), level by level from the
    stored finer bars as the live path does; returns how many bars."""
    day = start - start % DAY_US
    marks = None if latest is None else {pair: latest}
    written = 0
    async with conn.transaction():
        for interval, finer in ROLLUP_CHAIN:
            rows = await conn.fetch(PAIR_BARS_SQL, *pair, finer, day, day + DAY_US)
            length = INTERVAL_US[interval]
            bars = [bar for bar in rollup([candle_of(row) for row in rows], interval, marks or {})
                    if bar.ts < end and bar.ts + length > start]
            await merge(conn, CANDLES, bars)
            written += len(bars)
    return written


async def run_recompute(pool: asyncpg.Pool, name: str, scope: Scope, stream: TextIO = sys.stderr,
                        traders: TraderSettings | None = None) -> int:
    """Recompute `name` over the scope with a progress bar per phase; returns the rows written.
    `traders`: the leaderboard's weights and minimums (the defaults when not given)."""
    if name == "hedges":
        return await recompute_hedges(pool, scope, stream)
    if name == "leaderboard":
        from services.processor.leaderboard_rank import Minimums, score_weights
        from services.processor.recompute_leaderboard import recompute_leaderboard

        config = traders or TraderSettings()
        return await recompute_leaderboard(pool, scope, score_weights(config.weights), Minimums.of(config),
                                           stream)
    phases = [recompute_minutes, recompute_rollups] if name == "candles" else [recompute_rollups]
    written = 0
    async with pool.acquire() as conn:
        pairs = await pairs_of(conn, scope)
        latest = {pair: await latest_of(conn, pair) for pair in pairs}
        for phase in phases:
            minutes = phase is recompute_minutes
            pieces = pieces_of(scope.start, scope.end, HOUR_US if minutes else DAY_US)
            bar = ProgressBar("1m candles" if minutes else "rollups", len(pairs) * len(pieces),
                              "pair-hours" if minutes else "pair-days", stream)
            for pair in pairs:
                for start, end in pieces:
                    written += await phase(conn, pair, start, end, latest[pair])
                    bar.advance()
            bar.finish()
    return written


def hedge_figures(row: Mapping[str, Any]) -> tuple[object, ...]:
    """A stored snapshot's derived figures again from its stored inputs, by the monitor's own
    `hedge_lines`: (pool, asset, ts, required, drift, drift_pct, drift_usd)."""
    from services.general.hedges import hedge_lines  # the general service's code: only when asked
    from services.general.pools import AssetExposure, PoolExposure
    from shared.settings import HedgePool

    pool = HedgePool(source=row["source"], held=row["held_units"], assets={row["pool_asset"]: row["asset"]})
    exposure = PoolExposure([AssetExposure(row["pool_asset"], row["per_unit"], row["price"])], supply=ZERO)
    (line,) = hedge_lines(row["pool"], pool, exposure, {row["asset"]: row["hedge"]}, {})
    return (row["pool"], row["asset"], row["ts"], line.required, line.drift, line.drift_pct, line.drift_usd)


async def recompute_hedges(pool: asyncpg.Pool, scope: Scope, stream: TextIO = sys.stderr) -> int:
    """Re-derive required, drift, drift % and drift USD of the snapshots in the range; returns how many."""
    async with pool.acquire() as conn:
        rows = await conn.fetch(HEDGE_ROWS_SQL, scope.start, scope.end)
        bar = ProgressBar("hedges", len(rows), "snapshots", stream)
        for i in range(0, len(rows), HEDGE_BATCH):
            batch = rows[i:i + HEDGE_BATCH]
            async with conn.transaction():
                await conn.executemany(HEDGE_UPDATE_SQL, [hedge_figures(row) for row in batch])
            bar.advance(len(batch))
        bar.finish()
    return len(rows)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m services.processor recompute",
        description="Rebuild derived data of [--from, --to) from the stored raw data; safe to run again. "
                    "candles: 1m bars from trades, then their rollups; rollups: 5m..1d from stored bars. "
                    "hedges: a snapshot's drift figures from its stored inputs. leaderboard: each stored "
                    "snapshot ranked again from the trader data stored now.")
    parser.add_argument("name", help="candles | rollups | leaderboard | hedges")
    parser.add_argument("--from", dest="start", required=True, help="ISO 8601 (UTC) or µs since the epoch")
    parser.add_argument("--to", dest="end", required=True, help="exclusive; ISO 8601 (UTC) or µs")
    parser.add_argument("--exchange", help="only this exchange, e.g. binance")
    parser.add_argument("--symbol", help="only this symbol, e.g. BTC-USDT-PERP")
    return parser


def scope_of(args: argparse.Namespace) -> Scope:
    """The checked scope of the command line (BadRange on a bad name or range)."""
    if args.name not in NAMES:
        raise BadRange(f"unknown name {args.name!r}: choose one of {', '.join(NAMES)}")
    if args.name not in PER_VENUE and (args.exchange or args.symbol):
        raise BadRange(f"{args.name} is not per venue: --exchange and --symbol do not apply")
    start, end = minute_range(parse_time(args.start), parse_time(args.end))
    return Scope(start, end, args.exchange, args.symbol)


async def _run(settings: Settings, name: str, scope: Scope) -> int:
    pool = await create_pool(settings)
    try:
        written = await run_recompute(pool, name, scope, traders=settings.traders)
    finally:
        await pool.close()
    print(f"recompute {name}: {written} rows written over [{scope.start}, {scope.end})")
    return 0


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        scope = scope_of(args)
    except BadRange as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return run_command(lambda: _run(load_settings(), args.name, scope))
