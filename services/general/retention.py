"""Retention and downsampling: raw trades kept `retention_trades_days` (whole daily partitions
dropped, never row by row), 1m candles kept `retention_candles_1m_days`, hourly candles
forever. Before a day of 1m candles goes, its hours are rolled up into 1h candles (source
'derived') where none exists, and only 1m rows whose hour has a 1h candle are deleted, so
no history is lost even if the processor never made the hourly bar.

Each step reports a progress line (partition dropped, day of candles rolled up).
"""
from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import asyncpg

from shared import metrics
from shared.config import Settings
from shared.db import DAY_US, day_start_us

log = logging.getLogger(__name__)
Progress = Callable[[str], None]
HOUR_US = 3_600_000_000
PARTITION = re.compile(r"^trades_p(?P<day>\d{8})$")
IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")
PARTITIONS_SQL = """
SELECT c.relname FROM pg_inherits i
JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
JOIN pg_namespace n ON n.oid = p.relnamespace
WHERE n.nspname = $1 AND p.relname = 'trades' ORDER BY c.relname
"""
LOCK_TIMEOUT_SQL = "SET LOCAL lock_timeout = '5s'"  # never hold up the processor's inserts for long
DROP_PARTITION_SQL = 'DROP TABLE "{schema}"."{partition}"'  # both checked against IDENTIFIER/PARTITION
TABLE_EXISTS_SQL = "SELECT to_regclass(format('%I.%I', $1::text, $2::text)) IS NOT NULL"
# rows that landed outside any daily partition
DEFAULT_DELETE_SQL = 'DELETE FROM "{schema}".trades_default WHERE ts < $1'
CANDLE_COLUMNS_SQL = """
SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'candles'
"""
OLDEST_1M_SQL = """SELECT min(ts) FROM "{schema}".candles WHERE "interval" = '1m'"""
# column -> (aggregate over the hour's 1m rows or None, value inserted for the 1h row)
ROLLUP_COLUMNS = {
    "exchange": (None, "h.exchange"), "symbol": (None, "h.symbol"), "interval": (None, "'1h'"),
    "ts": (None, "h.hour"), "open": ("(array_agg(open ORDER BY ts))[1]", "h.open"),
    "high": ("max(high)", "h.high"), "low": ("min(low)", "h.low"),
    "close": ("(array_agg(close ORDER BY ts DESC))[1]", "h.close"), "volume": ("sum(volume)", "h.volume"),
    "raw_symbol": ("max(raw_symbol)", "h.raw_symbol"), "trades": ("sum(trades)", "h.trades"),
    "buy_volume": ("sum(buy_volume)", "h.buy_volume"), "recv_ts": ("max(recv_ts)", "h.recv_ts"),
    "closed": (None, "true"), "source": (None, "h.source"),
}
REQUIRED_COLUMNS = frozenset({"exchange", "symbol", "interval", "ts", "open", "high", "low", "close",
                              "volume"})


@dataclass
class RetentionReport:
    dropped_partitions: list[str] = field(default_factory=list)
    default_rows_deleted: int = 0
    hours_rolled_up: int = 0
    candles_deleted: int = 0
    skipped: list[str] = field(default_factory=list)


def cutoff_day(today: date, days: int) -> date:
    """The oldest day kept: today and the `days` days before it."""
    return today - timedelta(days=days)


def expired_partitions(names: list[str], cutoff: date) -> list[str]:
    """trades_pYYYYMMDD partitions whose whole day is before the cutoff, oldest first."""
    expired = []
    for name in sorted(names):
        match = PARTITION.match(name)
        if match and datetime.strptime(match["day"], "%Y%m%d").date() < cutoff:
            expired.append(name)
    return expired


def rollup_sql(schema: str, columns: set[str]) -> str:
    """INSERT the missing 1h candles of [$1, $2) from its 1m candles; composed from constants only."""
    by_source = "source" in columns
    keys = "exchange, symbol" + (", source" if by_source else "")
    used = [col for col in ROLLUP_COLUMNS if col in columns]
    aggregates = ", ".join(f"{ROLLUP_COLUMNS[c][0]} AS {c}" for c in used if ROLLUP_COLUMNS[c][0])
    same_source = " AND c.source = h.source" if by_source else ""
    names = ", ".join(f'"{c}"' for c in used)
    return (
        f'WITH h AS (SELECT {keys}, ts - ts % {HOUR_US} AS hour, {aggregates} FROM "{schema}".candles '
        f"WHERE \"interval\" = '1m' AND ts >= $1 AND ts < $2 GROUP BY {keys}, ts - ts % {HOUR_US}) "
        f'INSERT INTO "{schema}".candles ({names}) '
        f"SELECT {', '.join(ROLLUP_COLUMNS[c][1] for c in used)} FROM h WHERE NOT EXISTS ("
        f'SELECT 1 FROM "{schema}".candles c WHERE c."interval" = \'1h\' AND c.exchange = h.exchange '
        f"AND c.symbol = h.symbol AND c.ts = h.hour{same_source}) ON CONFLICT DO NOTHING"
    )


def delete_1m_sql(schema: str, by_source: bool) -> str:
    """DELETE the 1m candles of [$1, $2) whose hour has a 1h candle (of the same source)."""
    same_source = " AND h.source = m.source" if by_source else ""
    return (
        f'DELETE FROM "{schema}".candles m WHERE m."interval" = \'1m\' AND m.ts >= $1 AND m.ts < $2 '
        f'AND EXISTS (SELECT 1 FROM "{schema}".candles h WHERE h."interval" = \'1h\' '
        f"AND h.exchange = m.exchange AND h.symbol = m.symbol "
        f"AND h.ts = m.ts - m.ts % {HOUR_US}{same_source})"
    )


async def drop_old_trades(conn: asyncpg.Connection, schema: str, days: int, today: date,
                          report: RetentionReport, progress: Progress) -> None:
    """Drop whole expired daily partitions, then delete expired strays from trades_default."""
    cutoff = cutoff_day(today, days)
    names = [row["relname"] for row in await conn.fetch(PARTITIONS_SQL, schema)]
    expired = expired_partitions(names, cutoff)
    for index, name in enumerate(expired, 1):
        try:
            async with conn.transaction():
                await conn.execute(LOCK_TIMEOUT_SQL)
                await conn.execute(DROP_PARTITION_SQL.format(schema=schema, partition=name))
        except asyncpg.LockNotAvailableError:
            report.skipped.append(name)
            progress(f"trades: {name} busy, left for the next run ({index}/{len(expired)})")
            continue
        report.dropped_partitions.append(name)
        metrics.RETENTION_DROPPED.labels("trades_partition").inc()
        progress(f"trades: dropped {name} ({index}/{len(expired)}, keeping from {cutoff.isoformat()})")
    if "trades_default" in names:
        status = await conn.execute(DEFAULT_DELETE_SQL.format(schema=schema), day_start_us(_midnight(cutoff)))
        report.default_rows_deleted = int(status.split()[-1])
        progress(f"trades: {report.default_rows_deleted} stray rows before {cutoff.isoformat()} "
                 "deleted from trades_default")


async def downsample_candles(conn: asyncpg.Connection, schema: str, days: int, today: date,
                             report: RetentionReport, progress: Progress) -> None:
    """Day by day, oldest first: roll 1m up into missing 1h candles, then delete the covered 1m rows."""
    if not await conn.fetchval(TABLE_EXISTS_SQL, schema, "candles"):
        progress("candles: no candles table yet, nothing to downsample")
        return
    columns = {row["column_name"] for row in await conn.fetch(CANDLE_COLUMNS_SQL, schema)}
    if not REQUIRED_COLUMNS <= columns:
        report.skipped.append("candles")
        progress(f"candles: columns {sorted(REQUIRED_COLUMNS - columns)} missing, 1m candles left in place")
        return
    oldest = await conn.fetchval(OLDEST_1M_SQL.format(schema=schema))
    cutoff_us = day_start_us(_midnight(cutoff_day(today, days)))
    if oldest is None or oldest >= cutoff_us:
        progress("candles: no 1m candles past retention")
        return
    insert, delete = rollup_sql(schema, columns), delete_1m_sql(schema, "source" in columns)
    start = oldest - oldest % DAY_US
    total = (cutoff_us - start + DAY_US - 1) // DAY_US
    for index, day_us in enumerate(range(start, cutoff_us, DAY_US), 1):
        async with conn.transaction():
            hours = int((await conn.execute(insert, day_us, day_us + DAY_US)).split()[-1])
            deleted = int((await conn.execute(delete, day_us, day_us + DAY_US)).split()[-1])
        report.hours_rolled_up += hours
        report.candles_deleted += deleted
        metrics.RETENTION_DROPPED.labels("candles_1m").inc(deleted)
        day = datetime.fromtimestamp(day_us / 1e6, UTC).date().isoformat()
        progress(f"candles: {day} rolled up {hours} hourly, deleted {deleted} 1m ({index}/{total})")


async def apply_retention(conn: asyncpg.Connection, settings: Settings, progress: Progress | None = None,
                          today: date | None = None) -> RetentionReport:
    """Trades first (cheap, frees the most), then candles."""
    schema = settings.db_schema
    if not IDENTIFIER.match(schema):
        raise ValueError(f"refusing schema name {schema!r}")
    say = progress or (lambda line: log.info(line))
    today = today or datetime.now(UTC).date()
    report = RetentionReport()
    await drop_old_trades(conn, schema, settings.retention.trades_days, today, report, say)
    await downsample_candles(conn, schema, settings.retention.candles_1m_days, today, report, say)
    return report


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)
